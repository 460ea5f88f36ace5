"""What every adversarial-imitation arm shares: expert sources, discriminators, their losses, reward transforms, and
the reward hook an on-policy generator calls between collecting a rollout and computing advantages.

Discriminators (``DISCRIMINATORS``), each on agent inputs x_k = o_k (state-only) or o_k ⊕ one-hot a_k:
- ``per_agent``: K independent MLPs, D_k(x_k) (DM²; MAGAIL "decentralized"; MILD²-GD). Stacked for speed, nothing
  crosses agents. Each agent's rows are sampled from its own pool of living steps (the reference code's bug #6:
  padding and dead agents are never seen).
- ``joint``: one MLP over all agents' inputs of one time step (a dead agent's input is zeros), one logit per agent
  (MAGAIL "centralized"). Logit k is trained and read only where agent k is alive.
- ``joint_single``: the same joint input, one logit for the team (MAGAIL "single"); every living agent gets its reward.
- ``transformer``: MILD²'s (``TransformerDiscriminator``): MAT's encoder blocks over the agents' observations, its
  decoder blocks without masks over the embedded (unshifted) joint action, attending to the encoder's output, one
  logit per agent token; L2 attention with tied query and key weights by default.
Joint discriminators need joint rows, which keep the agents of one time step together: only concurrent
demonstrations (every agent's column from the same episodes) can supply them. ``spectral_norm_`` divides every
linear layer's weight by its spectral norm (computed exactly; MILD²'s second Lipschitz measure).

Losses (``DISCRIMINATOR_LOSSES``):
- ``bce``: expert = 1, policy = 0, plus ``gp_lambda`` (||grad_x D(x_hat)|| - 1)^2 at random interpolates of expert and
  policy rows (``gp_lambda`` 0 = plain BCE, as MAGAIL).
- ``wasserstein``: MILD²'s Eq. 6, per agent k the Kantorovich dual E_y[d_k(y)] - E_x[d_k(x)] over expert rows y and
  policy rows x, plus E_{x,y}[Omega] with Omega = -(d_k(y) - d_k(x) - c(x, y))^2 / (4 epsilon) over every pair of the
  two batches, summed over agents and maximised. ``hinge`` (default, assumed) squares only the positive part, a
  violation of the 1-Lipschitz bound; ``literal`` squares either sign, as Eq. 6 is printed. The ground cost c is the
  Euclidean distance between the discriminator's inputs: the agent's own rows for a per-agent discriminator, the
  whole joint rows divided by sqrt(K) for a joint one (the RMS of the agents' distances, the same scale; assumed: the
  paper names none). Eq. 6 writes its terms over "rho^{1:k}", prefixes of the joint sample; an unmasked decoder's
  logit k reads every agent, so every term takes the whole joint sample (assumed).

Reward transforms (``REWARD_TRANSFORMS``) of the logit d: logit = d = log D - log(1 - D) (DM²'s reference code; a
Wasserstein critic's potential), softplus = -log(1 - D), log_d = log D, two_sigmoid_minus_one = 2σ(d) - 1 (MAGAIL's
code), neg_log_sigmoid = -log σ(d) (MILD²'s Sec. 4.1 as printed; with Eq. 6's critic high on expert rows it rewards
looking like the policy, so softplus(d) = -log σ(-d) is the coherent reading and MILD²'s default).

Expert sources: ``demo_steps`` (which demonstrated steps: the first episodes, optionally capped at a number of joint
transitions), ``agent_pools`` (per-agent rows of those steps), ``joint_rows`` (joint rows with their alive mask,
concurrent files only), and ``SelfImitationStore`` (the agent's own best episodes, DM²+SIL).
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from torch.nn.utils import parametrize

from algorithms.common.networks import StackedLinear
from algorithms.common.transformer import DecodeBlock, EncodeBlock, mat_head, mat_linear
from algorithms.configs.imitation import DISCRIMINATORS, REWARD_TRANSFORMS, RewardTransform

# the discriminator's statistics in metrics.csv, per loss (disc_loss: the loss minimised, comparable across updates)
DISC_STATS = {"bce": ["disc_loss", "disc_bce", "disc_gp", "disc_expert_acc", "disc_policy_acc", "gail_reward_mean",
                      "gail_reward_std"],
              "wasserstein": ["disc_loss", "disc_w_distance", "disc_w_omega", "disc_expert_mean", "disc_policy_mean",
                              "gail_reward_mean", "gail_reward_std"]}


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


class TransformerDiscriminator(nn.Module):
    """MILD²'s discriminator on joint rows x [B, K, obs_dim + n_actions] (observation ⊕ one-hot action; a dead agent's
    row is zeros) -> logits [B, K]. The encoder is MAT's (LayerNorm-Linear-GELU embedding, LayerNorm, ``n_block``
    unmasked blocks) over the observations; the decoder embeds the one-hot actions (unshifted, no start token, no
    bias, as MAT's action embedding) and runs MAT's decoder blocks with both masks removed, queries from the encoder's
    output; MAT's head gives one logit per agent token. Logit k thus reads every agent's observation and action."""

    joint, per_agent_logits = True, True

    def __init__(self, n_agents: int, obs_dim: int, n_actions: int, width: int = 64, n_block: int = 1,
                 n_head: int = 1, attention: str = "l2"):
        super().__init__()
        self.n_agents, self.obs_dim, self.in_dim = n_agents, obs_dim, obs_dim + n_actions
        self.obs_embed = nn.Sequential(nn.LayerNorm(obs_dim), mat_linear(obs_dim, width, activated=True), nn.GELU())
        self.encoder_ln = nn.LayerNorm(width)
        self.encoder = nn.ModuleList(EncodeBlock(width, n_head, attention) for _ in range(n_block))
        self.action_embed = nn.Sequential(mat_linear(n_actions, width, activated=True, bias=False), nn.GELU())
        self.decoder_ln = nn.LayerNorm(width)
        self.decoder = nn.ModuleList(DecodeBlock(width, n_head, causal=False, attention=attention)
                                     for _ in range(n_block))
        self.head = mat_head(width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rep = self.encoder_ln(self.obs_embed(x[..., :self.obs_dim]))
        for block in self.encoder:
            rep = block(rep)
        y = self.decoder_ln(self.action_embed(x[..., self.obs_dim:]))
        for block in self.decoder:
            y = block(y, rep)
        return self.head(y).squeeze(-1).float()


class SpectralNorm(nn.Module):
    """A parametrisation W -> W / sigma(W), sigma the largest singular value (Miyato et al. 2018), for a weight whose
    last two axes are one matrix and whose leading axes (a stack of per-agent nets) index independent matrices, each
    normalised by its own sigma. sigma is computed exactly (an SVD of the small matrices, its gradient u_1 v_1^T),
    not estimated by power iteration as in Miyato et al.: one iteration per step lags when the top singular values
    are close (measured: normalised norms up to 1.09 after 50 Adam steps from MAT's initialisation, README), and the
    exact value costs little at these sizes."""

    @staticmethod
    def sigma(weight: torch.Tensor) -> torch.Tensor:
        return torch.linalg.matrix_norm(weight, ord=2)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight / self.sigma(weight)[..., None, None]


def spectral_norm_(module: nn.Module) -> nn.Module:
    """Spectral normalisation of every linear layer of ``module`` (``nn.Linear`` and ``StackedLinear``; their
    biases stay free), in place. Each raw weight is first rescaled to spectral norm 1: only W / sigma(W) is used, so
    the scale changes no function, but Adam's steps have a fixed size and the raw scale sets how fast the normalised
    weight turns (at MAT's initial gain 0.01, 100 times faster than at unit scale)."""
    for layer in list(module.modules()):
        if isinstance(layer, (nn.Linear, StackedLinear)):
            with torch.no_grad():
                layer.weight.div_(SpectralNorm.sigma(layer.weight)[..., None, None])
            parametrize.register_parametrization(layer, "weight", SpectralNorm())
    return module


def make_discriminator(cfg, spec) -> nn.Module:
    """The discriminator a config names (``gail_discriminator``, ``gail_input``, its width and shape, spectral
    normalisation) for a task of ``spec``."""
    K, kind = spec.n_agents, cfg.gail_discriminator
    obs_dim = spec.obs_dim + (cfg.gail_terminal == "absorbing")  # and the absorbing-state indicator
    in_dim = obs_dim + (spec.n_actions if cfg.gail_input == "obs_action" else 0)
    if kind == "per_agent":
        disc = Discriminators(K, in_dim, cfg.gail_hidden)
    elif kind in ("joint", "joint_single"):
        disc = JointDiscriminator(K, in_dim, cfg.gail_hidden, per_agent_logits=kind == "joint")
    elif kind == "transformer":
        disc = TransformerDiscriminator(K, obs_dim, spec.n_actions, cfg.gail_hidden, cfg.gail_n_block,
                                        cfg.gail_n_head, cfg.gail_attention)
    else:
        raise ImitationError(f"unknown discriminator {kind!r}; allowed: {', '.join(DISCRIMINATORS)}")
    return spectral_norm_(disc) if cfg.gail_spectral_norm else disc


def assumptions(cfg) -> list[str]:
    """The values a run of this discriminator setting takes that its paper does not give (recorded in the run's
    config.yaml; README: MILD²)."""
    out = []
    if cfg.gail_loss == "wasserstein":
        out += [f"Eq. 6's epsilon {cfg.gail_w_epsilon}",
                f"Eq. 6's Omega: {cfg.gail_w_omega} ("
                + ("only d(y) - d(x) > c(x,y) penalised, the paper's text" if cfg.gail_w_omega == "hinge"
                   else "either sign penalised, Eq. 6 as printed") + ")",
                "ground cost c(x, y): Euclidean distance of the discriminator's inputs (the agent's own rows for a "
                "per-agent discriminator; the joint rows over sqrt(K) for a joint one)",
                "every agent's term over the whole joint sample (Eq. 6's rho^{1:k} prefixes do not fit an unmasked "
                "decoder)"]
    if cfg.gail_discriminator == "transformer":
        out += [f"discriminator shape: {cfg.gail_n_block} block(s), width {cfg.gail_hidden}, {cfg.gail_n_head} "
                f"head(s), {cfg.gail_attention} attention, MAT's post-LayerNorm blocks (MAT's defaults)"]
    if cfg.gail_spectral_norm:
        out += ["spectral normalisation with the exact sigma (SVD), raw weights rescaled to norm 1 at the start"]
    return out


# ------------------------------------------------------------------------------------------------ expert sources
@dataclass
class RowPool:
    """The rows one side of a discriminator step is drawn from: ``rows`` as they are, then ``n_terminal`` copies of
    ``terminal``, the input of an agent that no longer acts (dead, or after a terminated episode's end:
    ``gail_terminal``), counted rather than stored. A joint pool carries ``alive`` [n, K], the logits each row
    trains; its terminal rows train every logit."""

    rows: torch.Tensor  # [n, in] (per agent) or [n, K, in] (joint)
    alive: torch.Tensor | None = None  # joint: [n, K] bool
    n_terminal: int = 0
    terminal: torch.Tensor | None = None  # [in] or [K, in]

    def __len__(self) -> int:
        return len(self.rows) + self.n_terminal

    def sample(self, batch: int, generator: torch.Generator):
        """``batch`` rows drawn uniformly with replacement: x (joint: (x, alive))."""
        n_rows = len(self.rows)
        idx = torch.randint(len(self), (batch,), generator=generator)
        if self.n_terminal == 0:  # no terminal rows: the draws of a pool without them
            x, alive = self.rows[idx], None if self.alive is None else self.alive[idx]
        else:
            real = idx < n_rows
            terminal = self.terminal.expand(batch, *self.terminal.shape)
            x = (torch.where(real.view(-1, *[1] * self.terminal.dim()), self.rows[idx.clamp(max=n_rows - 1)], terminal)
                 if n_rows else terminal.clone())
            alive = None
            if self.alive is not None:
                everyone = torch.ones(batch, self.terminal.shape[0], dtype=torch.bool)
                alive = torch.where(real.unsqueeze(-1), self.alive[idx.clamp(max=n_rows - 1)], everyone) if n_rows \
                    else everyone
        return x if self.alive is None else (x, alive)


def sample_rows(pools: list, batch: int, generator: torch.Generator) -> torch.Tensor:
    """Per-agent rows: draw ``batch`` rows (with replacement) from each agent's own pool (rows [n_k, in] or a
    ``RowPool``) -> [K, batch, in]."""
    rows = []
    for k, pool in enumerate(pools):
        if len(pool) == 0:
            raise ValueError(f"agent {k} has no valid rows to train its discriminator on")
        rows.append(pool.sample(batch, generator) if isinstance(pool, RowPool)
                    else pool[torch.randint(len(pool), (batch,), generator=generator)])
    return torch.stack(rows)


def sample_joint(rows, alive: torch.Tensor | None, batch: int, generator: torch.Generator):
    """Joint rows: draw ``batch`` time steps (with replacement) from rows [n, K, in] with alive [n, K] (or a joint
    ``RowPool``, alive None) -> (x [batch, K, in], alive [batch, K])."""
    pool = rows if isinstance(rows, RowPool) else RowPool(rows, alive)
    if len(pool) == 0:
        raise ValueError("no joint rows (time steps with a living agent) to train the discriminator on")
    return pool.sample(batch, generator)


def demo_steps(demos, episodes: int, max_transitions: int | None = None) -> np.ndarray:
    """The demonstrated time steps an expert source draws from, [episodes, T] bool: those with at least one living
    agent in the first ``episodes`` episodes and, given ``max_transitions``, only the first that many of them in
    episode order (the last episode kept may be cut: MILD²'s "100,000 joint transitions")."""
    kept = demos.alive[:episodes].any(-1)
    if max_transitions is not None:
        kept = kept & (np.cumsum(kept.ravel()).reshape(kept.shape) <= max_transitions)
    return kept


def agent_pools(demos, steps: np.ndarray, features) -> list[torch.Tensor]:
    """Per agent, its living demonstrated steps among ``steps`` (``demo_steps``) as discriminator inputs
    (``features(obs, actions)``). An agent with none raises ``ImitationError``: its discriminator would have no
    expert side."""
    sl = slice(0, steps.shape[0])
    pools = []
    for k in range(demos.obs.shape[2]):
        mask = demos.alive[sl, :, k] & steps
        obs, actions = demos.obs[sl, :, k][mask], demos.actions[sl, :, k][mask].astype("int64")
        pools.append(features(torch.as_tensor(obs), torch.as_tensor(actions)))
    empty = [k for k, rows in enumerate(pools) if len(rows) == 0]
    if empty:
        raise ImitationError(f"agents {empty} have no living step among the first {int(steps.sum())} joint "
                             f"transitions kept: raise demo_max_transitions or demo_episodes")
    return pools


def require_concurrent(demos) -> None:
    meta = demos.metadata
    if not meta.get("concurrent", False):
        raise ImitationError(f"a joint discriminator needs joint rows, which only concurrent demonstrations supply "
                             f"(styles cotrained_concurrent, indep_concurrent); these are {meta.get('style')!r}")


def joint_rows(demos, steps: np.ndarray, features) -> tuple[torch.Tensor, torch.Tensor]:
    """The time steps ``steps`` (``demo_steps``), agents kept together: (x [n, K, in] with dead agents zeroed,
    alive [n, K]). Only concurrent demonstrations have such rows: in the
    non-concurrent styles, index e is a different episode for every agent."""
    require_concurrent(demos)
    E = steps.shape[0]
    alive, kept = torch.as_tensor(demos.alive[:E]), torch.as_tensor(steps)  # [E, T, K], [E, T]
    x = features(torch.as_tensor(demos.obs[:E]), torch.as_tensor(demos.actions[:E].astype("int64")))
    x, alive = x[kept], alive[kept]
    return x * alive.unsqueeze(-1).to(x.dtype), alive


def terminal_row(cfg, spec) -> torch.Tensor:
    """The discriminator input of an agent that no longer acts (``gail_terminal``): zeros (``reference``: the DM²
    code's padding and dead-agent rows) or the absorbing state s_a, zeros with its indicator set (``absorbing``)."""
    absorbing = cfg.gail_terminal == "absorbing"
    row = torch.zeros(spec.obs_dim + absorbing + (spec.n_actions if cfg.gail_input == "obs_action" else 0))
    if absorbing:
        row[spec.obs_dim] = 1.0
    return row


def tail_rows(length: np.ndarray | torch.Tensor, limit: int, mode: str):
    """Terminal rows a terminated episode of ``length`` steps adds to its side's pool: ``reference`` its padding to
    the episode limit, ``absorbing`` one s_a row (DAC's absorbing transition)."""
    return limit - length if mode == "reference" else length * 0 + 1


def tail_weight(length: torch.Tensor, limit: int, gamma: float, mode: str) -> torch.Tensor:
    """The factor of r_D(terminal row) a terminated episode's last step is credited with: ``reference`` its padded
    steps to the limit, sum_{j=1}^{limit - length} gamma^j; ``absorbing`` s_a's value after the step,
    gamma / (1 - gamma) (s_a loops on itself with reward r_D(s_a))."""
    if mode == "absorbing":
        return torch.full(length.shape, gamma / (1 - gamma))
    m = (limit - length).double()
    weight = m if gamma == 1 else gamma * (1 - torch.pow(torch.tensor(gamma, dtype=torch.float64), m)) / (1 - gamma)
    return weight.float()


def terminal_expert(demos, steps: np.ndarray, features, terminal: torch.Tensor, joint: bool, limit: int, mode: str):
    """The expert source under ``gail_terminal`` reference or absorbing: the demonstrated steps ``steps`` with a
    dead agent's input replaced by ``terminal``, plus the terminal rows of each terminated episode kept whole
    (``tail_rows``). Per agent: a ``RowPool`` per agent (its living rows; its dead steps and the tails counted);
    joint: one ``RowPool`` of joint rows (every logit trained) and the tails."""
    E = steps.shape[0]
    alive, lengths = demos.alive[:E], demos.length[:E]  # [E, T, K], [E, K]
    T, K = alive.shape[1], alive.shape[2]
    in_episode = np.arange(T)[None, :, None] < lengths[:, None, :]  # [E, T, K]: agent k's column's own episode
    terminated = (lengths < limit) | demos.won[:E]  # [E, K]: ended by its outcome, not at the limit
    whole = steps.sum(1)[:, None] >= lengths  # the cap kept the episode whole
    tails = np.where(terminated & whole, tail_rows(lengths, limit, mode), 0)  # [E, K]
    if not joint:
        pools = []
        for k, living in enumerate(agent_pools(demos, steps, features)):
            dead = int((in_episode[..., k] & ~alive[..., k] & steps).sum())
            pools.append(RowPool(living, n_terminal=dead + int(tails[:, k].sum()), terminal=terminal))
        return pools
    require_concurrent(demos)
    kept = torch.as_tensor(steps & in_episode[..., 0])
    x_all = features(torch.as_tensor(demos.obs[:E]), torch.as_tensor(demos.actions[:E].astype("int64")))
    x = torch.where(torch.as_tensor(alive).unsqueeze(-1), x_all, terminal)[kept]
    return RowPool(x, torch.ones(x.shape[:2], dtype=torch.bool), int(tails[:, 0].sum()),
                   terminal.expand(K, -1).clone())


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
def _masked_mean(x: torch.Tensor, mask: torch.Tensor, dims) -> torch.Tensor:
    return (x * mask).sum(dims) / mask.sum(dims).clamp(min=1)


def bce_loss(disc: nn.Module, expert, policy, gp_lambda: float,
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
        bce = (_masked_mean(F.binary_cross_entropy_with_logits(e_logit, torch.ones_like(e_logit), reduction="none"),
                            e_mask, 0)
               + _masked_mean(F.binary_cross_entropy_with_logits(p_logit, torch.zeros_like(p_logit),
                                                                 reduction="none"), p_mask, 0))
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
        stats = {"disc_loss": float(loss.detach()), "disc_bce": float(bce.mean()), "disc_gp": float(gp.mean()),
                 "disc_expert_acc": acc(e_logit > 0, e_mask), "disc_policy_acc": acc(p_logit < 0, p_mask)}
    return loss, stats


def wasserstein_loss(disc: nn.Module, expert, policy, epsilon: float,
                     omega: str = "hinge") -> tuple[torch.Tensor, dict]:
    """MILD²'s Eq. 6 to minimise: -sum_k (E_y[d_k(y)] - E_x[d_k(x)] + E_{x,y}[Omega_k(x, y)]), Omega_k(x, y) =
    -(d_k(y) - d_k(x) - c(x, y))^2 / (4 epsilon), over every pair of a policy row x and an expert row y of the two
    batches; ``hinge`` keeps only the positive part of the difference before squaring, ``literal`` keeps both signs.

    Per-agent discriminator: ``expert``/``policy`` [K, B, in], c(x, y) the distance of agent k's own rows. Joint: (x
    [B, K, in], alive [B, K]), c(x, y) the distance of the whole joint rows divided by sqrt(K) (the root mean square
    of the agents' own distances: the per-agent cost's scale); agent k's expectations run over the rows where it is
    alive (its pairs: alive in both), as the BCE's (a team logit: every row, once)."""
    if omega not in ("hinge", "literal"):
        raise ValueError(f"unknown omega {omega!r}; allowed: hinge, literal")
    exact = "donot_use_mm_for_euclid_dist"  # the distances of near rows exactly, not through |x|^2 - 2xy + |y|^2
    if not disc.joint:
        d_y, d_x = disc(expert), disc(policy)  # [K, B]
        cost = torch.cdist(policy.float(), expert.float(), compute_mode=exact)  # [K, Bx, By]
        gap = d_y.unsqueeze(1) - d_x.unsqueeze(2) - cost
        sq = (gap.clamp(min=0) if omega == "hinge" else gap).pow(2)
        omega_k = -sq.mean((1, 2)) / (4 * epsilon)
        e_mean, p_mean = d_y.mean(1), d_x.mean(1)
    else:
        (y, y_alive), (x, x_alive) = expert, policy
        d_y, d_x = disc(y), disc(x)  # [B, K]
        if not disc.per_agent_logits:  # one team logit, counted once per row
            d_y, d_x = d_y[:, :1], d_x[:, :1]
            y_alive, x_alive = y_alive.any(-1, keepdim=True), x_alive.any(-1, keepdim=True)
        # per agent: the joint rows' distance over sqrt(K), the RMS of the agents' own distances, so that MILD² and
        # MILD²-GD (whose cost is one agent's distance) hold their critics to the same scale
        cost = torch.cdist(x.flatten(1).float()[None], y.flatten(1).float()[None], compute_mode=exact)[0]
        cost = cost / math.sqrt(x.shape[1])  # [Bx, By]
        gap = d_y.unsqueeze(0) - d_x.unsqueeze(1) - cost.unsqueeze(-1)  # [Bx, By, K]
        sq = (gap.clamp(min=0) if omega == "hinge" else gap).pow(2)
        pairs = (x_alive.unsqueeze(1) & y_alive.unsqueeze(0)).float()
        omega_k = -_masked_mean(sq, pairs, (0, 1)) / (4 * epsilon)
        e_mean, p_mean = _masked_mean(d_y, y_alive.float(), 0), _masked_mean(d_x, x_alive.float(), 0)
    dual = e_mean - p_mean  # [K]
    loss = -(dual + omega_k).sum()
    with torch.no_grad():
        stats = {"disc_loss": float(loss), "disc_w_distance": float(dual.mean()), "disc_w_omega": float(omega_k.mean()),
                 "disc_expert_mean": float(e_mean.mean()), "disc_policy_mean": float(p_mean.mean())}
    return loss, stats


def gail_reward(logits: torch.Tensor, transform: RewardTransform = "logit") -> torch.Tensor:
    """The discriminator's reward: ``logit`` = log D - log(1 - D) (DM²'s reference code, default); ``softplus`` =
    -log(1 - D); ``log_d`` = log D; ``two_sigmoid_minus_one`` = 2 D - 1 (MAGAIL's code), in (-1, 1);
    ``neg_log_sigmoid`` = -log D (MILD²'s Sec. 4.1 as printed)."""
    if transform == "logit":
        return logits
    if transform == "softplus":
        return F.softplus(logits)
    if transform == "log_d":
        return -F.softplus(-logits)
    if transform == "two_sigmoid_minus_one":
        return 2 * torch.sigmoid(logits) - 1
    if transform == "neg_log_sigmoid":
        return F.softplus(-logits)
    raise ValueError(f"unknown reward transform {transform!r}; allowed: {', '.join(REWARD_TRANSFORMS)}")


# rollout rows rewarded per discriminator call: a paper-size rollout (1024 episodes of 8 agents) in one call would
# hold gigabytes of attention intermediates
REWARD_CHUNK_ROWS = 8192


@dataclass
class EpisodeEnds:
    """Where a rollout's episodes are and how the terminated ones end, for ``gail_terminal`` reference and
    absorbing: ``in_episode`` [T, N] (steps that belong to an episode of the update), ``tail`` [T, N] the factor of
    r_D(terminal row) credited at a terminated episode's last step (``tail_weight``, 0 elsewhere) and ``n_tail`` the
    terminal rows those endings add to the policy's side (``tail_rows``)."""

    in_episode: torch.Tensor
    tail: torch.Tensor
    n_tail: int

    @classmethod
    def of(cls, buf, limit: int, gamma: float, mode: str) -> "EpisodeEnds":
        ends = buf.terminated & buf.valid
        length = buf.episode_length[ends]
        tail = torch.zeros(buf.valid.shape)
        tail[ends] = tail_weight(length, limit, gamma, mode)
        return cls(buf.valid, tail, int(tail_rows(length, limit, mode).sum()))


class AdversarialReward:
    """The reward hook: a discriminator, its optimiser and its expert source. ``__call__(x, decided)`` trains the
    discriminator for ``gail_epochs`` steps on expert rows against this rollout's rows and returns the imitation
    reward of every rollout step [T, N, K] (under ``gail_terminal`` none: zero where the agent did not act, padding
    and after death; reference and absorbing: see ``rewards``) and the statistics."""

    def __init__(self, cfg, spec, generator: torch.Generator):
        self.disc = make_discriminator(cfg, spec)
        self.opt = torch.optim.Adam(self.disc.parameters(), lr=cfg.gail_lr)
        self.cfg, self.gen = cfg, generator  # its gail_loss and reward transform were checked with the config
        self.terminal = terminal_row(cfg, spec) if cfg.gail_terminal != "none" else None

    def with_terminal(self, x: torch.Tensor, decided: torch.Tensor) -> torch.Tensor:
        """Inputs [..., K, in] with every agent that does not act given the terminal row."""
        return torch.where(decided.unsqueeze(-1), x, self.terminal)

    def policy_pools(self, x: torch.Tensor, decided: torch.Tensor, ends: EpisodeEnds | None):
        """This rollout's side: per agent its living rows (and, with terminal rows, its dead steps and the tails
        counted); joint: the time steps with dead agents zeroed, or (terminal rows) every step of an episode with
        dead agents given the terminal row and the tails."""
        K = x.shape[2]
        if ends is None:
            if self.disc.joint:
                steps = decided.any(-1)
                return RowPool(x[steps] * decided[steps].unsqueeze(-1).to(x.dtype), decided[steps])
            return [RowPool(x[..., k, :][decided[..., k]]) for k in range(K)]
        if self.disc.joint:
            rows = self.with_terminal(x, decided)[ends.in_episode]
            return RowPool(rows, torch.ones(rows.shape[:2], dtype=torch.bool), ends.n_tail,
                           self.terminal.expand(K, -1).clone())
        dead = (ends.in_episode.unsqueeze(-1) & ~decided).sum((0, 1))
        return [RowPool(x[..., k, :][decided[..., k]], n_terminal=int(dead[k]) + ends.n_tail, terminal=self.terminal)
                for k in range(K)]

    def step_loss(self, expert_batch, policy_batch) -> tuple[torch.Tensor, dict]:
        cfg = self.cfg
        if cfg.gail_loss == "bce":
            return bce_loss(self.disc, expert_batch, policy_batch, cfg.gail_gp_lambda, self.gen)
        return wasserstein_loss(self.disc, expert_batch, policy_batch, cfg.gail_w_epsilon, cfg.gail_w_omega)

    def __call__(self, x: torch.Tensor, decided: torch.Tensor, expert,
                 ends: EpisodeEnds | None = None) -> tuple[torch.Tensor, dict]:
        """x [T, N, K, in] the rollout's discriminator inputs, decided [T, N, K] where the agent acted; ``expert``:
        per-agent pools (list of [n_k, in] or ``RowPool``) or joint ((x [n, K, in], alive [n, K]) or ``RowPool``);
        ``ends``: given with terminal rows (``gail_terminal`` reference, absorbing)."""
        policy = self.policy_pools(x, decided, ends)
        if self.disc.joint and not isinstance(expert, RowPool):
            expert = RowPool(*expert)
        with torch.autocast("cpu", enabled=False):
            rows = self.cfg.gail_batch_rows
            for _ in range(self.cfg.gail_epochs):
                if self.disc.joint:
                    e_batch = sample_joint(expert, None, rows, self.gen)
                    p_batch = sample_joint(policy, None, rows, self.gen)
                else:
                    e_batch = sample_rows(expert, rows, self.gen)
                    p_batch = sample_rows(policy, rows, self.gen)
                with parametrize.cached():  # spectral norms: one SVD per layer and step, not one per forward
                    loss, stats = self.step_loss(e_batch, p_batch)
                self.opt.zero_grad(set_to_none=True)
                loss.backward()
                self.opt.step()
        r_d = self.rewards(x, decided, ends)
        living = r_d if ends is None else self.rewards(x, decided)  # the statistics: living steps, no tails
        stats["gail_reward_mean"] = float(living.sum() / decided.sum().clamp(min=1))
        stats["gail_reward_std"] = float(living[decided].std()) if decided.sum() > 1 else float("nan")
        return r_d, stats

    @torch.no_grad()
    def rewards(self, x: torch.Tensor, decided: torch.Tensor, ends: EpisodeEnds | None = None) -> torch.Tensor:
        """The current discriminator's imitation reward of every step [T, N, K] of rollout inputs x [T, N, K, in].
        Without ``ends`` (``gail_terminal`` none): zero where the agent did not act (padding, after death; a dead
        agent's joint input is zeros). With ``ends``: a dead agent's step of an episode is rewarded as its terminal
        row (per agent: r_D(terminal); joint: logit k of the step's row with every dead agent's input terminal), a
        terminated episode's last step also gets ``ends.tail`` times r_D of the all-terminal row, and steps outside
        the update's episodes get zero."""
        if ends is not None:
            r_d = self.rewards(self.with_terminal(x, decided), ends.in_episode.unsqueeze(-1).expand_as(decided))
            everyone = self.terminal.expand(1, x.shape[2], -1)  # [1, K, in]: the all-terminal step
            r_end = self.rewards(everyone.unsqueeze(0), torch.ones(1, 1, x.shape[2], dtype=torch.bool))[0, 0]
            return r_d + ends.tail.unsqueeze(-1) * r_end
        K, chunk = x.shape[2], REWARD_CHUNK_ROWS
        with torch.autocast("cpu", enabled=False), parametrize.cached():
            if self.disc.joint:
                rows = (x * decided.unsqueeze(-1).to(x.dtype)).reshape(-1, K, x.shape[-1])
                logits = torch.cat([self.disc(part) for part in rows.split(chunk)]).reshape(*x.shape[:2], K)
            else:
                rows = x.movedim(2, 0).reshape(K, -1, x.shape[-1])
                logits = torch.cat([self.disc(part) for part in rows.split(chunk, dim=1)], 1)  # [K, T*N]
                logits = logits.reshape(K, *decided.shape[:2]).movedim(0, -1)
        r_d = gail_reward(logits, self.cfg.gail_reward_transform)
        return torch.where(decided, r_d, torch.zeros_like(r_d))  # no imitation reward on padding or after death

    def state_dict(self) -> dict:
        return {"disc": self.disc.state_dict(), "disc_optimizer": self.opt.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.disc.load_state_dict(state["disc"])
        self.opt.load_state_dict(state["disc_optimizer"])


def one_hot_features(n_actions: int, with_actions: bool, absorbing: bool = False):
    """The discriminator's input features: the observation (state-only) or observation ⊕ one-hot action; with
    ``absorbing`` (``gail_terminal``), an absorbing-state indicator (0 here) follows the observation."""
    def features(obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        parts = [obs.float()]
        if absorbing:
            parts.append(torch.zeros(*obs.shape[:-1], 1))
        if with_actions:
            parts.append(F.one_hot(actions.long(), n_actions).float())
        return parts[0] if len(parts) == 1 else torch.cat(parts, -1)
    return features


__all__ = ["AdversarialReward", "assumptions", "DISCRIMINATORS", "DISC_STATS", "Discriminators", "EpisodeEnds",
           "ImitationError", "JointDiscriminator", "REWARD_TRANSFORMS", "RowPool", "SelfImitationStore", "SpectralNorm", "TransformerDiscriminator",
           "agent_pools", "bce_loss", "demo_steps", "gail_reward", "joint_rows", "make_discriminator",
           "one_hot_features", "sample_joint", "sample_rows", "spectral_norm_", "tail_rows", "tail_weight",
           "terminal_expert", "terminal_row", "wasserstein_loss"]
