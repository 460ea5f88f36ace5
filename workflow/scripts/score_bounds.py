"""The fixed bounds of a task's score (config ``scores``): win rate and return of a uniformly random policy (over
available actions) per task, the ``random`` bound and the difficulty floor of the SMAX maps; and, for MPE cooperative
navigation (spread), the return of a scripted centralised oracle, the ``reference`` bound; for the tasks with
communication (speaker-listener, reference, reference_3) that of a scripted goal oracle, which reads every agent's
goal from the joint observation (no messages needed) and drives each mover to its own goal with the same controller.

The oracle sees every agent's observation: at every step it assigns agents to landmarks by the permutation of least
summed distance, and each agent takes the discrete acceleration along the axis where (relative landmark position -
0.3 x own velocity) is largest (no-op within 0.02). It reads jaxmarl's spread observation layout: own velocity,
own position, landmarks relative, others relative.

    python workflow/scripts/score_bounds.py [--episodes 1024] [tasks ...]
"""
from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import envs  # noqa: E402

DEFAULT_TASKS = ["smax/3m", "smax/5m_vs_6m", "smax/3s_vs_3z", "smax/3s_vs_4z", "smax/3s_vs_5z", "smax/8m_vs_9m",
                 "mpe/spread_3", "mpe/spread_3_hetero", "mpe/spread_6", "mpe/spread_6_hetero", "mpe/speaker_listener",
                 "mpe/reference", "mpe/reference_3"]


def play(task: str, episodes: int, seed: int, policy) -> tuple[float, float, float, float]:
    """(win rate, mean return, standard error of the return, mean length) of the first episode of each of
    ``episodes`` parallel envs, acting with ``policy(observation) -> actions [N, K]``."""
    env = envs.make(task, num_envs=episodes, seed=seed)
    o = env.reset()
    finished = np.zeros(episodes, bool)
    won, ret, length = (np.zeros(episodes, bool), np.zeros(episodes), np.zeros(episodes))
    for _ in range(env.spec.episode_limit):
        o = env.step(policy(o))
        new = o.done & ~finished
        won[new], ret[new], length[new] = o.battle_won[new], o.episode_return[new], o.episode_length[new]
        finished |= o.done
    return won.mean(), ret.mean(), ret.std(ddof=1) / np.sqrt(episodes), length.mean()


def random_play(task: str, episodes: int, seed: int = 0) -> tuple[float, float, float, float]:
    """A uniformly random policy over available actions."""
    rng = np.random.default_rng(seed)
    return play(task, episodes, seed, lambda o: (rng.random(o.avail_actions.shape) * o.avail_actions).argmax(-1))


def spread_oracle(task: str, episodes: int, seed: int = 0, damping: float = 0.3) -> tuple[float, float]:
    """(mean return, its standard error) of the scripted assignment oracle on an MPE spread task."""
    K = envs.task_spec(task).n_agents
    perms = np.array(list(itertools.permutations(range(K))))

    def oracle(o):
        vel = o.obs[..., 0:2]
        rel = o.obs[..., 4:4 + 2 * K].reshape(episodes, K, K, 2)  # agent i -> landmark j, relative position
        cost = np.linalg.norm(rel, axis=-1)[:, np.arange(K)[None, :], perms].sum(-1)  # [N, permutations]
        landmark = perms[cost.argmin(1)]  # [N, K]
        target = np.take_along_axis(rel, landmark[:, :, None, None].repeat(2, -1), axis=2)[:, :, 0]
        return steer(target, vel, damping)

    _, ret, se, _ = play(task, episodes, seed, oracle)
    return ret, se


def steer(target: np.ndarray, vel: np.ndarray, damping: float = 0.3) -> np.ndarray:
    """The discrete acceleration towards a relative ``target`` [..., 2] given velocity ``vel``: along the axis where
    (target - damping x vel) is largest, no-op within 0.02."""
    want = target - damping * vel
    axis = np.abs(want).argmax(-1)
    positive = np.take_along_axis(want, axis[..., None], -1)[..., 0] > 0
    action = np.where(axis == 0, np.where(positive, 2, 1), np.where(positive, 4, 3))  # right/left, up/down
    return np.where(np.linalg.norm(want, axis=-1) < 0.02, 0, action).astype(np.int64)


def goal_oracle(task: str, episodes: int, seed: int = 0) -> tuple[float, float]:
    """(mean return, its standard error) of the scripted goal oracle on a task with communication: each mover's goal
    read from the joint observation (jaxmarl's layouts: envs/mpe.comm_layout), a physical action each, message 0."""
    def goals_and_moves(obs):
        if task == "mpe/speaker_listener":  # the speaker sees the goal's colour (0.65 at it); the listener moves
            goal = obs[:, 0, :3].argmax(-1)
            rel = obs[:, 1, 2:8].reshape(-1, 3, 2)[np.arange(len(goal)), goal]
            return np.stack([np.zeros(len(goal), np.int64), steer(rel, obs[:, 1, 0:2])], 1)
        K, L = (2, 3) if task == "mpe/reference" else (3, 5)
        actions = []
        for k in range(K):  # agent k's goal, as the first other agent j sees it (goal colours of j's others)
            j = (k + 1) % K
            slot = [i for i in range(K) if i != j].index(k)
            colours = obs[:, j, 2 + 2 * L + slot * L: 2 + 2 * L + (slot + 1) * L]
            rel = obs[:, k, 2:2 + 2 * L].reshape(-1, L, 2)[np.arange(len(obs)), colours.argmax(-1)]
            actions.append(steer(rel, obs[:, k, 0:2]))
        return np.stack(actions, 1)

    _, ret, se, _ = play(task, episodes, seed, lambda o: goals_and_moves(o.obs))
    return ret, se


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=1024)
    parser.add_argument("tasks", nargs="*", default=DEFAULT_TASKS)
    args = parser.parse_args(argv)
    print("| task | episodes | random win rate | random return (± s.e.) | mean length | oracle return (± s.e.) |")
    print("|---|---|---|---|---|---|")
    for task in args.tasks:
        w, r, se, length = random_play(task, args.episodes)
        oracle = "--"
        if task.startswith("mpe/spread"):
            o, o_se = spread_oracle(task, args.episodes)
            oracle = f"{o:.2f} ± {o_se:.2f}"
        elif envs.task_spec(task).comm is not None:
            o, o_se = goal_oracle(task, args.episodes)
            oracle = f"{o:.2f} ± {o_se:.2f}"
        print(f"| {task} | {args.episodes} | {w:.3f} | {r:.2f} ± {se:.2f} | {length:.1f} | {oracle} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
