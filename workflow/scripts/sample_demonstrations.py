"""Sample demonstrations from trained expert runs at one checkpoint, in one of the four DM² styles.

    python workflow/scripts/sample_demonstrations.py --style cotrained_concurrent --step 500000 --episodes 1000 \
        --seed 92814 --out results/demos/smax/3m/ippo/cotrained_concurrent/step500000.npz \
        results/ippo/smax/3m/seed0 [results/ippo/smax/3m/seed1 ...]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from algorithms.demos import DemoError, load_demos, sample_demonstrations, save_demos  # noqa: E402
from algorithms.registry import STYLES  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--style", required=True, choices=STYLES)
    parser.add_argument("--step", required=True, help="checkpoint step (checkpoints/step_<N>.pt) or 'final'")
    parser.add_argument("--episodes", type=int, required=True, help="episodes per agent")
    parser.add_argument("--seed", type=int, required=True, help="sampling seed")
    parser.add_argument("--mode", default="stochastic", choices=["stochastic", "epsilon_greedy"])
    parser.add_argument("--epsilon", type=float, default=0.0)
    parser.add_argument("--greedy-eval-episodes", type=int, default=128)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("expert_runs", nargs="+", help="expert run folders; the first is the co-trained team")
    args = parser.parse_args(argv)
    step = args.step if args.step == "final" else int(args.step)
    try:
        demos = sample_demonstrations(args.expert_runs, step, args.style, args.episodes, args.seed, args.mode,
                                      args.epsilon, args.greedy_eval_episodes)
    except DemoError as exc:
        parser.exit(2, f"error: {exc}\n")
    save_demos(args.out, demos)
    load_demos(args.out)  # read back: the file on disk verifies
    print(json.dumps({k: demos.metadata[k] for k in ("task", "style", "episodes_per_agent", "sampled_win_rate",
                                                     "expert_greedy_win_rate")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
