"""Playing whole episodes with a fixed policy: the one evaluation protocol for every algorithm (greedy test
episodes), and the recording of demonstrations.

The env has exactly as many parallel envs as episodes wanted; each plays one fresh episode and its first finished
episode is the one recorded (later auto-reset episodes are ignored), so every evaluation point averages exactly n
episodes and every recorded episode starts at its beginning."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from envs.base import BatchedEnv

# act(obs [N,K,O], last_action [N,K], avail [N,K,A], hidden) -> (actions [N,K], new hidden)
Act = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


@dataclass
class Episodes:
    won: np.ndarray  # [E] bool
    returns: np.ndarray  # [E] float32 (team reward, after reward_scale)
    length: np.ndarray  # [E] int32
    # With record=True: per step, zero-padded after each episode's end to the episode limit T.
    obs: np.ndarray | None = None  # [E, T, K, O] float32, the observation at which each action was chosen
    actions: np.ndarray | None = None  # [E, T, K] int16
    alive: np.ndarray | None = None  # [E, T, K] bool (False on padding)


def win_rate(won: np.ndarray, has_win: bool) -> float:
    """The fraction of episodes won; NaN on a task where "won" is not defined."""
    return float(np.mean(won)) if has_win else math.nan


@torch.no_grad()
def play_episodes(env: BatchedEnv, act: Act, initial_hidden: torch.Tensor, record: bool = False) -> Episodes:
    n, spec = env.num_envs, env.spec
    o = env.reset()
    h = initial_hidden
    last_action = torch.full((n, spec.n_agents), -1, dtype=torch.long)
    finished = np.zeros(n, bool)
    won, ret, length = np.zeros(n, bool), np.zeros(n, np.float32), np.zeros(n, np.int32)
    if record:
        T, K = spec.episode_limit, spec.n_agents
        obs_buf, act_buf = np.zeros((n, T, K, spec.obs_dim), np.float32), np.zeros((n, T, K), np.int16)
        alive_buf = np.zeros((n, T, K), bool)
    for t in range(spec.episode_limit):
        actions, h = act(torch.from_numpy(o.obs), last_action, torch.from_numpy(o.avail_actions), h)
        if record:
            live = ~finished
            obs_buf[live, t], act_buf[live, t], alive_buf[live, t] = o.obs[live], actions.numpy()[live], o.alive[live]
        o = env.step(actions.numpy())
        newly = o.done & ~finished
        won[newly], ret[newly], length[newly] = o.battle_won[newly], o.episode_return[newly], o.episode_length[newly]
        finished |= o.done
        if finished.all():
            break
        last_action = actions  # episodes that ended are no longer recorded, so no reset is needed here
    if not finished.all():
        raise RuntimeError(f"{spec.name}: episodes did not end within the episode limit")
    if not record:
        return Episodes(won, ret, length)
    return Episodes(won, ret, length, obs_buf, act_buf, alive_buf)


def evaluate_greedy(env: BatchedEnv, act: Act, initial_hidden: torch.Tensor) -> dict[str, float]:
    """Greedy test episodes (``act`` takes the argmax over available actions). Tasks without a win condition (MPE)
    report the win rate as NaN, not as a 0 that reads like a measured failure."""
    ep = play_episodes(env, act, initial_hidden)
    return {"test_win_rate": win_rate(ep.won, env.spec.has_win), "test_return": float(ep.returns.mean()),
            "test_length": float(ep.length.mean())}
