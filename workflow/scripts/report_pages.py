"""Pages of the workflow's report (snakemake --report): a CSV table as a standalone HTML page, and the software
versions that computed the results. Usage:
    python workflow/scripts/report_pages.py table --title T --csv results/tables/results.csv --out page.html
    python workflow/scripts/report_pages.py versions --out page.html
"""
from __future__ import annotations

import argparse
import html
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from algorithms.common.runio import atomic_write_text  # noqa: E402

PACKAGES = ["marlbench", "torch", "jax", "jaxlib", "jaxmarl", "numpy", "pandas", "scipy", "rliable", "arch",
            "matplotlib", "snakemake", "snakemake-executor-plugin-slurm"]
STYLE = ("body{font-family:sans-serif;margin:1.5em} table{border-collapse:collapse;font-size:13px} "
         "td,th{border:1px solid #bbb;padding:3px 8px;text-align:left} th{background:#eee}")


def page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h2>{html.escape(title)}</h2>{body}</body></html>\n")


def versions() -> pd.DataFrame:
    rows = [("python", platform.python_version()), ("platform", platform.platform()),
            ("processor", platform.processor() or platform.machine())]
    for name in PACKAGES:
        try:
            rows.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            rows.append((name, "not installed"))
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).parent, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, cwd=Path(__file__).parent, timeout=10).stdout.strip()
        rows.append(("git commit", (commit + (" (with uncommitted changes)" if dirty else "")) or "not a git checkout"))
    except (OSError, subprocess.SubprocessError):
        rows.append(("git commit", "git not available"))
    return pd.DataFrame(rows, columns=["software", "version"])


def provenance() -> str:
    """The short provenance every table carries: the git commit and the versions of the libraries that computed
    it (torch, jax, jaxmarl, rliable)."""
    soft = dict(versions().itertuples(index=False))
    return ", ".join(f"{name} {soft[name]}" for name in ("git commit", "torch", "jax", "jaxmarl", "rliable"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=["table", "versions"])
    parser.add_argument("--title", default="software versions")
    parser.add_argument("--csv", type=Path, help="the table (kind table)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.kind == "table":
        if args.csv is None:
            parser.error("kind table needs --csv")
        df = pd.read_csv(args.csv)
    else:
        df = versions()
    body = df.to_html(index=False, na_rep="", border=0, float_format=lambda x: f"{x:.3f}")
    atomic_write_text(args.out, page(args.title, body))
    return 0


if __name__ == "__main__":
    sys.exit(main())
