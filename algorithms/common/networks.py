"""Stacked per-agent networks: G independent networks evaluated with one batched matmul per layer.

Every parameter has a leading "net" axis of size G; net g's output depends only on slice g of every parameter, so
networks share nothing but the kernel launch (tests check that gradients do not cross nets). Inputs are [G, B, D].
"""
from __future__ import annotations

import contextlib
import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn


def _orthogonal_(weight: torch.Tensor, gain: float) -> None:
    # Orthogonal init per net; weights are stored [G, in, out], torch's init works on [out, in].
    for w in weight:
        nn.init.orthogonal_(w.T, gain=gain)


class StackedLinear(nn.Module):
    def __init__(self, n_nets: int, in_dim: int, out_dim: int, gain: float = math.sqrt(2)):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_nets, in_dim, out_dim))
        self.bias = nn.Parameter(torch.zeros(n_nets, 1, out_dim))
        _orthogonal_(self.weight.data, gain)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class StackedLayerNorm(nn.Module):
    """Per-net LayerNorm. Every LayerNorm in these networks feeds a linear layer, so its affine part is folded into
    that layer's weights (``fold_into``): the same function and parameters, minus two passes over the activations."""

    def __init__(self, n_nets: int, dim: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n_nets, 1, dim))
        self.bias = nn.Parameter(torch.zeros(n_nets, 1, dim))
        self.eps = eps

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, x.shape[-1:], eps=self.eps)

    def fold_into(self, weight: torch.Tensor, bias: torch.Tensor, nets: slice = slice(None)):
        """(W', b') such that normalize(x) @ W' + b' == (normalize(x) * w + beta) @ W + b, for each of ``nets``."""
        return self.weight[nets].transpose(1, 2) * weight, torch.baddbmm(bias, self.bias[nets], weight)


def _tanh(x: torch.Tensor) -> torch.Tensor:
    """tanh; in compiled code as 2 sigmoid(2x) - 1 (the same function, to rounding): inductor's CPU tanh runs 5x
    slower than eager's, its sigmoid about as fast (``workflow/scripts/bench_throughput.py`` measures the update)."""
    return 2 * torch.sigmoid(2 * x) - 1 if torch.compiler.is_compiling() else torch.tanh(x)


class StackedGRU(nn.Module):
    """A GRU cell per net (torch.nn.GRU's equations and gate order r, z, n)."""

    def __init__(self, n_nets: int, in_dim: int, hidden: int):
        super().__init__()
        self.hidden = hidden
        self.w_ih = nn.Parameter(torch.empty(n_nets, in_dim, 3 * hidden))
        self.w_hh = nn.Parameter(torch.empty(n_nets, hidden, 3 * hidden))
        self.b_ih = nn.Parameter(torch.zeros(n_nets, 1, 3 * hidden))
        self.b_hh = nn.Parameter(torch.zeros(n_nets, 1, 3 * hidden))
        _orthogonal_(self.w_ih.data, 1.0)
        _orthogonal_(self.w_hh.data, 1.0)

    def cell(self, gi: torch.Tensor, h: torch.Tensor, w_hh: torch.Tensor | None = None,
             b_hh: torch.Tensor | None = None) -> torch.Tensor:
        """gi: the input half of the gates (x @ w_ih + b_ih, computed for a whole sequence at once); w_hh, b_hh: the
        recurrent weights where the caller holds them ready (acting), else the parameters."""
        w_hh, b_hh = (self.w_hh, self.b_hh) if w_hh is None else (w_hh, b_hh)
        gh = torch.baddbmm(b_hh, h, w_hh)
        i_r, i_z, i_n = gi.chunk(3, -1)
        h_r, h_z, h_n = gh.chunk(3, -1)
        r = torch.sigmoid(i_r + h_r)
        z = torch.sigmoid(i_z + h_z)
        n = _tanh(i_n + r * h_n)
        return n + z * (h - n)  # (1 - z) * n + z * h


