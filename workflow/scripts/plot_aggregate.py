"""The cross-task figure (aggregate_across_tasks.py): IQM and optimality gap of the final normalised score with 95%
stratified-bootstrap CIs, the probability of improvement over the baseline arm, and performance profiles (the
fraction of runs whose final score exceeds tau, with CI bands). Scores are normalised by each task's fixed bounds
(SMAX: the win rate itself).

    python workflow/scripts/plot_aggregate.py --summary results/experiments/aggregate/summary.csv \\
        --profiles results/experiments/aggregate/profiles.csv --tasks smax/3m smax/3s_vs_4z --baseline ippo --out figures/aggregate.pdf
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from plotting import colors_for, save  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--summary", type=Path, required=True)
    parser.add_argument("--profiles", type=Path, required=True)
    parser.add_argument("--tasks", nargs="+", required=True)
    parser.add_argument("--baseline", required=True, help="the arm of the probability of improvement, e.g. ippo")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    summary = pd.read_csv(args.summary)
    profiles = pd.read_csv(args.profiles)
    colors = colors_for(summary.label)
    baseline = summary[summary.arm == args.baseline].label.iloc[0]
    order = summary.iloc[::-1]
    height = 0.32 * len(summary) + 1.2
    fig = plt.figure(figsize=(15, height + 3.6))
    grid = fig.add_gridspec(2, 3, height_ratios=[height, 3.4])
    y = list(range(len(order)))
    for k, (col, title) in enumerate([("iqm", "IQM of the final normalised score"),
                                      ("optimality_gap", "optimality gap (lower is better)"),
                                      ("poi_vs_baseline", f"P(arm > {baseline})")]):
        ax = fig.add_subplot(grid[0, k])
        lo, hi = ("poi_ci_low", "poi_ci_high") if col == "poi_vs_baseline" else (f"{col}_ci_low", f"{col}_ci_high")
        for yi, row in zip(y, order.itertuples()):
            value = getattr(row, col)
            if pd.isna(value):
                continue
            ax.errorbar(value, yi, xerr=[[value - getattr(row, lo)], [getattr(row, hi) - value]], fmt="o",
                        color=colors[row.label], capsize=3)
        ax.set_yticks(y, order.label if k == 0 else [""] * len(y), fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.set_xlim(min(-0.02, order[lo].min() - 0.02), max(1.02, order[hi].max() + 0.02))  # MPE may leave [0, 1]
        ax.grid(alpha=0.3, axis="x")
        if col == "poi_vs_baseline":
            ax.axvline(0.5, color="grey", ls=":")
    ax = fig.add_subplot(grid[1, :])
    for label, g in profiles.groupby("label", sort=False):
        ax.plot(g.tau, g.fraction, color=colors[label], label=label, lw=1.6)
        ax.fill_between(g.tau, g.ci_low, g.ci_high, color=colors[label], alpha=0.15, lw=0)
    ax.set_xlabel("final normalised score tau (SMAX: test win rate)")
    ax.set_ylabel("fraction of runs with score > tau")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("performance profiles", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="upper right")
    fig.suptitle(f"Across {len(args.tasks)} tasks ({', '.join(args.tasks)}), "
                 f"{int(summary.runs_per_task.min())} runs per arm and task, 95% stratified-bootstrap CIs",
                 fontsize=11)
    fig.tight_layout()
    save(fig, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
