"""What every adversarial-imitation arm shares: expert sources, discriminators, their loss, reward transforms, and the
reward hook an on-policy generator calls between collecting a rollout and computing advantages.

Discriminators (``DISCRIMINATORS``), each on agent inputs x_k = o_k (state-only) or o_k ⊕ one-hot a_k:
- ``per_agent``: K independent MLPs, D_k(x_k) (DM²; MAGAIL "decentralized"). Stacked for speed, nothing crosses agents.
  Each agent's rows are sampled from its own pool of living steps (the reference code's bug #6: padding and dead
  agents are never seen).
- ``joint``: one MLP over all agents' inputs of one time step (a dead agent's input is zeros), one logit per agent
  (MAGAIL "centralized"; the MLP ancestor of MILD²'s transformer). Logit k is trained and read only where agent k is
  alive.
- ``joint_single``: the same joint input, one logit for the team (MAGAIL "single"); every living agent gets its reward.
Joint discriminators need joint rows, which keep the agents of one time step together: only concurrent
demonstrations (every agent's column from the same episodes) can supply them.

Loss: BCE with expert = 1, policy = 0, plus ``gp_lambda`` (||grad_x D(x_hat)|| - 1)^2 at random interpolates of
expert and policy rows (``gp_lambda`` 0 = plain BCE, as MAGAIL). Reward transforms (``REWARD_TRANSFORMS``): logit =
log D - log(1 - D) (DM²'s reference code), softplus = -log(1 - D), log_d = log D, two_sigmoid_minus_one = 2σ(logit) - 1
(MAGAIL's code).

Expert sources: ``agent_pools`` (per-agent rows of a demonstration file), ``joint_rows`` (joint rows with their alive
mask, concurrent files only), and ``SelfImitationStore`` (the agent's own best episodes, DM²+SIL).
"""
from __future__ import annotations

import heapq

import torch
import torch.nn.functional as F
from torch import nn

from algorithms.common.networks import StackedLinear
from algorithms.configs.imitation import DISCRIMINATORS, REWARD_TRANSFORMS, DiscriminatorKind, RewardTransform

DISC_STATS = ["disc_bce", "disc_gp", "disc_expert_acc", "disc_policy_acc", "gail_reward_mean"]


class ImitationError(ValueError):
    pass


