"""One experiment's figure (DM² paper Figs. 2/4, 5, 6, 7, the state-action ablation, MAGAIL, MPE): one panel per
task, the IQM of the task's normalised score (SMAX: test win rate) of every arm with its 95% CI band, and dashed
lines at the win rate of the demonstrations the arms learn from (the sampled episodes' win rate), each in the colour
of the first arm that uses them, and long-dashed lines at the greedy score of the expert that teaches an arm (CESMA).
A score without wins (MPE: test return) is drawn normalised, with its fixed bounds
(random policy 0, reference 1) as lines and the raw score on the right-hand axis.

    python workflow/scripts/plot_experiment.py --title "DM² against the baselines" --out figures/main_results.pdf \\
        results/experiments/main_results/smax/*/summary.csv
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from plotting import band, colors_for, save  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--title", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("summaries", type=Path, nargs="+", help="summary.csv per task (curves.csv next to it)")
    args = parser.parse_args(argv)
    tables = [(pd.read_csv(p), pd.read_csv(p.parent / "curves.csv")) for p in args.summaries]
    colors = colors_for(label for summary, _ in tables for label in summary.label)
    n = len(tables)
    cols = min(n, 3)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.4 * rows), squeeze=False)
    demos_drawn = bounds_drawn = experts_drawn = False
    for ax, (summary, curves) in zip(axes.flat, tables):
        drawn, experts = set(), set()
        for row in summary.itertuples():
            band(ax, curves[curves.label == row.label], colors[row.label], row.label)
            if (row.demo != "none" and row.demo not in drawn and np.isfinite(row.demo_sampled_win_rate)
                    and row.metric == "test_win_rate"):
                drawn.add(row.demo)
                ax.axhline(row.demo_sampled_win_rate, color=colors[row.label], ls="--", lw=1, alpha=0.8)
            expert_score = getattr(row, "expert_score", np.nan)
            if row.demo not in experts and np.isfinite(expert_score):  # the level of the expert that taught it
                experts.add(row.demo)
                ax.axhline(expert_score, color=colors[row.label], ls=(0, (8, 2)), lw=1.6, alpha=0.9)
        ax.set_title(f"{summary.task.iloc[0]} ({int(summary.runs.min())} runs per arm)", fontsize=10)
        ax.set_xlabel("environment steps (millions)")
        metric = summary.metric.iloc[0]
        ax.set_ylabel(("test win rate" if metric == "test_win_rate" else f"normalised {metric}")
                      + " (IQM, 95% CI)", fontsize=9)
        if metric == "test_win_rate":
            ax.set_ylim(-0.02, 1.02)
        else:  # a score without wins: the fixed bounds drawn, and the raw score on the right-hand axis
            low, high = summary.score_random.iloc[0], summary.score_reference.iloc[0]
            ax.axhline(0.0, color="black", ls=":", lw=1)
            ax.axhline(1.0, color="black", ls="-.", lw=1)
            right = ax.secondary_yaxis("right", functions=(lambda x: low + x * (high - low),
                                                           lambda y: (y - low) / (high - low)))
            right.set_ylabel(f"{metric} (raw)", fontsize=9)
            bounds_drawn = True
        demos_drawn |= bool(drawn)
        experts_drawn |= bool(experts)
        ax.grid(alpha=0.3)
    for ax in axes.flat[n:]:
        ax.axis("off")
    handles, labels = {}, []
    for ax in axes.flat[:n]:
        for h, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, h)
    labels = list(handles)
    handles = list(handles.values())
    if demos_drawn:
        handles.append(plt.Line2D([], [], color="grey", ls="--"))
        labels.append("win rate of the demonstrations (colour of the arm using them)")
    if experts_drawn:
        handles.append(plt.Line2D([], [], color="grey", ls=(0, (8, 2)), lw=1.6))
        labels.append("greedy score of the expert that teaches the arm (its colour)")
    if bounds_drawn:
        handles += [plt.Line2D([], [], color="black", ls=":"), plt.Line2D([], [], color="black", ls="-.")]
        labels += ["uniformly random policy (fixed bound, normalised 0)", "reference score (fixed bound, normalised 1)"]
    fig.suptitle(args.title, fontsize=11)
    fig.legend(handles, labels, loc="upper center", ncol=2, fontsize=8, bbox_to_anchor=(0.5, 0.0))
    fig.tight_layout()
    save(fig, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
