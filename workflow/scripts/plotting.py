"""What the figure scripts share: PDF output written atomically, CI bands, one colour per arm."""
from __future__ import annotations

import io
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from algorithms.common.runio import atomic_write_bytes  # noqa: E402

# one colour per label, in order of first appearance (Okabe-Ito, then Dark2), so arms keep their colour across panels
PALETTE = ["#000000", "#E69F00", "#56B4E9", "#009E73", "#D55E00", "#0072B2", "#CC79A7", "#F0E442", "#1b9e77",
           "#7570b3", "#e7298a", "#66a61e"]


def colors_for(labels) -> dict[str, str]:
    return {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(dict.fromkeys(labels))}


def save(fig, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format=Path(path).suffix.lstrip(".") or "pdf", bbox_inches="tight")  # .png for a preview
    atomic_write_bytes(path, buf.getvalue())
    plt.close(fig)


def band(ax, curve, color, label, **kw) -> None:
    """An IQM curve with its CI band (curves.csv rows of one label). An arm trained without env steps (BC: one
    evaluation, at step 0) is its level: a dotted line across the axes with its CI as a horizontal band."""
    if len(curve) == 1 and float(curve.env_steps.iloc[0]) == 0:
        row = curve.iloc[0]
        ax.axhline(row.iqm_score, color=color, label=f"{label} (no env steps)", lw=1.8, ls=":", **kw)
        ax.axhspan(row.ci_low, row.ci_high, color=color, alpha=0.12, lw=0)
        return
    x = curve.env_steps / 1e6
    ax.plot(x, curve.iqm_score, color=color, label=label, lw=1.8, **kw)
    ax.fill_between(x, curve.ci_low, curve.ci_high, color=color, alpha=0.18, lw=0)


def legend_below(fig, axes, ncol: int = 2) -> None:
    """One legend for the figure, below it: every labelled line of ``axes``, each label once."""
    handles = {}
    for ax in axes:
        for h, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, h)
    fig.legend(list(handles.values()), list(handles), loc="upper center", ncol=ncol, fontsize=8,
               bbox_to_anchor=(0.5, 0.0))
