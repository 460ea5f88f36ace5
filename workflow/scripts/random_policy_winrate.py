"""Win rate and return of a uniformly random policy (over available actions) per SMAX map, as a difficulty floor.

    python workflow/scripts/random_policy_winrate.py [--episodes 1024] [maps ...]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import envs  # noqa: E402

PAPER_MAPS = ["3m", "5m_vs_6m", "3s_vs_3z", "3s_vs_4z", "3s_vs_5z", "8m_vs_9m"]


def random_play(task: str, episodes: int, seed: int = 0) -> tuple[float, float, float]:
    env = envs.make(task, num_envs=episodes, seed=seed)
    o = env.reset()
    rng = np.random.default_rng(seed)
    finished = np.zeros(episodes, bool)
    won, ret, length = (np.zeros(episodes, bool), np.zeros(episodes), np.zeros(episodes))
    for _ in range(env.spec.episode_limit):
        o = env.step((rng.random(o.avail_actions.shape) * o.avail_actions).argmax(-1))
        new = o.done & ~finished
        won[new], ret[new], length[new] = o.battle_won[new], o.episode_return[new], o.episode_length[new]
        finished |= o.done
    return won.mean(), ret.mean(), length.mean()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=1024)
    parser.add_argument("maps", nargs="*", default=PAPER_MAPS)
    args = parser.parse_args(argv)
    print("| map | episodes | random win rate | random return (x10 scale) | mean length |")
    print("|---|---|---|---|---|")
    for m in args.maps:
        w, r, length = random_play(f"smax/{m}", args.episodes)
        print(f"| {m} | {args.episodes} | {w:.3f} | {r:.2f} | {length:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
