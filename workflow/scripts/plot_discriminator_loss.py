"""The discriminator-loss curves of the imitation arms (MILD²'s Fig. 5): per task, each arm's discriminator loss
(``disc_loss``: the loss it minimises, BCE for MAGAIL, the negated Eq. 6 objective for MILD² and MILD²-GD) of the
update before each evaluation (as training logs it) against env steps, mean over seeds with the seeds' range as a
band; one row per loss, as their scales differ.

    python workflow/scripts/plot_discriminator_loss.py --out figures/mild2_dloss.pdf \\
        results/arms/smax/3m/{magail_mat,mild2_gd,mild2}/demos-*/seed*
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from aggregate_runs import label_of  # noqa: E402
from plotting import colors_for, legend_below, save  # noqa: E402


def read_updates(run_dirs: list[Path], column: str) -> pd.DataFrame:
    """Every logged row (one per evaluation) of every run: task, label, loss name, seed, env steps, ``column``."""
    import yaml

    frames = []
    for run in run_dirs:
        meta = yaml.safe_load((run / "config.yaml").read_text())
        df = pd.read_csv(run / "metrics.csv")
        if column not in df.columns:
            raise ValueError(f"{run}: metrics.csv has no {column!r} column (not an imitation arm, or a run made "
                             "before the column existed: train it again)")
        cfg = meta["config"]
        frames.append(pd.DataFrame({"task": cfg["task"], "label": label_of(meta["arm"], run.parent.name),
                                    "loss": cfg.get("gail_loss", "bce"), "seed": cfg["seed"],
                                    "env_steps": df.env_steps, column: df[column]}).dropna())
    return pd.concat(frames, ignore_index=True)


def draw_over_training(ax, data: pd.DataFrame, column: str, colors: dict) -> None:
    """Per label, the mean over seeds at each logged row (seeds aligned by row) and the seeds' range."""
    for label, g in data.groupby("label", sort=False):
        per_seed = [s.sort_values("env_steps").reset_index(drop=True) for _, s in g.groupby("seed")]
        n = min(len(s) for s in per_seed)
        values = np.stack([s[column].to_numpy()[:n] for s in per_seed])
        steps = np.median(np.stack([s.env_steps.to_numpy()[:n] for s in per_seed]), 0) / 1e6
        ax.plot(steps, values.mean(0), color=colors[label], lw=1.6, label=f"{label} ({len(per_seed)} seeds)")
        ax.fill_between(steps, values.min(0), values.max(0), color=colors[label], alpha=0.18, lw=0)
    ax.set_xlabel("environment steps (millions)")
    ax.grid(alpha=0.3)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("runs", type=Path, nargs="+", help="run folders of imitation arms (config.yaml, metrics.csv)")
    args = parser.parse_args(argv)
    data = read_updates(args.runs, "disc_loss")
    colors = colors_for(data.label)
    tasks = list(dict.fromkeys(data.task))
    losses = list(dict.fromkeys(data.loss))  # one row per loss: their scales are not comparable
    fig, axes = plt.subplots(len(losses), len(tasks), figsize=(4.8 * len(tasks), 3.2 * len(losses)), squeeze=False)
    for i, loss in enumerate(losses):
        for j, task in enumerate(tasks):
            ax = axes[i, j]
            draw_over_training(ax, data[(data.task == task) & (data.loss == loss)], "disc_loss", colors)
            ax.set_title(f"{task}: {'BCE' if loss == 'bce' else 'Wasserstein (−Eq. 6)'} discriminators", fontsize=10)
            ax.set_ylabel("discriminator loss", fontsize=9)
    fig.suptitle("discriminator loss over training (mean over seeds, band: the seeds' range)", fontsize=11)
    legend_below(fig, axes.flat)
    fig.tight_layout()
    save(fig, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
