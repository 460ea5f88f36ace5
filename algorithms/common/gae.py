"""Generalised advantage estimation for independent agents that share a team reward and can die mid-episode.

Episodes end for all agents at once (``dones``), but an agent that died keeps collecting the team reward until the
episode ends (SMAC's "noble sacrifice": its death can still help the team win). Its post-death steps are no decisions
(no policy loss), so its last living action is credited with the discounted team rewards that follow: the exact
Monte-Carlo tail when the episode ends inside the rollout, else the tail up to the rollout's end plus the agent's own
critic value of its (dead) observation there. The critic is trained on dead steps towards these tails, so that
bootstrap is learned from the agent's own data; no teammate's value is used (agents stay decentralised).
"""
from __future__ import annotations

import torch


def compute_gae(
    rewards: torch.Tensor,  # [T, N, K] per-agent reward of step t
    values: torch.Tensor,  # [T, N, K] critic value at obs_t
    alive: torch.Tensor,  # [T, N, K] bool, agent alive (acting) at obs_t
    dones: torch.Tensor,  # [T, N] bool, the episode ended with step t (terminated or truncated)
    last_values: torch.Tensor,  # [N, K] value of the obs after the rollout's last step (dead agents too)
    gamma: float,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Returns (advantages, returns), both [T, N, K]. Advantages are zero where the agent is dead; returns there are
    the reward tails (value targets for dead steps). No bootstrap past an episode's end."""
    T = rewards.shape[0]
    advantages = torch.zeros_like(rewards)
    returns = torch.zeros_like(rewards)
    next_value, next_adv = last_values, torch.zeros_like(last_values)
    for t in reversed(range(T)):
        nonterminal = (~dones[t]).to(rewards.dtype).unsqueeze(-1)
        target = rewards[t] + gamma * nonterminal * next_value
        # Dead at t: the "value" is the tail itself, so delta = 0 and no advantage accrues.
        value_t = torch.where(alive[t], values[t], target)
        adv = torch.where(alive[t], target - value_t + gamma * lam * nonterminal * next_adv, torch.zeros_like(target))
        advantages[t], returns[t] = adv, torch.where(alive[t], adv + values[t], target)
        next_value, next_adv = value_t, adv
    return advantages, returns