class RecurrentTrunk(nn.Module):
    """LayerNorm(in) -> [Linear -> ReLU -> LayerNorm] x2 -> GRU -> LayerNorm (the DM² reference trunk), for
    ``n_inputs * nets_per_input`` nets; net j*n_inputs + k reads input k of x [n_inputs, B, in] (an agent's actor,
    j=0, and critic, j=1, read the same observation, which is then normalised and multiplied only once)."""

    def __init__(self, n_inputs: int, nets_per_input: int, in_dim: int, hidden: int):
        super().__init__()
        self.n_inputs, self.nets_per_input, self.hidden = n_inputs, nets_per_input, hidden
        n_nets = n_inputs * nets_per_input
        self.input_norm = StackedLayerNorm(n_nets, in_dim)
        self.fc1 = StackedLinear(n_nets, in_dim, hidden)
        self.norm1 = StackedLayerNorm(n_nets, hidden)
        self.fc2 = StackedLinear(n_nets, hidden, hidden)
        self.norm2 = StackedLayerNorm(n_nets, hidden)
        self.gru = StackedGRU(n_nets, hidden, hidden)
        self.out_norm = StackedLayerNorm(n_nets, hidden)

    def normalize_input(self, x: torch.Tensor) -> torch.Tensor:
        """The parameter-free part of the input LayerNorm; training computes it once per rollout, not per epoch."""
        return self.input_norm.normalize(x)

    def fold(self) -> tuple:
        """The weights of a step: the three input layers' with the LayerNorms' affines folded in, w1 side by side
        per input ([K, in, J*H], so that the normalised input is multiplied once for all its nets), and the GRU's
        recurrent ones: ((w1, b1), (w2, b2), (w3, b3), (w_hh, b_hh))."""
        J, K, H = self.nets_per_input, self.n_inputs, self.hidden
        w, b = self.input_norm.fold_into(self.fc1.weight, self.fc1.bias)  # [J*K, in, H]
        w1 = w.view(J, K, -1, H).permute(1, 2, 0, 3).reshape(K, -1, J * H)
        b1 = b.view(J, K, 1, H).permute(1, 2, 0, 3).reshape(K, 1, J * H)
        return ((w1, b1), self.norm1.fold_into(self.fc2.weight, self.fc2.bias),
                self.norm2.fold_into(self.gru.w_ih, self.gru.b_ih), (self.gru.w_hh, self.gru.b_hh))

    def _gru_inputs(self, x: torch.Tensor, folded: tuple | None = None) -> torch.Tensor:
        """normalised x [n_inputs, B, in] -> the GRU's input gates [n_nets, B, 3H]."""
        J, K, H = self.nets_per_input, self.n_inputs, self.hidden
        (w1, b1), (w2, b2), (w3, b3), _ = folded if folded is not None else self.fold()
        y = torch.baddbmm(b1, x, w1)  # [K, B, J*H]
        y = y.view(K, -1, J, H).permute(2, 0, 1, 3).reshape(J * K, -1, H)
        y = torch.baddbmm(b2, self.norm1.normalize(F.relu(y)), w2)
        return torch.baddbmm(b3, self.norm2.normalize(F.relu(y)), w3)

    def step(self, x: torch.Tensor, h: torch.Tensor, folded: tuple | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """One step: normalised x [n_inputs, B, in], h [n_nets, B, H] -> (normalised features [n_nets, B, H], h).
        The features still need ``out_norm``'s affine, which the heads fold in. ``folded``: ``fold()``'s weights,
        made once for many steps (``CategoricalPolicy.acting``)."""
        h = self.gru.cell(self._gru_inputs(x, folded), h, *(folded[3] if folded is not None else ()))
        return self.out_norm.normalize(h), h

    def sequence(self, x: torch.Tensor, h0: torch.Tensor, reset: torch.Tensor) -> torch.Tensor:
        """Unroll over time. Normalised x [n_inputs, L, B, in], h0 [n_nets, B, H], reset [L, B] (True where an episode starts
        at step t: the hidden state is zeroed before that step). Returns normalised features [n_nets, L, B, H]."""
        K, L, B, _ = x.shape
        gi = self._gru_inputs(x.reshape(K, L * B, -1)).view(-1, L, B, 3 * self.hidden)
        keep = (~reset).to(x.dtype).unsqueeze(-1).unbind(0)  # L x [B, 1], broadcast over nets
        h, outs = h0, []
        # unbind, not gi[:, t]: indexing's backward would materialise a full-size zero gradient at every step.
        for gi_t, keep_t in zip(gi.unbind(1), keep):
            h = self.gru.cell(gi_t, h * keep_t)
            outs.append(h)
        return self.out_norm.normalize(torch.stack(outs, 1))


def _as_autocast(tensors):
    """Cast float32 tensors to the autocast dtype where autocast is on (what autocast does to a matmul's weights at
    every call), so that weights held ready for many steps are cast once."""
    if not torch.is_autocast_enabled("cpu"):
        return tensors
    dtype = torch.get_autocast_dtype("cpu")
    return tuple(_as_autocast(t) if isinstance(t, tuple) else t.to(dtype) for t in tensors)


def gumbel_max(logits: torch.Tensor, uniform: torch.Tensor) -> torch.Tensor:
    """A sample of softmax(logits) over the last axis: argmax(logits + Gumbel noise), the noise from ``uniform``
    (uniforms of the caller's generator, so one fused pass; torch.multinomial costs 5x more here). An unavailable
    action's logit (-1e10) never wins: the noise is below 17 for float32 uniforms."""
    return (logits - torch.log(-torch.log(uniform))).argmax(-1)


class CategoricalPolicy:
    """The policy interface of the on-policy core (``algorithms/common/ppo.py``), for actor-critics whose agents pick
    their actions independently from per-agent logits: ``step_with`` (acting: logits, value, hidden) and ``sequence``
    (training: logits, value) are the network's; sampling, log-probabilities and entropy are here. A policy that
    decodes agents one after another (MAT) implements ``act``, ``greedy``, ``value`` and ``evaluate`` itself."""

    _ready = None  # the acting weights while ``acting()`` holds them
    _acting_fns = None  # {"sample", "greedy", "value"}: the functions acting calls (compiled ones), while acting()

    @contextlib.contextmanager
    def acting(self, compiled: dict | None = None):
        """Within: ``step`` uses weights folded (and cast, under autocast) once, not at every step: acting with
        fixed weights for a whole rollout (the caller does not change them meanwhile). The same numbers as without
        it: the folds are the same operations in the same autocast context. ``compiled``: compiled versions of
        ``_sample``, ``_greedy`` and ``_value`` (``acting_functions``) that act, greedy and value call meanwhile
        (the same numbers up to rounding)."""
        with torch.no_grad():
            self._ready = self.acting_weights()
        self._acting_fns = compiled
        try:
            yield
        finally:
            self._ready = self._acting_fns = None

    def acting_functions(self, compile_them: Callable) -> dict:
        """The functions of acting, each wrapped by ``compile_them`` (``MaybeCompiled``), for ``acting``."""
        return {"sample": compile_them(self._sample), "greedy": compile_them(self._greedy),
                "value": compile_them(self._value)}

    def _acting_call(self, name: str, *args):
        fn = self._acting_fns[name] if self._acting_fns is not None else getattr(self, "_" + name)
        return fn(self._ready, *args)

    def step(self, obs, last_action, avail, h, state=None):
        """One step (``step_with``) with the weights ``acting`` holds ready, else folded here."""
        return self.step_with(self._ready, obs, last_action, avail, h, state)

    def act(self, obs, last_action, avail, h, state, generator: torch.Generator):
        """Sample: -> action [B, K], its log-prob [B, K], value [B, K], next hidden."""
        uniform = torch.rand(avail.shape, generator=generator)
        return self._acting_call("sample", obs, last_action, avail, h, state, uniform)

    def greedy(self, obs, last_action, avail, h):
        """The argmax over available actions: -> action [B, K], next hidden."""
        return self._acting_call("greedy", obs, last_action, avail, h)

    def value(self, obs, last_action, avail, h, state=None):
        """The critic's value [B, K] (the bootstrap after a rollout)."""
        return self._acting_call("value", obs, last_action, avail, h, state)

    # Pure functions of (acting weights or None, inputs): what torch.compile compiles for acting.
    def _sample(self, ready, obs, last_action, avail, h, state, uniform):
        logits, value, h = self.step_with(ready, obs, last_action, avail, h, state)
        logp_all = torch.log_softmax(logits, -1)
        action = gumbel_max(logits, uniform)
        return action, logp_all.gather(-1, action.unsqueeze(-1)).squeeze(-1), value, h

    def _greedy(self, ready, obs, last_action, avail, h):
        logits, _, h = self.step_with(ready, obs, last_action, avail, h)
        return logits.argmax(-1), h

    def _value(self, ready, obs, last_action, avail, h, state):
        return self.step_with(ready, obs, last_action, avail, h, state)[1]

    def evaluate(self, inputs, actions, avail, h0, reset):
        """Re-evaluate a stored batch (inputs from ``inputs``): -> log-prob of ``actions`` [L, B, K], entropy
        [L, B, K], value [L, B, K] (in the critic's output space)."""
        logits, value = self.sequence(inputs, avail, h0, reset)
        logp_all = torch.log_softmax(logits, -1)
        logp = logp_all.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
        return logp, -(logp_all.exp() * logp_all).sum(-1), value


class IndependentActorCritic(CategoricalPolicy, nn.Module):
    """K agents, each with its own actor and its own critic (2K trunks stacked: actors are nets 0..K-1, critics
    K..2K-1). Nothing is shared across agents or between an agent's actor and critic; stacking only batches the math.

    Input per agent: its local observation and the one-hot of its previous action (zeros at an episode's start).
    With ``value_norm`` each critic predicts values normalised by its own agent's running statistics (``ValueNorm``
    of shape [K]); without, raw values (the DM² paper's IPPO)."""

    def __init__(self, n_agents: int, obs_dim: int, n_actions: int, hidden: int = 64, actor_gain: float = 0.01,
                 value_norm: bool = False):
        super().__init__()
        self.n_agents, self.n_actions, self.hidden = n_agents, n_actions, hidden
        self.input_dim = obs_dim + n_actions
        self.trunk = RecurrentTrunk(n_agents, 2, self.input_dim, hidden)
        self.actor_head = StackedLinear(n_agents, hidden, n_actions, gain=actor_gain)
        self.critic_head = StackedLinear(n_agents, hidden, 1, gain=1.0)
        self.value_norm = ValueNorm((n_agents,)) if value_norm else None

    def initial_hidden(self, batch: int) -> torch.Tensor:
        return torch.zeros(2 * self.n_agents, batch, self.hidden)

    def agent_parameter_slices(self, agent: int):
        """(name, tensor slice) of every parameter belonging to agent ``agent`` (its actor and its critic)."""
        K = self.n_agents
        for name, p in self.named_parameters():
            if name.startswith("trunk."):
                yield name + ".actor", p[agent]
                yield name + ".critic", p[K + agent]
            else:
                yield name, p[agent]

    def inputs(self, obs: torch.Tensor, last_action: torch.Tensor, state: torch.Tensor | None = None) -> torch.Tensor:
        """obs [..., K, O] and last_action [..., K] (-1 = none) -> normalised trunk input [K, ..., in].
        Parameter-free, so training computes it once per rollout and reuses it in every epoch. ``state`` (the global
        state) is not used: the critics are decentralised."""
        onehot = F.one_hot((last_action + 1).long(), self.n_actions + 1)[..., 1:].to(obs.dtype)
        x = torch.cat([obs, onehot], -1).movedim(-2, 0).contiguous()
        return self.trunk.normalize_input(x)

    def _head_weights(self):
        # Heads in float32 (bf16 would round values to ~0.1 near 20), with out_norm's affine folded in
        # (nets 0..K-1 are actors, K..2K-1 critics).
        K, norm = self.n_agents, self.trunk.out_norm
        with torch.autocast("cpu", enabled=False):
            return (norm.fold_into(self.actor_head.weight, self.actor_head.bias, slice(0, K)),
                    norm.fold_into(self.critic_head.weight, self.critic_head.bias, slice(K, 2 * K)))

    def acting_weights(self):
        return _as_autocast(self.trunk.fold()), self._head_weights()

    def _heads(self, feats: torch.Tensor, avail: torch.Tensor, head_weights=None):
        K = self.n_agents
        lead = feats.shape[1:-1]
        a, c = (f.reshape(K, -1, self.hidden) for f in feats.split(K))  # split: its backward is a cheap cat
        (w_a, b_a), (w_c, b_c) = head_weights if head_weights is not None else self._head_weights()
        with torch.autocast("cpu", enabled=False):
            logits = torch.baddbmm(b_a, a.float(), w_a).reshape(K, *lead, -1).movedim(0, -2)
            value = torch.baddbmm(b_c, c.float(), w_c).reshape(K, *lead).movedim(0, -1)
        logits = logits.masked_fill(~avail, -1e10)  # unavailable actions get no probability
        return logits, value

    def step_with(self, ready, obs, last_action, avail, h, state=None):
        """Acting: obs [B, K, O], last_action [B, K], avail [B, K, A], h [2K, B, H] -> logits [B,K,A], value [B,K], h.
        ``ready``: ``acting_weights()`` or None (folded here)."""
        trunk_weights, head_weights = ready if ready is not None else (None, None)
        feats, h = self.trunk.step(self.inputs(obs, last_action), h, trunk_weights)
        logits, value = self._heads(feats, avail, head_weights)
        return logits, denormalized_value(self.value_norm, value), h

    @staticmethod
    def reduce_agents(per_agent_loss: torch.Tensor) -> torch.Tensor:
        # A sum of per-agent losses: agent k's parameters get exactly agent k's gradient.
        return per_agent_loss.sum()

    def clip_grad_norm(self, max_norm: float) -> torch.Tensor:
        return clip_grad_norm_per_agent(self, max_norm)

    def value_targets(self, returns, old_values, mask):
        """(returns, old values) in the critic's output space: raw (as in the DM² paper) or, with ``value_norm``,
        normalised by each agent's own statistics."""
        return normalized_targets(self.value_norm, returns, old_values, mask)

    def sequence(self, inputs, avail, h0, reset):
        """Training: inputs [K, L, B, in] (from ``inputs``), avail [L, B, K, A], h0 [2K, B, H], reset [L, B]
        -> logits [L, B, K, A], value [L, B, K]."""
        feats = self.trunk.sequence(inputs, h0, reset)
        return self._heads(feats, avail)


def clip_grad_norm_per_agent(model: nn.Module, max_norm: float) -> torch.Tensor:
    """Clip each actor and each critic to ``max_norm`` separately (for IPPO what K independent learners with their own
    ``clip_grad_norm_`` would do), for a model of K = ``trunk.n_inputs`` actor-critic pairs: a ``trunk`` of 2K nets
    (actors first), an ``actor_head`` and a ``critic_head`` of K nets each. Returns the 2K pre-clip norms (actors
    first, then critics)."""
    K = model.trunk.n_inputs
    sq = torch.zeros(2 * K)
    groups = []  # (grad, net index of each leading slice)
    for name, p in model.named_parameters():
        if p.grad is None:
            continue
        if name.startswith("trunk."):
            idx = torch.arange(2 * K)
        elif name.startswith("actor_head."):
            idx = torch.arange(K)
        else:
            idx = torch.arange(K, 2 * K)
        sq.index_add_(0, idx, p.grad.reshape(p.shape[0], -1).pow(2).sum(1))
        groups.append((p.grad, idx))
    norms = sq.sqrt()
    scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    for grad, idx in groups:
        grad.mul_(scale[idx].view(-1, *([1] * (grad.dim() - 1))))
    return norms


class CentralizedActorCritic(CategoricalPolicy, nn.Module):
    """A centralized controller (CESMA's expert, Lin et al.): one actor and one critic, each a recurrent trunk (IPPO's:
    LayerNorm -> MLP x2 -> GRU -> LayerNorm) over the joint observation, the concatenation of every agent's
    observation and one-hot last action. The actor has one action head per agent, so the joint policy factorises
    into per-agent distributions given the joint observation; the critic gives each agent's value (the team reward is
    every agent's, so the heads learn the same return where the agents live). It acts centralized: no agent can run
    it alone. Hidden states [2, B, H] (actor, critic). With ``value_norm``, each value head's statistics of its own."""

    def __init__(self, n_agents: int, obs_dim: int, n_actions: int, hidden: int = 64, actor_gain: float = 0.01,
                 value_norm: bool = False):
        super().__init__()
        self.n_agents, self.n_actions, self.hidden = n_agents, n_actions, hidden
        self.input_dim = n_agents * (obs_dim + n_actions)
        self.trunk = RecurrentTrunk(1, 2, self.input_dim, hidden)  # net 0: actor, net 1: critic
        self.actor_head = StackedLinear(1, hidden, n_agents * n_actions, gain=actor_gain)
        self.critic_head = StackedLinear(1, hidden, n_agents, gain=1.0)
        self.value_norm = ValueNorm((n_agents,)) if value_norm else None

    def initial_hidden(self, batch: int) -> torch.Tensor:
        return torch.zeros(2, batch, self.hidden)

    def inputs(self, obs: torch.Tensor, last_action: torch.Tensor, state: torch.Tensor | None = None) -> torch.Tensor:
        """obs [..., K, O] and last_action [..., K] (-1 = none) -> the normalised joint input [1, ..., K (O + A)]
        (agent by agent). ``state`` is not used: the joint observation is the controller's input."""
        onehot = F.one_hot((last_action + 1).long(), self.n_actions + 1)[..., 1:].to(obs.dtype)
        x = torch.cat([obs, onehot], -1).flatten(-2).unsqueeze(0).contiguous()
        return self.trunk.normalize_input(x)

    def _head_weights(self):
        norm = self.trunk.out_norm  # heads in float32, out_norm's affine folded in (as IndependentActorCritic's)
        with torch.autocast("cpu", enabled=False):
            return (norm.fold_into(self.actor_head.weight, self.actor_head.bias, slice(0, 1)),
                    norm.fold_into(self.critic_head.weight, self.critic_head.bias, slice(1, 2)))

    def acting_weights(self):
        return _as_autocast(self.trunk.fold()), self._head_weights()

    def _heads(self, feats: torch.Tensor, avail: torch.Tensor, head_weights=None):
        lead = feats.shape[1:-1]
        a, c = (f.reshape(1, -1, self.hidden) for f in feats.split(1))
        (w_a, b_a), (w_c, b_c) = head_weights if head_weights is not None else self._head_weights()
        with torch.autocast("cpu", enabled=False):
            logits = torch.baddbmm(b_a, a.float(), w_a).reshape(*lead, self.n_agents, self.n_actions)
            value = torch.baddbmm(b_c, c.float(), w_c).reshape(*lead, self.n_agents)
        return logits.masked_fill(~avail, -1e10), value

    def step_with(self, ready, obs, last_action, avail, h, state=None):
        """Acting: obs [B, K, O], last_action [B, K], avail [B, K, A], h [2, B, H] -> logits [B,K,A], value [B,K], h."""
        trunk_weights, head_weights = ready if ready is not None else (None, None)
        feats, h = self.trunk.step(self.inputs(obs, last_action), h, trunk_weights)
        logits, value = self._heads(feats, avail, head_weights)
        return logits, denormalized_value(self.value_norm, value), h

    def sequence(self, inputs, avail, h0, reset):
        """Training: inputs [1, L, B, in] (from ``inputs``), avail [L, B, K, A], h0 [2, B, H], reset [L, B]
        -> logits [L, B, K, A], value [L, B, K]."""
        return self._heads(self.trunk.sequence(inputs, h0, reset), avail)

    @staticmethod
    def reduce_agents(per_agent_loss: torch.Tensor) -> torch.Tensor:
        return per_agent_loss.mean()  # one network: the mean over its heads, as MAPPO's over its shared actor's rows

    def clip_grad_norm(self, max_norm: float) -> torch.Tensor:
        return clip_grad_norm_per_agent(self, max_norm)  # the actor and the critic, each to max_norm

    def value_targets(self, returns, old_values, mask):
        return normalized_targets(self.value_norm, returns, old_values, mask)  # raw by default, as IPPO's


class ValueNorm(nn.Module):
    """Running mean and variance of value targets with a debiased exponential average (RMAPPO's ValueNorm, beta
    0.99999): the critic predicts normalised values, rollouts store them de-normalised. ``shape`` () keeps one
    statistic (MAPPO's shared critic, MAT); (K,) one per agent, each from that agent's own targets only (independent
    critics: nothing is shared)."""

    def __init__(self, shape: tuple[int, ...] = (), beta: float = 0.99999, eps: float = 1e-5):
        super().__init__()
        self.beta, self.eps = beta, eps
        self.register_buffer("mean", torch.zeros(shape))
        self.register_buffer("mean_sq", torch.zeros(shape))
        self.register_buffer("debias", torch.zeros(shape))

    def update(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> None:
        """Fold in targets ``x`` [..., *shape] where ``mask`` (same shape; default everywhere): their mean per
        statistic over the leading dimensions. A statistic without a target here (an agent dead throughout) keeps
        its value."""
        lead = tuple(range(x.dim() - self.mean.dim()))
        w = torch.ones_like(x) if mask is None else mask.to(x.dtype)
        n = w.sum(lead)
        seen = n > 0
        b = torch.where(seen, torch.full_like(n, self.beta), torch.ones_like(n))
        self.mean.copy_(self.mean * b + (x * w).sum(lead) / n.clamp(min=1) * (1 - b))
        self.mean_sq.copy_(self.mean_sq * b + (x * x * w).sum(lead) / n.clamp(min=1) * (1 - b))
        self.debias.copy_(self.debias * b + (1 - b))

    def stats(self) -> tuple[torch.Tensor, torch.Tensor]:
        d = self.debias.clamp(min=self.eps)
        mean, mean_sq = self.mean / d, self.mean_sq / d
        return mean, (mean_sq - mean * mean).clamp(min=1e-2).sqrt()

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = self.stats()
        return (x - mean) / std

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = self.stats()
        return x * std + mean

    def targets(self, returns: torch.Tensor, old_values: torch.Tensor, mask: torch.Tensor):
        """Value targets and old values in a critic's normalised output space, updating the statistics with the
        targets where ``mask``. The old values are normalised with the statistics they were de-normalised with
        (before this rollout's update), so they equal the critic's raw outputs at acting time and the value clip is
        centred on them (as RMAPPO's); the targets with the updated ones."""
        old = self.normalize(old_values)
        self.update(returns, mask.bool())
        return self.normalize(returns), old


def denormalized_value(norm: ValueNorm | None, value: torch.Tensor | None) -> torch.Tensor | None:
    """A critic's output as a value in reward units (what rollouts store): de-normalised where it is normalised."""
    return value if norm is None or value is None else norm.denormalize(value)


def normalized_targets(norm: ValueNorm | None, returns, old_values, mask):
    """Value targets and old values in a critic's output space: as they are, or normalised (``ValueNorm.targets``)."""
    return (returns, old_values) if norm is None else norm.targets(returns, old_values, mask)


class SharedActorCentralCritic(CategoricalPolicy, nn.Module):
    """MAPPO's networks (RMAPPO): one actor shared by all agents, on the agent's own observation, its one-hot last
    action and its one-hot id; one centralised critic, shared too, on the global state and the agent's id, giving
    each agent's value. Same trunk as IPPO's (LayerNorm -> MLP x2 -> GRU -> LayerNorm). Values are normalised
    (``ValueNorm``, one statistic for the shared critic) unless ``value_norm`` is False. Hidden states keep IPPO's
    layout [2K, B, H] (actor of agent k at k, its critic at K + k), so the rollout storage and the PPO update are
    shared with IPPO."""

    def __init__(self, n_agents: int, obs_dim: int, state_dim: int, n_actions: int, hidden: int = 64,
                 actor_gain: float = 0.01, value_norm: bool = True):
        super().__init__()
        self.n_agents, self.n_actions, self.hidden = n_agents, n_actions, hidden
        self.actor = RecurrentTrunk(1, 1, obs_dim + n_actions + n_agents, hidden)
        self.critic = RecurrentTrunk(1, 1, state_dim + n_agents, hidden)
        self.actor_head = StackedLinear(1, hidden, n_actions, gain=actor_gain)
        self.critic_head = StackedLinear(1, hidden, 1, gain=1.0)
        self.value_norm = ValueNorm() if value_norm else None

    def initial_hidden(self, batch: int) -> torch.Tensor:
        return torch.zeros(2 * self.n_agents, batch, self.hidden)

    def inputs(self, obs, last_action, state=None):
        """obs [..., K, O], last_action [..., K], state [..., S] -> normalised (actor input [K, ..., in_a], critic
        input [K, ..., in_c] or None without a state)."""
        K = self.n_agents
        ids = torch.eye(K, dtype=obs.dtype).expand(*obs.shape[:-1], K)
        onehot = F.one_hot((last_action + 1).long(), self.n_actions + 1)[..., 1:].to(obs.dtype)
        xa = self.actor.normalize_input(torch.cat([obs, onehot, ids], -1).movedim(-2, 0).contiguous())
        if state is None:
            return xa, None
        xc = torch.cat([state.unsqueeze(-2).expand(*obs.shape[:-1], state.shape[-1]), ids], -1)
        return xa, self.critic.normalize_input(xc.movedim(-2, 0).contiguous())

    @staticmethod
    def _head_weights(trunk, head):
        with torch.autocast("cpu", enabled=False):  # heads in float32, as in IndependentActorCritic
            return trunk.out_norm.fold_into(head.weight, head.bias)

    @classmethod
    def _head(cls, trunk, head, feats, weights=None):
        w, b = weights if weights is not None else cls._head_weights(trunk, head)
        with torch.autocast("cpu", enabled=False):
            return torch.baddbmm(b, feats.float(), w)

    def acting_weights(self):
        return (_as_autocast(self.actor.fold()), _as_autocast(self.critic.fold()),
                self._head_weights(self.actor, self.actor_head), self._head_weights(self.critic, self.critic_head))

    def step_with(self, ready, obs, last_action, avail, h, state=None):
        """Acting, as IndependentActorCritic.step_with; without ``state`` (greedy play) the critic is skipped (value
        None, its hidden state unchanged)."""
        K, B = self.n_agents, obs.shape[0]
        fold_a, fold_c, head_a, head_c = ready if ready is not None else (None,) * 4
        xa, xc = self.inputs(obs, last_action, state)
        fa, ha = self.actor.step(xa.reshape(1, K * B, -1), h[:K].reshape(1, K * B, -1), fold_a)
        logits = self._head(self.actor, self.actor_head, fa, head_a).view(K, B, -1).transpose(0, 1)
        logits = logits.masked_fill(~avail, -1e10)
        if xc is None:
            return logits, None, torch.cat([ha.view(K, B, -1), h[K:]])
        fc, hc = self.critic.step(xc.reshape(1, K * B, -1), h[K:].reshape(1, K * B, -1), fold_c)
        value = denormalized_value(self.value_norm, self._head(self.critic, self.critic_head, fc, head_c).view(K, B).T)
        return logits, value, torch.cat([ha.view(K, B, -1), hc.view(K, B, -1)])

    def sequence(self, inputs, avail, h0, reset):
        """Training: inputs from ``inputs`` ([K, L, B, in] each), avail [L, B, K, A], h0 [2K, B, H], reset [L, B]
        -> logits [L, B, K, A], normalised value [L, B, K]."""
        xa, xc = inputs
        K, L, B, _ = xa.shape
        flat = lambda x: x.transpose(0, 1).reshape(1, L, K * B, -1)  # noqa: E731  agent-major rows, as h0
        reset = reset.repeat(1, K)  # [L, K*B]: row k*B + b resets with env b
        fa = self.actor.sequence(flat(xa), h0[:K].reshape(1, K * B, -1), reset)
        fc = self.critic.sequence(flat(xc), h0[K:].reshape(1, K * B, -1), reset)
        logits = self._head(self.actor, self.actor_head, fa.reshape(1, L * K * B, -1)).view(L, K, B, -1)
        value = self._head(self.critic, self.critic_head, fc.reshape(1, L * K * B, -1)).view(L, K, B)
        return logits.transpose(1, 2).masked_fill(~avail, -1e10), value.transpose(1, 2)

    @staticmethod
    def reduce_agents(per_agent_loss: torch.Tensor) -> torch.Tensor:
        return per_agent_loss.mean()  # shared parameters: the mean over agents, as RMAPPO's mean over all rows

    def clip_grad_norm(self, max_norm: float) -> torch.Tensor:
        actor = [p for n, p in self.named_parameters() if n.startswith("actor")]
        critic = [p for n, p in self.named_parameters() if n.startswith("critic")]
        return torch.stack([nn.utils.clip_grad_norm_(actor, max_norm), nn.utils.clip_grad_norm_(critic, max_norm)])

    def value_targets(self, returns, old_values, mask):
        return normalized_targets(self.value_norm, returns, old_values, mask)
