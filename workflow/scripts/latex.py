"""Plain text for LaTeX tables: the characters LaTeX reads as commands escaped (a caption's "95%" would comment out
the rest of its line, a task's "3s_vs_4z" would be a subscript outside math mode)."""
from __future__ import annotations

_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
            "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def text(s: str) -> str:
    return "".join(_SPECIAL.get(c, c) for c in str(s))
