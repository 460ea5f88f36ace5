"""The one evaluation protocol for every algorithm: greedy (argmax over available actions) test episodes.

The eval env has exactly ``n_episodes`` parallel envs; each plays one fresh episode and its first finished episode is
the one recorded (later auto-reset episodes are ignored), so every evaluation point averages exactly n episodes."""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from envs.base import BatchedEnv

# act(obs [N,K,O], last_action [N,K], avail [N,K,A], hidden) -> (greedy actions [N,K], new hidden)
GreedyAct = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


@torch.no_grad()
def evaluate_greedy(env: BatchedEnv, act: GreedyAct, initial_hidden: torch.Tensor) -> dict[str, float]:
    n = env.num_envs
    o = env.reset()
    h = initial_hidden
    last_action = torch.full((n, env.spec.n_agents), -1, dtype=torch.long)
    finished = np.zeros(n, bool)
    won, ret, length = np.zeros(n, bool), np.zeros(n, np.float32), np.zeros(n, np.int32)
    for _ in range(env.spec.episode_limit):
        actions, h = act(torch.from_numpy(o.obs), last_action, torch.from_numpy(o.avail_actions), h)
        o = env.step(actions.numpy())
        newly = o.done & ~finished
        won[newly], ret[newly], length[newly] = o.battle_won[newly], o.episode_return[newly], o.episode_length[newly]
        finished |= o.done
        if finished.all():
            break
        last_action = actions  # episodes that ended are no longer recorded, so no reset is needed here
    if not finished.all():
        raise RuntimeError(f"{env.spec.name}: evaluation episodes did not end within the episode limit")
    return {"test_win_rate": float(won.mean()), "test_return": float(ret.mean()), "test_length": float(length.mean())}
