"""Per-agent GAIL discriminators (DM²): K independent nets Linear-Tanh-Linear-Tanh-Linear on each agent's own input
(its observation; observation + one-hot action as an option), trained with BCE (expert = 1, policy = 0) plus a
gradient penalty, and read as a reward. Stacked for speed like the actor-critic; nothing crosses agents.

Every agent has its own pool of valid (alive, unpadded) rows, of different sizes; each training step draws the
same number of rows per agent from its own pool, so padded steps and dead agents are never seen (the reference
code's bug #6)."""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from algorithms.common.networks import StackedLinear

RewardTransform = Literal["logit", "softplus", "log_d"]


class Discriminators(nn.Module):
    def __init__(self, n_agents: int, in_dim: int, hidden: int = 64):
        super().__init__()
        self.n_agents, self.in_dim = n_agents, in_dim
        self.l1 = StackedLinear(n_agents, in_dim, hidden)
        self.l2 = StackedLinear(n_agents, hidden, hidden)
        self.out = StackedLinear(n_agents, hidden, 1, gain=1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [K, B, in] -> logits [K, B] (log D - log(1 - D), D = probability of "expert")."""
        return self.out(torch.tanh(self.l2(torch.tanh(self.l1(x))))).squeeze(-1)


def sample_rows(pools: list[torch.Tensor], batch: int, generator: torch.Generator) -> torch.Tensor:
    """Draw ``batch`` rows (with replacement) from each agent's own pool [n_k, in] -> [K, batch, in]."""
    rows = []
    for k, pool in enumerate(pools):
        if len(pool) == 0:
            raise ValueError(f"agent {k} has no valid rows to train its discriminator on")
        rows.append(pool[torch.randint(len(pool), (batch,), generator=generator)])
    return torch.stack(rows)


def discriminator_loss(disc: Discriminators, expert: torch.Tensor, policy: torch.Tensor, gp_lambda: float,
                       generator: torch.Generator) -> tuple[torch.Tensor, dict]:
    """BCE with expert = 1, policy = 0, plus gp_lambda * (||grad_x D(x_hat)|| - 1)^2 at x_hat = a x_E + (1-a) x_pi,
    one a ~ U(0,1) per row. Each agent's terms are averaged over its own rows and summed over agents."""
    e_logit, p_logit = disc(expert), disc(policy)
    bce = (F.binary_cross_entropy_with_logits(e_logit, torch.ones_like(e_logit), reduction="none").mean(1)
           + F.binary_cross_entropy_with_logits(p_logit, torch.zeros_like(p_logit), reduction="none").mean(1))
    alpha = torch.rand(expert.shape[:2] + (1,), generator=generator)
    mixed = (alpha * expert + (1 - alpha) * policy).requires_grad_(True)
    # D_k depends on agent k's rows only, so the gradient of the summed logits is each row's own gradient.
    (grad,) = torch.autograd.grad(disc(mixed).sum(), mixed, create_graph=True)
    gp = (grad.norm(dim=-1) - 1).pow(2).mean(1)
    loss = (bce + gp_lambda * gp).sum()
    with torch.no_grad():
        stats = {"disc_bce": float(bce.mean()), "disc_gp": float(gp.mean()),
                 "disc_expert_acc": float((e_logit > 0).float().mean()),
                 "disc_policy_acc": float((p_logit < 0).float().mean())}
    return loss, stats


def gail_reward(logits: torch.Tensor, transform: RewardTransform = "logit") -> torch.Tensor:
    """The discriminator's reward. ``logit`` = log D - log(1 - D) (the reference code's, default); ``softplus`` =
    -log(1 - D); ``log_d`` = log D."""
    if transform == "logit":
        return logits
    if transform == "softplus":
        return F.softplus(logits)
    if transform == "log_d":
        return -F.softplus(-logits)
    raise ValueError(f"unknown reward transform {transform!r}; allowed: logit, softplus, log_d")
