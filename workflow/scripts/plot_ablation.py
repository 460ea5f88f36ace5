"""The DM² ablation figures from the aggregated tables (aggregate_runs.py):
- ablation.pdf: one panel per demonstration quality; IQM test win rate with 95% CI bands for DM² with each of the
  four demonstration styles and for IPPO; dashed lines: the demonstrators' greedy win rates (paper Fig. 3).
- ablation_summary.pdf: IQM of the final win rate and of the area under the curve with CIs, and the probability of
  improvement over IPPO, for every arm.

    python workflow/scripts/plot_ablation.py --tables results/experiments/ablation/smax/3m --task smax/3m --arm dm2 \
        --baseline ippo --out figures/ablation.pdf --summary-out figures/ablation_summary.pdf
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from algorithms import registry  # noqa: E402
from algorithms.demos import STYLE_NAMES  # noqa: E402
from plotting import band, save  # noqa: E402

COLORS = {"cotrained_concurrent": "#1b9e77", "cotrained_nonconcurrent": "#7570b3", "indep_concurrent": "#d95f02",
          "indep_nonconcurrent": "#e7298a"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tables", type=Path, required=True)
    parser.add_argument("--task", required=True)
    parser.add_argument("--arm", required=True, help="the arm run with every style x checkpoint (dm2)")
    parser.add_argument("--baseline", required=True, help="the arm it is compared with (ippo)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--summary-out", type=Path, required=True)
    args = parser.parse_args(argv)
    summary = pd.read_csv(args.tables / "summary.csv")
    curves = pd.read_csv(args.tables / "curves.csv")
    dm2 = summary[summary.arm == args.arm].rename(columns={"demo_style": "style", "demo_step": "step"})
    dm2["step"] = dm2.step.astype(int)
    steps = sorted(dm2.step.unique())
    runs = int(summary.runs.min())

    fig, axes = plt.subplots(1, len(steps), figsize=(5.2 * len(steps), 3.8), squeeze=False, sharey=True)
    for ax, step in zip(axes[0], steps):
        base = summary[summary.arm == args.baseline].label.iloc[0]
        band(ax, curves[curves.label == base], "black", base)
        for row in dm2[dm2.step == step].itertuples():
            color = COLORS.get(row.style, None)
            band(ax, curves[curves.label == row.label], color,
                 f"{registry.display(args.arm)} ({STYLE_NAMES.get(row.style, row.style)})")
            ax.axhline(row.demo_expert_greedy_win_rate, color=color, ls="--", lw=1, alpha=0.8)
        at = f"{step / 1e6:g}M" if step >= 1e6 else f"{step / 1e3:g}k"
        ax.set_title(f"{args.task}: demonstrations from experts at {at} steps", fontsize=10)
        ax.set_xlabel("environment steps (millions)")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"test win rate (IQM of {runs} runs, 95% CI)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    handles.append(plt.Line2D([], [], color="grey", ls="--"))
    labels.append("demonstrators' greedy win rate")
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, bbox_to_anchor=(0.5, -0.12))
    save(fig, args.out)

    order = summary.iloc[::-1]
    fig, axes = plt.subplots(1, 3, figsize=(15, 0.45 * len(summary) + 1.5), sharey=True)
    y = range(len(order))
    for ax, (col, lo, hi, title) in zip(axes, [
            ("iqm_final_score", "final_ci_low", "final_ci_high", "final test win rate (IQM)"),
            ("iqm_auc", "auc_ci_low", "auc_ci_high", "area under the win-rate curve (IQM)"),
            ("poi_vs_baseline", "poi_ci_low", "poi_ci_high", f"P(arm > {registry.display(args.baseline)})")]):
        ax.errorbar(order[col], y, xerr=[order[col] - order[lo], order[hi] - order[col]], fmt="o", capsize=3)
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3, axis="x")
        if col == "poi_vs_baseline":
            ax.axvline(0.5, color="grey", ls=":")
            ax.set_xlim(-0.02, 1.02)
    axes[0].set_yticks(list(y), order.label, fontsize=8)
    fig.suptitle(f"{args.task}: {runs} runs per arm, 95% stratified-bootstrap CIs", fontsize=10)
    fig.tight_layout()
    save(fig, args.summary_out)
    print(f"wrote {args.out} and {args.summary_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