# ------------------------------------------------------------------------------------------------ discriminators
class Discriminators(nn.Module):
    """``per_agent``: K independent nets Linear-Tanh-Linear-Tanh-Linear, x [K, B, in] -> logits [K, B]."""

    joint = False

    def __init__(self, n_agents: int, in_dim: int, hidden: int = 64):
        super().__init__()
        self.n_agents, self.in_dim = n_agents, in_dim
        self.l1 = StackedLinear(n_agents, in_dim, hidden)
        self.l2 = StackedLinear(n_agents, hidden, hidden)
        self.out = StackedLinear(n_agents, hidden, 1, gain=1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [K, B, in] -> logits [K, B] (log D - log(1 - D), D = probability of "expert")."""
        return self.out(torch.tanh(self.l2(torch.tanh(self.l1(x))))).squeeze(-1)


class JointDiscriminator(nn.Module):
    """``joint`` / ``joint_single``: one net Linear-Tanh-Linear-Tanh-Linear on the concatenated inputs of all agents
    x [B, K, in] (dead agents' rows zeroed by the caller) -> logits [B, K] (one per agent, or one for the team
    repeated K times)."""

    joint = True

    def __init__(self, n_agents: int, in_dim: int, hidden: int = 64, per_agent_logits: bool = True):
        super().__init__()
        self.n_agents, self.in_dim, self.per_agent_logits = n_agents, in_dim, per_agent_logits
        self.l1 = StackedLinear(1, n_agents * in_dim, hidden)
        self.l2 = StackedLinear(1, hidden, hidden)
        self.out = StackedLinear(1, hidden, n_agents if per_agent_logits else 1, gain=1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(1, x.shape[0], -1)
        logits = self.out(torch.tanh(self.l2(torch.tanh(self.l1(flat)))))[0]  # [B, K or 1]
        return logits if self.per_agent_logits else logits.expand(-1, self.n_agents)


def make_discriminator(kind: DiscriminatorKind, n_agents: int, in_dim: int, hidden: int) -> nn.Module:
    if kind == "per_agent":
        return Discriminators(n_agents, in_dim, hidden)
    if kind in ("joint", "joint_single"):
        return JointDiscriminator(n_agents, in_dim, hidden, per_agent_logits=kind == "joint")
    raise ImitationError(f"unknown discriminator {kind!r}; allowed: {', '.join(DISCRIMINATORS)}")


# ------------------------------------------------------------------------------------------------ expert sources
def sample_rows(pools: list[torch.Tensor], batch: int, generator: torch.Generator) -> torch.Tensor:
    """Per-agent rows: draw ``batch`` rows (with replacement) from each agent's own pool [n_k, in] -> [K, batch, in]."""
    rows = []
    for k, pool in enumerate(pools):
        if len(pool) == 0:
            raise ValueError(f"agent {k} has no valid rows to train its discriminator on")
        rows.append(pool[torch.randint(len(pool), (batch,), generator=generator)])
    return torch.stack(rows)


def sample_joint(rows: torch.Tensor, alive: torch.Tensor, batch: int, generator: torch.Generator):
    """Joint rows: draw ``batch`` time steps (with replacement) -> (x [batch, K, in], alive [batch, K])."""
    if len(rows) == 0:
        raise ValueError("no joint rows (time steps with a living agent) to train the discriminator on")
    idx = torch.randint(len(rows), (batch,), generator=generator)
    return rows[idx], alive[idx]


def agent_pools(demos, episodes: int, features) -> list[torch.Tensor]:
    """Per agent, its living demonstrated steps of the first ``episodes`` episodes as discriminator inputs
    (``features(obs, actions)``)."""
    sl = slice(0, episodes)
    pools = []
    for k in range(demos.obs.shape[2]):
        mask = demos.alive[sl, :, k]
        obs, actions = demos.obs[sl, :, k][mask], demos.actions[sl, :, k][mask].astype("int64")
        pools.append(features(torch.as_tensor(obs), torch.as_tensor(actions)))
    return pools


def joint_rows(demos, episodes: int, features) -> tuple[torch.Tensor, torch.Tensor]:
    """The time steps (with at least one living agent) of the first ``episodes`` episodes, agents kept together:
    (x [n, K, in] with dead agents zeroed, alive [n, K]). Only concurrent demonstrations have such rows: in the
    non-concurrent styles, index e is a different episode for every agent."""
    meta = demos.metadata
    if not meta.get("concurrent", False):
        raise ImitationError(f"a joint discriminator needs joint rows, which only concurrent demonstrations supply "
                             f"(styles cotrained_concurrent, indep_concurrent); these are {meta.get('style')!r}")
    alive = torch.as_tensor(demos.alive[:episodes])  # [E, T, K]
    any_alive = alive.any(-1)
    x = features(torch.as_tensor(demos.obs[:episodes]), torch.as_tensor(demos.actions[:episodes].astype("int64")))
    x, alive = x[any_alive], alive[any_alive]
    return x * alive.unsqueeze(-1).to(x.dtype), alive


class SelfImitationStore:
    """The agent's own best finished episodes, ranked by discounted return: a min-heap of (return, insertion
    counter, per-agent rows); when full, a new episode replaces the lowest-ranked one if it ranks higher."""

    def __init__(self, capacity: int):
        self.capacity, self.heap, self.counter = capacity, [], 0
        self._pools = None

    def push(self, discounted_return: float, rows: list[torch.Tensor]) -> None:
        item = (discounted_return, self.counter, rows)
        self.counter += 1
        if len(self.heap) < self.capacity:
            heapq.heappush(self.heap, item)
        elif item[:2] > self.heap[0][:2]:
            heapq.heapreplace(self.heap, item)
        else:
            return
        self._pools = None

    def pools(self) -> list[torch.Tensor]:
        """Per agent, every stored row [n_k, in] (empty before the first episode ends)."""
        if self._pools is None:
            self._pools = [torch.cat([rows[k] for _, _, rows in self.heap]) for k in range(len(self.heap[0][2]))]
        return self._pools

    def __len__(self) -> int:
        return len(self.heap)

    def state_dict(self) -> dict:
        return {"heap": list(self.heap), "counter": self.counter}

    def load_state_dict(self, state: dict) -> None:
        self.heap, self.counter, self._pools = list(state["heap"]), state["counter"], None
        heapq.heapify(self.heap)


# ------------------------------------------------------------------------------------------------ loss and reward
def discriminator_loss(disc: nn.Module, expert, policy, gp_lambda: float,
                       generator: torch.Generator) -> tuple[torch.Tensor, dict]:
    """BCE with expert = 1, policy = 0, plus gp_lambda * (||grad_x D(x_hat)|| - 1)^2 at x_hat = a x_E + (1-a) x_pi,
    one a ~ U(0,1) per row (skipped at gp_lambda 0).

    Per-agent discriminator: ``expert``/``policy`` are [K, B, in]; each agent's terms are averaged over its own rows
    and summed over agents. Joint: they are (x [B, K, in], alive [B, K]); logit k's BCE is averaged over the rows where
    agent k is alive and summed over agents (a team logit: averaged over rows, once); the penalty's gradient is the
    whole joint row's, of the team logit or of the summed logits of the agents alive in either row."""
    if not disc.joint:
        e_logit, p_logit = disc(expert), disc(policy)
        e_mask = p_mask = None
        bce = (F.binary_cross_entropy_with_logits(e_logit, torch.ones_like(e_logit), reduction="none").mean(1)
               + F.binary_cross_entropy_with_logits(p_logit, torch.zeros_like(p_logit), reduction="none").mean(1))
        x_e, x_p, shape = expert, policy, expert.shape[:2] + (1,)
    else:
        (x_e, e_alive), (x_p, p_alive) = expert, policy
        either_alive = (e_alive | p_alive).float()  # the logits an interpolated row's penalty covers
        e_logit, p_logit = disc(x_e), disc(x_p)
        if not disc.per_agent_logits:  # one team logit, counted once per row (at a row with any living agent)
            e_logit, p_logit = e_logit[:, :1], p_logit[:, :1]
            e_alive, p_alive = e_alive.any(-1, keepdim=True), p_alive.any(-1, keepdim=True)
        e_mask, p_mask = e_alive.float(), p_alive.float()

        def masked_mean(x, m):
            return (x * m).sum(0) / m.sum(0).clamp(min=1)
        bce = (masked_mean(F.binary_cross_entropy_with_logits(e_logit, torch.ones_like(e_logit), reduction="none"),
                           e_mask)
               + masked_mean(F.binary_cross_entropy_with_logits(p_logit, torch.zeros_like(p_logit),
                                                                reduction="none"), p_mask))
        shape = x_e.shape[:1] + (1, 1)
    if gp_lambda > 0:
        alpha = torch.rand(shape, generator=generator)
        mixed = (alpha * x_e + (1 - alpha) * x_p).requires_grad_(True)
        out = disc(mixed)
        if disc.joint:  # the team logit once; per-agent logits of agents alive in either row (the trained ones)
            out = out[:, 0] if not disc.per_agent_logits else out * either_alive
        # per-agent: D_k depends on agent k's rows only, so the gradient of the summed logits is each row's own
        (grad,) = torch.autograd.grad(out.sum(), mixed, create_graph=True)
        gp = (grad.norm(dim=-1) - 1).pow(2).mean(1) if not disc.joint else (grad.flatten(1).norm(dim=-1) - 1).pow(2).mean()
    else:
        gp = torch.zeros(())
    loss = (bce + gp_lambda * gp).sum() if not disc.joint else bce.sum() + gp_lambda * gp
    with torch.no_grad():
        def acc(correct, m):
            return float(correct.float().mean()) if m is None else float((correct.float() * m).sum() / m.sum().clamp(min=1))
        stats = {"disc_bce": float(bce.mean()), "disc_gp": float(gp.mean()),
                 "disc_expert_acc": acc(e_logit > 0, e_mask), "disc_policy_acc": acc(p_logit < 0, p_mask)}
    return loss, stats


def gail_reward(logits: torch.Tensor, transform: RewardTransform = "logit") -> torch.Tensor:
    """The discriminator's reward: ``logit`` = log D - log(1 - D) (DM²'s reference code, default); ``softplus`` =
    -log(1 - D); ``log_d`` = log D; ``two_sigmoid_minus_one`` = 2 D - 1 (MAGAIL's code), in (-1, 1)."""
    if transform == "logit":
        return logits
    if transform == "softplus":
        return F.softplus(logits)
    if transform == "log_d":
        return -F.softplus(-logits)
    if transform == "two_sigmoid_minus_one":
        return 2 * torch.sigmoid(logits) - 1
    raise ValueError(f"unknown reward transform {transform!r}; allowed: {', '.join(REWARD_TRANSFORMS)}")


class AdversarialReward:
    """The reward hook: a discriminator, its optimiser and its expert source. ``__call__(x, decided)`` trains the
    discriminator for ``epochs`` steps on expert rows against this rollout's rows and returns the imitation reward of
    every rollout step [T, N, K] (zero where the agent did not act: padding, after death) and the statistics."""

    def __init__(self, kind: DiscriminatorKind, n_agents: int, in_dim: int, hidden: int, lr: float, gp_lambda: float,
                 transform: RewardTransform, epochs: int, batch_rows: int, generator: torch.Generator):
        self.disc = make_discriminator(kind, n_agents, in_dim, hidden)
        self.opt = torch.optim.Adam(self.disc.parameters(), lr=lr)
        self.gp_lambda, self.transform, self.epochs, self.batch_rows = gp_lambda, transform, epochs, batch_rows
        self.gen = generator

    def __call__(self, x: torch.Tensor, decided: torch.Tensor, expert) -> tuple[torch.Tensor, dict]:
        """x [T, N, K, in] the rollout's discriminator inputs, decided [T, N, K] where the agent acted; ``expert``:
        per-agent pools (list of [n_k, in]) or joint (x [n, K, in], alive [n, K])."""
        K = x.shape[2]
        if self.disc.joint:
            steps = decided.any(-1)
            p_x, p_alive = x[steps] * decided[steps].unsqueeze(-1).to(x.dtype), decided[steps]
        else:
            policy_pools = [x[..., k, :][decided[..., k]] for k in range(K)]
        with torch.autocast("cpu", enabled=False):
            for _ in range(self.epochs):
                if self.disc.joint:
                    e_batch = sample_joint(*expert, self.batch_rows, self.gen)
                    p_batch = sample_joint(p_x, p_alive, self.batch_rows, self.gen)
                else:
                    e_batch = sample_rows(expert, self.batch_rows, self.gen)
                    p_batch = sample_rows(policy_pools, self.batch_rows, self.gen)
                loss, stats = discriminator_loss(self.disc, e_batch, p_batch, self.gp_lambda, self.gen)
                self.opt.zero_grad(set_to_none=True)
                loss.backward()
                self.opt.step()
            with torch.no_grad():
                if self.disc.joint:
                    lead = x.shape[:2]
                    zeroed = x * decided.unsqueeze(-1).to(x.dtype)
                    logits = self.disc(zeroed.reshape(-1, K, x.shape[-1])).reshape(*lead, K)  # [T, N, K]
                else:
                    logits = self.disc(x.movedim(2, 0).reshape(K, -1, x.shape[-1]))  # [K, T*N]
                    logits = logits.reshape(K, *decided.shape[:2]).movedim(0, -1)
        r_d = gail_reward(logits, self.transform)
        r_d = torch.where(decided, r_d, torch.zeros_like(r_d))  # no imitation reward on padding or after death
        stats["gail_reward_mean"] = float(r_d.sum() / decided.sum().clamp(min=1))
        return r_d, stats

    def state_dict(self) -> dict:
        return {"disc": self.disc.state_dict(), "disc_optimizer": self.opt.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.disc.load_state_dict(state["disc"])
        self.opt.load_state_dict(state["disc_optimizer"])


def one_hot_features(n_actions: int, with_actions: bool):
    """The discriminator's input features: the observation (state-only) or observation ⊕ one-hot action."""
    def features(obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        if not with_actions:
            return obs.float()
        return torch.cat([obs.float(), F.one_hot(actions.long(), n_actions).float()], -1)
    return features


__all__ = ["AdversarialReward", "DISCRIMINATORS", "DISC_STATS", "Discriminators", "ImitationError",
           "JointDiscriminator", "REWARD_TRANSFORMS", "SelfImitationStore", "agent_pools", "discriminator_loss",
           "gail_reward", "joint_rows", "make_discriminator", "one_hot_features", "sample_joint", "sample_rows"]
