"""Generalised advantage estimation for independent agents that share a team reward and can die mid-episode.

Episodes end for all agents at once (``dones``), but an agent that died keeps collecting the team reward until the
episode ends (SMAC's "noble sacrifice": its death can still help the team win). Its post-death steps are no decisions
(not trained on), so its last living action is credited with the exact discounted sum of the team rewards that follow
(a Monte-Carlo tail) instead of bootstrapping from values of dead observations its critic never learns.
"""
from __future__ import annotations

import torch


def compute_gae(
    rewards: torch.Tensor,  # [T, N, K] per-agent reward of step t
    values: torch.Tensor,  # [T, N, K] critic value at obs_t
    alive: torch.Tensor,  # [T, N, K] bool, agent alive (acting) at obs_t
    dones: torch.Tensor,  # [T, N] bool, the episode ended with step t (terminated or truncated)
    last_values: torch.Tensor,  # [N, K] value of the obs after the rollout's last step
    last_alive: torch.Tensor,  # [N, K] bool
    gamma: float,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Returns (advantages, returns), both [T, N, K]; zero where the agent is dead. No bootstrap past an episode's
    end. A dead agent at the rollout's end has an unknown tail and is bootstrapped with 0 (rare, small bias)."""
    T = rewards.shape[0]
    advantages = torch.zeros_like(rewards)
    next_value = torch.where(last_alive, last_values, torch.zeros_like(last_values))
    next_adv = torch.zeros_like(last_values)
    for t in reversed(range(T)):
        nonterminal = (~dones[t]).to(rewards.dtype).unsqueeze(-1)
        target = rewards[t] + gamma * nonterminal * next_value
        # Dead at t: the "value" is the Monte-Carlo tail itself, so delta = 0 and no advantage accrues.
        value_t = torch.where(alive[t], values[t], target)
        adv = torch.where(alive[t], target - value_t + gamma * lam * nonterminal * next_adv, torch.zeros_like(target))
        advantages[t] = adv
        next_value, next_adv = value_t, adv
    returns = torch.where(alive, advantages + values, torch.zeros_like(values))
    return advantages, returns
