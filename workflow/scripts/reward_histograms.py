"""The imitation rewards of the discriminator arms (MILD²'s Figs. 3/4 and claim C8): for every run, the discriminator
and policy of one snapshot (``--step``: the final model, or a kept snapshot) are loaded, one rollout is collected with
that policy, and the discriminator's reward of each living agent-step is recorded. Top row: their histograms per task
(every seed's rewards together, density); bottom row: the standard deviation of the reward over each update's living
agent-steps (``gail_reward_std``: the update before each evaluation, as training logged it) against env steps, mean
over seeds. The CSV has per run the
snapshot's reward count, mean, standard deviation and variance.

    python workflow/scripts/reward_histograms.py --step final --out figures/mild2_reward_hist.pdf \\
        --out-csv results/tables/mild2_rewards.csv results/arms/smax/3m/{magail_mat,mild2_gd,mild2}/demos-*/seed*
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
from plot_discriminator_loss import draw_over_training, read_updates  # noqa: E402
from plotting import colors_for, legend_below, save  # noqa: E402
from algorithms.common.runio import atomic_write_text  # noqa: E402


def snapshot_rewards(run: Path, step: str) -> tuple[dict, np.ndarray]:
    """(run facts, the imitation rewards of one rollout's living agent-steps) at snapshot ``step`` of ``run``."""
    import torch
    import yaml

    from algorithms import registry
    from algorithms.common.config import resolve
    from algorithms.common.runio import load_checkpoint

    meta = yaml.safe_load((run / "config.yaml").read_text())
    path = run / "final_model.pt" if step == "final" else run / "checkpoints" / f"step_{step}.pt"
    if not path.exists():
        raise FileNotFoundError(f"{run}: no snapshot {path.name} (kept snapshots: every checkpoint_interval steps; "
                                "or --step final)")
    snap = load_checkpoint(path)
    if "discriminator" not in snap:
        raise ValueError(f"{path} holds no discriminator: not an imitation arm, or a run made before snapshots kept "
                         "it (train it again)")
    entry = registry.learner(meta["algorithm"])
    cfg = resolve(entry.config_cls, meta["config"])
    algo = entry.learner_cls(cfg)
    algo.net.load_state_dict(snap["model"])
    algo.imitation.disc.load_state_dict(snap["discriminator"])
    with torch.no_grad(), algo.autocast():
        algo.collect()
    buf = algo.buf
    decided = buf.valid.unsqueeze(-1) & buf.alive
    rewards = algo.imitation.rewards(algo.features(buf.obs, buf.actions), decided)[decided].float().numpy()
    facts = {"task": cfg.task, "arm": meta["arm"], "label": label_of(meta["arm"], run.parent.name),
             "display": registry.display(meta["arm"]),
             "seed": cfg.seed, "snapshot_env_steps": int(snap["env_steps"]),
             "reward_transform": cfg.gail_reward_transform}
    return facts, rewards


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--step", default="final", help="'final' or the env step of a kept snapshot")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--out-csv", type=Path, required=True)
    parser.add_argument("runs", type=Path, nargs="+", help="run folders of imitation arms")
    args = parser.parse_args(argv)
    if args.step != "final" and not args.step.isdigit():
        parser.error(f"--step must be 'final' or a whole number of env steps, got {args.step!r}")
    samples, rows = [], []
    for run in args.runs:
        facts, rewards = snapshot_rewards(run, args.step)
        samples.append((facts, rewards))
        rows.append({**facts, "rewards": len(rewards), "mean": float(rewards.mean()), "std": float(rewards.std()),
                     "variance": float(rewards.var())})
        print(f"{run}: {len(rewards)} rewards, mean {rewards.mean():.3f}, std {rewards.std():.3f}")
    table = pd.DataFrame(rows)
    atomic_write_text(args.out_csv, table.to_csv(index=False))
    training = read_updates(args.runs, "gail_reward_std")
    colors = colors_for(table.label)
    tasks = list(dict.fromkeys(table.task))
    fig, axes = plt.subplots(2, len(tasks), figsize=(4.8 * len(tasks), 6.4), squeeze=False)
    for j, task in enumerate(tasks):
        ax = axes[0, j]
        here = [(f, r) for f, r in samples if f["task"] == task]
        everything = np.concatenate([r for _, r in here])
        bins = np.linspace(*np.percentile(everything, [0.5, 99.5]), 60)
        for label in dict.fromkeys(f["label"] for f, _ in here):
            r = np.concatenate([r for f, r in here if f["label"] == label])
            display = next(f["display"] for f, _ in here if f["label"] == label)
            ax.hist(np.clip(r, bins[0], bins[-1]), bins=bins, density=True, histtype="stepfilled", alpha=0.3,
                    color=colors[label], label=f"{display}: std {r.std():.3f}")
            ax.hist(np.clip(r, bins[0], bins[-1]), bins=bins, density=True, histtype="step", color=colors[label])
        steps = sorted({f["snapshot_env_steps"] for f, _ in here})
        ax.set_title(f"{task}: rewards at {', '.join(f'{s:,}' for s in steps)} env steps", fontsize=10)
        ax.set_xlabel("imitation reward of a living agent-step (each arm's transform)", fontsize=9)
        ax.set_ylabel("density", fontsize=9)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        ax = axes[1, j]
        draw_over_training(ax, training[training.task == task], "gail_reward_std", colors)
        ax.set_ylabel("reward std over the update", fontsize=9)
        ax.set_title(f"{task}: the rewards' spread over training", fontsize=10)
    fig.suptitle("imitation rewards of the discriminator arms\ntop: one snapshot, every seed's rollout (clipped to "
                 "the 0.5-99.5 percentiles); bottom: at each evaluation, mean over seeds, band: the seeds' range",
                 fontsize=9)
    legend_below(fig, axes[1], ncol=1)
    fig.tight_layout()
    save(fig, args.out)
    print(f"wrote {args.out} and {args.out_csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
