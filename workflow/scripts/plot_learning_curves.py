"""Plot greedy test win rate (or return, for tasks without a win condition) against env steps, one panel per task:
every seed as a thin line, their mean in bold. Run folders are read from the metrics.csv paths given.

    python workflow/scripts/plot_learning_curves.py --out figures/ippo_learning_curve.pdf results/ippo/smax/3m/seed*/metrics.csv
"""
from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from plotting import save  # noqa: E402


def read_run(metrics_path: Path) -> tuple[str, str, int, bool, pd.DataFrame]:
    run_dir = metrics_path.parent
    cfg_path = run_dir / "config.yaml"
    if not cfg_path.exists():
        raise FileNotFoundError(f"{cfg_path} is missing: {run_dir} is not a complete run folder")
    meta = yaml.safe_load(cfg_path.read_text())
    df = pd.read_csv(metrics_path)
    if df.empty:
        raise ValueError(f"{metrics_path} has no evaluation rows")
    return meta["config"]["task"], meta["algorithm"], meta["config"]["seed"], meta["task_spec"]["has_win"], df


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("metrics", type=Path, nargs="+")
    args = parser.parse_args(argv)
    runs = defaultdict(list)
    has_win = {}
    for path in args.metrics:
        task, algo, seed, win, df = read_run(path)
        runs[(task, algo)].append((seed, df))
        has_win[task] = win
    tasks = sorted({t for t, _ in runs})
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.2), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        metric = "test_win_rate" if has_win[task] else "test_return"
        for (t, algo), seeds in sorted(runs.items()):
            if t != task:
                continue
            color = None
            for seed, df in seeds:
                (line,) = ax.plot(df.env_steps / 1e6, df[metric], lw=0.8, alpha=0.4, color=color)
                color = line.get_color()
            # Seeds evaluate at slightly different steps (first update past each interval): average on a common grid.
            end = min(df.env_steps.max() for _, df in seeds)
            steps = np.linspace(0, end, 101)
            mean = np.mean([np.interp(steps, df.env_steps, df[metric]) for _, df in seeds], axis=0)
            steps = steps / 1e6
            label = f"{algo.upper()} (mean of {len(seeds)} seeds)" if len(seeds) > 1 else f"{algo.upper()} (seed {seeds[0][0]})"
            ax.plot(steps, mean, lw=2, color=color, label=label)
        ax.set_title(task)
        ax.set_xlabel("environment steps (millions)")
        ax.set_ylabel("test win rate (greedy)" if has_win[task] else "test return (greedy)")
        if has_win[task]:
            ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    save(fig, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
