"""CESMA (Lin et al., "Decentralized multi-agents by imitation of a centralized controller",
``../shared/papers/cesma_lin2021_decentralized_imitation.md``): decentralized learners trained by multi-agent DAgger
(the paper's Alg. 1) on the labels of a centralized expert. No public code exists; this follows Alg. 1 and App. E,
and ``../shared/reference/cesma_mild2_magail.md`` §1 lists every gap (the config marks the values it fills assumed).

Alg. 1, as run here:
- **learner-only rollouts**: every agent acts with its own policy on its own observation (beta = 0: no expert action
  is ever executed; ``beta_start`` > 0 is the classic DAgger mixture, an extension);
- **labels from the joint observation**: at every step the centralized expert is queried on all agents'
  observations; a recurrent expert's hidden state runs along the learners' trajectory (reset at episode starts)
  and its last-action input is the learners' executed actions;
- **one buffer of joint records** (o_1..o_K, a*_1..a*_K) with alive flags and action masks, oldest first out
  (``buffer: per_agent``: each learner keeps its own pairs and samples its own batch, App. A.1);
- **one supervised step every k joint env steps** once the buffer holds ``warmup_records``: every learner takes one
  Adam step on the cross-entropy between its logits and the expert's labels, on the steps where it is alive
  (optionally down-weighting one action's labels, App. E.4). With ``num_envs`` parallel envs a joint step of all envs
  is ``num_envs`` env steps; after it, the supervised steps due, (env steps since the warm-up) // k, are taken.

Learners (``network``):
- ``mlp`` (MPE, App. E): K MLPs (own observation -> two ReLU layers -> action logits; 2x128), stacked weights, nothing
  shared: each learner's loss is normalised by its own count, Adam is elementwise and there is no global-norm clip,
  so no gradient or optimiser statistic crosses agents (tests check it).
- ``shared_rnn`` (SMAX, App. E.1): pymarl's recurrent agent network (FC -> GRU -> FC, width 64; input: its own
  observation, its own last action, its agent id), one network for all agents (parameter sharing, as the paper),
  trained on whole episodes (BPTT from each episode's start) with Adam 2e-4, weight decay 1e-4, batch 32 episodes, a
  supervised step every 20 env steps, greedy acting. Each env plays whole episodes from their start (QMIX's
  collection); the supervised steps due run after them. Buffer: whole episodes (``capacity_episodes``).
- on a task with a communication channel (``spec.comm``; speaker-listener, reference: Alg. 2), ``mlp`` learners with a
  physical head and a message head (``CommMLPPolicy``), labelled by the expert on the joint *physical* observation
  (it acts on the task's ``PhysicalView``). Each record also holds the step before; at every batch each sender's
  message is recomputed from it with the current weights and routed to its receivers, and each agent's loss is its
  action loss plus (``comm_loss``) the mean of the other agents' action losses back-propagated through its message
  (``comm_logits``).
Either way an agent's action depends on its own observation and history only. Execution: decentralized.

    python -m algorithms.cesma --config config/config.yaml --section cesma --run-dir RUN task=mpe/spread_3 \
        expert=results/experts/central_ppo/mpe/spread_3/seed100/checkpoints/step_300000.pt
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import envs
from algorithms import registry
from algorithms.common import trainer
from algorithms.common.config import ConfigError
from algorithms.common.cpu import keep_freed_memory, torch_threads
from algorithms.demos import policy_act
from algorithms.common.evaluation import evaluate_greedy
from algorithms.common.networks import StackedLinear, gumbel_max
from algorithms.common.precision import Choice, autocast
from algorithms.common.replay import RingBuffer
from algorithms.common.runio import env_state_tensors, load_checkpoint, restore_env_state
from algorithms.configs.cesma import (ASSUMED, CESMAConfig, buffer_nbytes, episode_buffer_nbytes,  # noqa: F401
                                      resources)
from algorithms.qmix import QAgent

# buffer_size: joint records (mlp) or episodes (shared_rnn)
CESMA_STATS = ["ce_loss", "comm_loss", "label_accuracy", "agreement", "beta", "buffer_size", "supervised_steps"]

LEARNER = registry.learner_of_module(__spec__.name)  # this module's registry entry
EXPERT_EVAL_SEED = 2_000_003  # the expert's own greedy episodes: the same for every run that it teaches


class DecentralizedMLPPolicy(nn.Module):
    """K learners, each an MLP from its own observation to its action logits (two ReLU layers), weights stacked
    (``StackedLinear``: agent k's parameters are slice k of every tensor). Acting interface of the other policies:
    ``step`` -> (logits over available actions, no value, hidden), with an empty hidden state."""

    def __init__(self, n_agents: int, obs_dim: int, n_actions: int, hidden: int = 128):
        super().__init__()
        self.n_agents, self.obs_dim, self.n_actions, self.hidden = n_agents, obs_dim, n_actions, hidden
        self.layer1 = StackedLinear(n_agents, obs_dim, hidden)
        self.layer2 = StackedLinear(n_agents, hidden, hidden)
        self.head = StackedLinear(n_agents, hidden, n_actions, gain=0.01)

    def initial_hidden(self, batch: int) -> torch.Tensor:
        return torch.zeros(batch, 0)

    def logits(self, obs: torch.Tensor, avail: torch.Tensor) -> torch.Tensor:
        """obs [..., K, O], avail [..., K, A] -> logits [..., K, A] (unavailable actions at -1e10). Agent k's logits
        read only obs[..., k, :]."""
        lead, K = obs.shape[:-2], self.n_agents
        x = obs.reshape(-1, K, self.obs_dim).transpose(0, 1)  # [K, B, O]
        x = F.relu(self.layer2(F.relu(self.layer1(x))))
        out = self.head(x).transpose(0, 1).reshape(*lead, K, self.n_actions)
        return out.masked_fill(~avail, -1e10)

    def step(self, obs, last_action, avail, h, state=None):
        return self.logits(obs, avail), None, h


class CommMLPPolicy(nn.Module):
    """Alg. 2's learners, on a task with a communication channel (``spec.comm``): K MLPs (stacked weights, nothing
    shared), each from its own observation (its physical part and the messages it heard) through two ReLU layers to
    a physical-action head and a message head. As a policy over the task's flat actions (physical + n_physical *
    message) its log-probability is log pi(physical) + log pi(message) (a silent agent's message is 0): greedy acting
    takes both argmaxes, sampling samples both, at execution the message is discrete."""

    def __init__(self, n_agents: int, obs_dim: int, n_actions: int, comm: envs.CommSpec, hidden: int = 64):
        super().__init__()
        self.n_agents, self.obs_dim, self.n_actions, self.hidden, self.comm = n_agents, obs_dim, n_actions, hidden, comm
        self.n_physical = max(comm.n_physical)
        self.layer1 = StackedLinear(n_agents, obs_dim, hidden)
        self.layer2 = StackedLinear(n_agents, hidden, hidden)
        self.physical_head = StackedLinear(n_agents, hidden, self.n_physical, gain=0.01)
        self.message_head = StackedLinear(n_agents, hidden, comm.message_dim, gain=0.01)
        n_phys = torch.tensor(comm.n_physical)
        flat = torch.arange(n_actions)
        self.register_buffer("physical_avail", torch.from_numpy(comm.physical_avail()), False)
        self.register_buffer("speaks", torch.tensor(comm.speaks), False)
        # flat action f of agent k = (physical f % n_k, message f // n_k); beyond an agent's actions: clamped (the
        # env marks them unavailable)
        self.register_buffer("physical_of", (flat[None, :] % n_phys[:, None]), False)
        self.register_buffer("message_of", (flat[None, :] // n_phys[:, None]).clamp(max=comm.message_dim - 1), False)
        # receiver k hears senders(k) in order, padded with row K (a silent row of zeros): [K, S]
        width = comm.heard_dim // comm.message_dim
        rows = [list(comm.senders(k)) + [n_agents] * (width - len(comm.senders(k))) for k in range(n_agents)]
        self.register_buffer("route_index", torch.tensor(rows, dtype=torch.long).reshape(n_agents, width), False)

    def initial_hidden(self, batch: int) -> torch.Tensor:
        return torch.zeros(batch, 0)

    def heads(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """obs [..., K, O] -> (physical logits [..., K, A_phys] with unavailable ones at -1e10, message logits
        [..., K, M]); agent k's read only obs[..., k, :]."""
        lead, K = obs.shape[:-2], self.n_agents
        x = obs.reshape(-1, K, self.obs_dim).transpose(0, 1)  # [K, B, O]
        x = F.relu(self.layer2(F.relu(self.layer1(x))))
        physical = self.physical_head(x).transpose(0, 1).reshape(*lead, K, self.n_physical)
        message = self.message_head(x).transpose(0, 1).reshape(*lead, K, self.comm.message_dim)
        return physical.masked_fill(~self.physical_avail, -1e10), message

    def logits(self, obs: torch.Tensor, avail: torch.Tensor) -> torch.Tensor:
        """Log-probabilities over the flat actions [..., K, A] (unavailable ones at -1e10)."""
        physical, message = self.heads(obs)
        lp_physical = F.log_softmax(physical, -1)
        lp_message = F.log_softmax(message, -1) * self.speaks[:, None]  # a silent agent: message 0, certain
        index = lambda x, i: torch.gather(x, -1, i.expand(*x.shape[:-1], i.shape[-1]))  # noqa: E731
        flat = index(lp_physical, self.physical_of) + index(lp_message, self.message_of)
        return flat.masked_fill(~avail, -1e10)

    def step(self, obs, last_action, avail, h, state=None):
        return self.logits(obs, avail), None, h

    def route(self, messages: torch.Tensor) -> torch.Tensor:
        """Messages [..., K, M] sent at one step (zero for silent agents) -> what each agent hears at the next
        [..., K, heard_dim]: its senders' messages in agent order (differentiable: Alg. 2's communication loss)."""
        padded = torch.cat([messages, torch.zeros_like(messages[..., :1, :])], -2)
        return padded[..., self.route_index, :].flatten(-2)


class SharedRecurrentPolicy(nn.Module):
    """App. E.1's learners: pymarl's recurrent agent network (``qmix.QAgent``'s architecture: own observation, own last
    action and one-hot agent id -> FC -> GRU -> FC), one for all agents, its outputs read as action logits. Agent k's
    logits depend on its own inputs and history only. Acting interface: ``step`` -> (logits over available actions, no
    value, hidden [B, K, H])."""

    def __init__(self, n_agents: int, obs_dim: int, n_actions: int, hidden: int = 64):
        super().__init__()
        self.n_agents, self.n_actions, self.hidden = n_agents, n_actions, hidden
        self.net = QAgent(n_agents, obs_dim, n_actions, hidden)

    def initial_hidden(self, batch: int) -> torch.Tensor:
        return self.net.initial_hidden(batch)

    def step(self, obs, last_action, avail, h, state=None):
        logits, h = self.net(obs, last_action, h)
        return logits.masked_fill(~avail, -1e10), None, h

    def episode_logits(self, obs, last_action, avail) -> torch.Tensor:
        """Whole episodes from their start: obs [B, T, K, O], last_action [B, T, K], avail [B, T, K, A] -> logits."""
        return self.net.episodes(obs, last_action).masked_fill(~avail, -1e10)


class EpisodeLabelBuffer(RingBuffer):
    """The shared_rnn learners' DAgger dataset: whole episodes zero-padded to the episode limit T (per step every
    agent's observation, executed action, expert label, alive flag and action mask), the oldest overwritten first.
    ``sample`` draws the same episodes for every agent (shared buffer) or each agent's own (per-agent buffers), cut to
    the longest episode drawn; alive is False on padding."""

    FIELDS = ("obs", "action", "label", "alive", "avail", "filled")

    def __init__(self, capacity: int, T: int, K: int, obs_dim: int, n_actions: int):
        super().__init__(capacity)
        self.K = K
        self.obs = torch.zeros(capacity, T, K, obs_dim, dtype=torch.float16)
        self.action = torch.zeros(capacity, T, K, dtype=torch.int16)
        self.label = torch.zeros(capacity, T, K, dtype=torch.int16)
        self.alive = torch.zeros(capacity, T, K, dtype=torch.bool)
        self.avail = torch.zeros(capacity, T, K, n_actions, dtype=torch.bool)
        self.filled = torch.zeros(capacity, T, dtype=torch.bool)

    def sample(self, n: int, gen: torch.Generator, per_agent: bool) -> dict[str, torch.Tensor]:
        """n episodes (per agent) -> obs [n, t, K, O] (float32), action/label (int64)/alive [n, t, K], avail."""
        K = self.K
        rows = (torch.randint(self.size, (n, K), generator=gen) if per_agent
                else torch.randint(self.size, (n, 1), generator=gen).expand(n, K))
        t_max = int(self.filled[rows.reshape(-1)].sum(1).max())
        at = (rows[:, None, :], torch.arange(t_max)[None, :, None], torch.arange(K)[None, None, :])  # [n, t, K]
        out = {name: getattr(self, name)[at] for name in ("obs", "action", "label", "alive", "avail")}
        out["obs"], out["action"], out["label"] = out["obs"].float(), out["action"].long(), out["label"].long()
        return out


class LabelBuffer(RingBuffer):
    """The DAgger dataset: joint records (every agent's observation and expert label at one time step, with alive
    flags and action masks), the oldest overwritten first. ``sample`` draws the same time steps for every agent
    (shared buffer) or each agent's own (per-agent buffers: the same records, drawn independently)."""

    FIELDS = ("obs", "label", "alive", "avail")

    def __init__(self, capacity: int, K: int, obs_dim: int, n_actions: int):
        super().__init__(capacity)
        self.K = K
        self.obs = torch.zeros(capacity, K, obs_dim)
        self.label = torch.zeros(capacity, K, dtype=torch.long)
        self.alive = torch.zeros(capacity, K, dtype=torch.bool)
        self.avail = torch.zeros(capacity, K, n_actions, dtype=torch.bool)

    def insert(self, obs, label, alive, avail) -> None:
        super().insert(dict(zip(self.FIELDS, (obs, label, alive, avail))))

    def sample(self, n: int, gen: torch.Generator, per_agent: bool) -> dict[str, torch.Tensor]:
        """n records -> obs [n, K, O], label/alive [n, K], avail [n, K, A]."""
        if per_agent:
            rows = torch.randint(self.size, (n, self.K), generator=gen)
            cols = torch.arange(self.K).expand(n, self.K)
            return {name: getattr(self, name)[rows, cols] for name in self.FIELDS}
        rows = torch.randint(self.size, (n,), generator=gen)
        return {name: getattr(self, name)[rows] for name in self.FIELDS}


class CommLabelBuffer(LabelBuffer):
    """Alg. 2's records: a joint record (observations, physical labels, alive flags, physical action masks) with the
    observations of the step before (whose messages the senders recompute at every batch) and whether the step is an
    episode's first (nothing heard yet)."""

    FIELDS = ("obs", "label", "alive", "avail", "prev_obs", "first")

    def __init__(self, capacity: int, K: int, obs_dim: int, n_physical: int):
        super().__init__(capacity, K, obs_dim, n_physical)
        self.prev_obs = torch.zeros(capacity, K, obs_dim)
        self.first = torch.zeros(capacity, dtype=torch.bool)

    def insert(self, obs, label, alive, avail, prev_obs, first) -> None:  # type: ignore[override]
        RingBuffer.insert(self, dict(zip(self.FIELDS, (obs, label, alive, avail, prev_obs, first))))

    def sample(self, n: int, gen: torch.Generator, per_agent: bool) -> dict[str, torch.Tensor]:
        if per_agent:  # config validation refuses it: a batch's messages and their receivers share time steps
            raise ValueError("Alg. 2's records are joint: no per-agent sampling")
        return super().sample(n, gen, per_agent=False)


def load_centralized_expert(path: str | Path | None, task: str, spec) -> tuple[nn.Module, dict]:
    """The acting network of a centralized expert's checkpoint, checked against this run's task: a clear error
    naming both sides for a missing path, another learner's checkpoint, a non-centralized one, another task or
    other shapes."""
    centralized = [n for n, entry in registry.LEARNERS.items() if entry.expert and entry.execution == "centralized"]
    if path is None:
        raise ConfigError(f"expert: CESMA needs a centralized expert's checkpoint (a run of {', '.join(centralized)} "
                          f"on {task}); set expert=PATH (the workflow passes it from the run's expert input)")
    path = Path(path)
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise ConfigError(f"expert: checkpoint {path} {what}; give a run's checkpoints/step_<N>.pt or final_model.pt")
    try:
        ckpt = load_checkpoint(path)
    except Exception as exc:  # noqa: BLE001 - any unreadable file: say which and why
        raise ConfigError(f"expert: {path} cannot be read as a checkpoint: {exc}") from None
    missing = ([] if not isinstance(ckpt, dict) else
               [k for k in ("algorithm", "model", "task", "spec", "config", "env_steps") if k not in ckpt])
    if not isinstance(ckpt, dict) or missing:
        raise ConfigError(f"expert: {path} is not a learner's model checkpoint (missing: {missing or 'everything'})")
    algorithm = ckpt["algorithm"]
    if algorithm not in registry.LEARNERS:
        raise ConfigError(f"expert: {path} is a checkpoint of {algorithm!r}, not of a registered learner")
    entry = registry.LEARNERS[algorithm]
    if algorithm not in centralized:
        raise ConfigError(f"expert: {path} is a checkpoint of {entry.display} ({entry.execution} execution), but "
                          f"CESMA's expert must be centralized, one controller over the joint observation: a run of "
                          f"{', '.join(centralized)}")
    if ckpt["task"] != task:
        raise ConfigError(f"expert: {path} was trained on {ckpt['task']}, but this run is on {task}")
    theirs = {k: ckpt["spec"][k] for k in ("n_agents", "obs_dim", "n_actions")}
    ours = {k: getattr(spec, k) for k in theirs}
    if theirs != ours:
        raise ConfigError(f"expert: {path} acts for {theirs}, but {task} here has {ours}")
    try:
        net = entry.load().acting_policy(ckpt)
    except (KeyError, RuntimeError) as exc:
        raise ConfigError(f"expert: {path} does not load as a {entry.display} network: {exc}") from None
    return net.eval(), ckpt


def model_digest(state: dict) -> str:
    """A checksum of a model's weights (a resumed run checks that its expert is the one it started with)."""
    h = hashlib.sha256()
    for name in sorted(state):
        h.update(name.encode())
        h.update(state[name].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


class CESMA:
    """State of one multi-agent DAgger run: the learners and their optimiser, the expert (frozen), the buffer, the
    envs and the carried episode state (observation, last actions, the expert's hidden state)."""

    name = LEARNER.name
    update_stats = CESMA_STATS

    def __init__(self, cfg: CESMAConfig):
        self.cfg = cfg
        torch.set_num_threads(cfg.torch_threads)
        keep_freed_memory()
        # the expert first: a bad checkpoint fails before any env is built or anything is written
        self.expert, ckpt = load_centralized_expert(cfg.expert, cfg.task,
                                                       envs.task_spec(cfg.task, physical_only=True))
        self.expert_digest = model_digest(ckpt["model"])
        for p in self.expert.parameters():
            p.requires_grad_(False)
        env_opts = {} if cfg.reward_scale is None else {"reward_scale": cfg.reward_scale}
        self.env = envs.make(cfg.task, num_envs=cfg.num_envs, seed=cfg.seed, **env_opts)
        self.eval_env = envs.make(cfg.task, num_envs=cfg.eval_episodes, seed=cfg.seed + 1_000_003, **env_opts)
        self.spec = spec = self.env.spec
        self.T = spec.episode_limit  # joint steps per collect (the trainer's unit between checks)
        self.gen = torch.Generator().manual_seed(cfg.seed)
        torch.manual_seed(cfg.seed)
        K, self.comm = spec.n_agents, spec.comm
        # the learners whose labels carry a choice (not an agent with a single physical action): for statistics
        self.taught = torch.ones(K, dtype=torch.bool) if spec.comm is None else torch.tensor(spec.comm.n_physical) > 1
        self.policy = make_policy(cfg.network, K, spec.obs_dim, spec.n_actions, cfg.hidden_size, spec.comm)
        self.opt = torch.optim.Adam(self.policy.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        if cfg.network == "mlp":  # joint records (Alg. 2: with the step before, and physical labels)
            records = min(cfg.capacity, cfg.total_env_steps + cfg.num_envs * self.T)
            n_labels = envs.physical_spec(spec).n_actions
            buffer_cls = LabelBuffer if self.comm is None else CommLabelBuffer
            self.buffer = buffer_cls(records, K, spec.obs_dim, n_labels)
            self.batch_size, self.warmup = cfg.batch_records, cfg.warmup_records
            buffer_bytes = buffer_nbytes(records, K, spec.obs_dim, n_labels, previous_step=self.comm is not None)
        else:
            self.buffer = EpisodeLabelBuffer(min(cfg.capacity_episodes, cfg.total_env_steps + cfg.num_envs), self.T,
                                             K, spec.obs_dim, spec.n_actions)
            self.batch_size, self.warmup = cfg.batch_episodes, cfg.warmup_episodes
            buffer_bytes = episode_buffer_nbytes(self.buffer.capacity, self.T, K, spec.obs_dim, spec.n_actions)
        self.precision = Choice("float32", "float32", "CESMA's learners are small networks: float32 (no precision key)")
        self.run_metadata = {
            "assumed": list(ASSUMED),
            "expert": {"checkpoint": str(cfg.expert), "algorithm": ckpt["algorithm"],
                       "trained_env_steps": int(ckpt["env_steps"]), "greedy": self.evaluate_expert(env_opts)},
            "buffer_bytes": buffer_bytes}
        self.env_steps = self.supervised_steps = 0
        # env steps taken since the buffer held its warm-up: the supervised steps due are warm_env_steps // k
        # (integers: no drift of the cadence for any k)
        self.warm_env_steps = 0
        self.obs = self.env.reset()
        # Alg. 2: each env's observations of the step before, and whether its current step is an episode's first
        self.prev_obs = torch.zeros(cfg.num_envs, K, spec.obs_dim)
        self.first = torch.ones(cfg.num_envs, dtype=torch.bool)
        # the expert's last-action input: the executed physical actions (-1: none yet)
        self.last_action = torch.full((cfg.num_envs, K), -1, dtype=torch.long)
        self.expert_hidden = self.expert.initial_hidden(cfg.num_envs)
        self.learner_hidden = self.policy.initial_hidden(cfg.num_envs)
        self.stats: dict = {}

    def autocast(self):
        return autocast(self.precision.precision)

    def evaluate_expert(self, env_opts: dict) -> dict:
        """The expert's greedy test score (the protocol of every evaluation) on ``expert_eval_episodes`` episodes of
        fixed seeds: the level its learners are measured against."""
        n = self.cfg.expert_eval_episodes
        env = envs.make(self.cfg.task, num_envs=n, seed=EXPERT_EVAL_SEED, physical_only=True, **env_opts)
        with torch_threads(1), torch.no_grad():
            result = evaluate_greedy(env, policy_act(self.expert, "greedy", 0.0, None), self.expert.initial_hidden(n))
        env.close()
        return {**{k: round(v, 4) for k, v in result.items()}, "episodes": n}

    def beta(self) -> float:
        cfg = self.cfg
        if cfg.beta_decay_steps == 0:
            return cfg.beta_start
        return cfg.beta_start * max(0.0, 1.0 - self.env_steps / cfg.beta_decay_steps)

    @torch.no_grad()
    def learner_actions(self, obs: torch.Tensor, avail: torch.Tensor) -> torch.Tensor:
        """The learners' actions [N, K]: a sample of each one's softmax (Gumbel-max, the run's generator) or the
        argmax, per ``acting`` (recurrent learners: their hidden state advanced)."""
        logits, _, self.learner_hidden = self.policy.step(obs, self.last_action, avail, self.learner_hidden)
        if self.cfg.acting == "greedy":
            return logits.argmax(-1)
        return gumbel_max(logits, torch.rand(logits.shape, generator=self.gen))

    @torch.no_grad()
    def expert_labels(self, obs: torch.Tensor, avail: torch.Tensor) -> torch.Tensor:
        """The expert's action for every agent [N, K] from the joint observation (its recurrent state advanced). On a
        task with a communication channel: from the joint physical observation, a physical action each."""
        if self.comm is not None:
            obs = obs[..., :self.comm.physical_obs_dim]
            avail = self.policy.physical_avail.expand(obs.shape[0], -1, -1)
        logits, _, self.expert_hidden = self.expert.step(obs, self.last_action, avail, self.expert_hidden)
        return logits.argmax(-1)

    def physical(self, actions: torch.Tensor) -> torch.Tensor:
        """The physical part of flat actions (the actions themselves on a task without a channel)."""
        return actions if self.comm is None else self.comm.split_action(actions)[0]

    def take_due_supervised_steps(self, env_steps: int, acc: dict) -> int:
        """After ``env_steps`` more env steps: the supervised steps due (one per k env steps once the buffer holds its
        warm-up), their statistics summed into ``acc``; -> how many ran."""
        n_steps = 0
        if self.buffer.size >= self.warmup:
            self.warm_env_steps += env_steps
            while self.supervised_steps < self.warm_env_steps // self.cfg.k:
                for key, v in self.supervised_step().items():
                    acc[key] = acc.get(key, 0.0) + v
                n_steps += 1
        return n_steps

    def executed_actions(self, actions: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The learners' actions, or with probability beta per env the expert's joint action (the extension; with a
        communication channel the expert's physical actions and the learners' messages)."""
        beta = self.beta()
        if beta > 0:
            use_expert = torch.rand(actions.shape[0], generator=self.gen) < beta
            if self.comm is not None:
                labels = self.comm.join_action(labels, self.comm.split_action(actions)[1])
            actions = torch.where(use_expert[:, None], labels, actions)
        return actions

    # ---------------------------------------------------------------- acting and learning (Alg. 1)
    def collect(self) -> dict:
        with torch_threads(1):  # the steps are small: one thread, and the JAX env keeps the other core
            return self._collect()

    def _collect(self) -> dict:
        result = self._collect_steps() if self.cfg.network == "mlp" else self._collect_episodes()
        self.stats.update(beta=self.beta(), buffer_size=self.buffer.size, supervised_steps=self.supervised_steps)
        return result

    def _collect_steps(self) -> dict:
        """mlp learners: T joint steps of the auto-resetting envs, one joint record each, supervised steps as due."""
        N = self.cfg.num_envs
        returns, wins, agree, alive_count = [], [], 0, 0
        acc: dict[str, float] = {}
        n_steps = 0
        for _ in range(self.T):
            o = self.obs
            obs, avail, alive = (torch.from_numpy(x) for x in (o.obs, o.avail_actions, o.alive))
            labels = self.expert_labels(obs, avail)
            actions = self.learner_actions(obs, avail)
            agree += int(((self.physical(actions) == labels) & alive & self.taught).sum())
            alive_count += int((alive & self.taught).sum())
            actions = self.executed_actions(actions, labels)
            if self.comm is None:
                self.buffer.insert(obs, labels, alive, avail)
            else:
                self.buffer.insert(obs, labels, alive, self.policy.physical_avail.expand(N, -1, -1), self.prev_obs,
                                   self.first)
            r = self.env.step(actions.numpy())
            done = torch.from_numpy(r.done)
            returns += r.episode_return[r.done].tolist()
            wins += r.battle_won[r.done].tolist()
            self.prev_obs, self.first = obs, done
            self.last_action = self.physical(actions).masked_fill(done[:, None], -1)
            # a new episode: the expert's memory starts afresh (centralized experts hold hidden [nets, N, H])
            self.expert_hidden = self.expert_hidden.masked_fill(done.view(1, N, 1), 0.0)
            self.obs = r
            self.env_steps += N
            n_steps += self.take_due_supervised_steps(N, acc)
        if n_steps:
            self.stats = {key: v / n_steps for key, v in acc.items()}
        self.stats.update(agreement=agree / max(alive_count, 1))
        return {"steps": N * self.T, "returns": returns, "wins": wins}

    def _collect_episodes(self) -> dict:
        """shared_rnn learners: every env plays one episode from its start (learners and expert from a fresh memory),
        stored whole; then the supervised steps due."""
        N, T, K, spec = self.cfg.num_envs, self.T, self.spec.n_agents, self.spec
        ep = {"obs": torch.zeros(N, T, K, spec.obs_dim), "action": torch.zeros(N, T, K, dtype=torch.long),
              "label": torch.zeros(N, T, K, dtype=torch.long), "alive": torch.zeros(N, T, K, dtype=torch.bool),
              "avail": torch.zeros(N, T, K, spec.n_actions, dtype=torch.bool),
              "filled": torch.zeros(N, T, dtype=torch.bool)}
        o = self.env.reset()
        self.last_action = torch.full((N, K), -1, dtype=torch.long)
        self.learner_hidden, self.expert_hidden = self.policy.initial_hidden(N), self.expert.initial_hidden(N)
        live = torch.ones(N, dtype=torch.bool)
        returns, wins, agree = [], [], 0
        for t in range(T):
            obs, avail, alive = (torch.from_numpy(x) for x in (o.obs, o.avail_actions, o.alive))
            labels = self.expert_labels(obs, avail)
            own = self.learner_actions(obs, avail)
            agree += int(((own == labels) & alive & live[:, None]).sum())
            actions = self.executed_actions(own, labels)
            r = self.env.step(actions.numpy())
            for name, value in (("obs", obs), ("action", actions), ("label", labels), ("alive", alive),
                                ("avail", avail), ("filled", live)):
                ep[name][:, t] = value
            done = torch.from_numpy(r.done) & live
            returns += r.episode_return[done.numpy()].tolist()
            wins += r.battle_won[done.numpy()].tolist()
            live &= ~done
            o, self.last_action = r, actions
            if not live.any():
                break
        if live.any():
            raise RuntimeError(f"{spec.name}: episodes did not end within the episode limit")
        pad = ~ep["filled"]  # after each episode's end (the env went on into another episode): not stored
        for name in ("obs", "action", "label", "alive", "avail"):
            ep[name][pad] = 0
        self.buffer.insert(ep)
        steps = int(ep["filled"].sum())
        self.env_steps += steps
        acc: dict[str, float] = {}
        n_steps = self.take_due_supervised_steps(steps, acc)
        if n_steps:
            self.stats = {key: v / n_steps for key, v in acc.items()}
        self.stats.update(agreement=agree / max(int(ep["alive"].sum()), 1))
        return {"steps": steps, "returns": returns, "wins": wins}

    def batch_logits(self, batch: dict) -> torch.Tensor:
        """The learners' logits [..., K, A] on a sampled batch: joint records (mlp) or whole episodes from their start,
        the learners' own executed actions as their last-action inputs (shared_rnn)."""
        if self.cfg.network == "mlp":
            return self.policy.logits(batch["obs"], batch["avail"])
        action = batch["action"]
        last_action = torch.cat([torch.full_like(action[:, :1], -1), action[:, :-1]], 1)
        return self.policy.episode_logits(batch["obs"], last_action, batch["avail"])

    def comm_logits(self, batch: dict) -> torch.Tensor:
        """Alg. 2 on a batch of records: every sender's message recomputed from its observation of the step before
        with the current weights (relaxed: ``message_relaxation``), routed to its receivers -> the receivers'
        physical logits [B, K, A_phys].

        Agent i's loss is its action loss (what it heard a fixed input) plus, with ``comm_loss``, its communication
        loss: the mean over the K - 1 others j of j's action loss, through i's message. One pass gives every agent
        exactly that gradient: the heard messages pass 1 / (K - 1) of their gradient back (the same values forward).
        Receiver j's loss then reaches j's weights directly (its action loss: what it heard does not depend on its
        own weights) and each sender i through i's message only, scaled 1 / (K - 1): i's communication loss. (The
        receivers' weights are not frozen there because their gradient from j's loss is j's action loss, once.)"""
        cfg, policy, P, K = self.cfg, self.policy, self.comm.physical_obs_dim, self.spec.n_agents
        _, message_logits = policy.heads(batch["prev_obs"])
        if cfg.message_relaxation == "softmax":
            messages = F.softmax(message_logits, -1)
        else:  # straight-through Gumbel-softmax: one-hot samples forward (as executed), the softmax's gradient back
            gumbel = -torch.log(-torch.log(torch.rand(message_logits.shape, generator=self.gen).clamp(min=1e-20)))
            soft = F.softmax(message_logits + gumbel, -1)
            messages = F.one_hot(soft.argmax(-1), soft.shape[-1]).to(soft.dtype) - soft.detach() + soft
        # silent agents send nothing; an episode's first step has heard nothing
        messages = messages * (policy.speaks[:, None] & ~batch["first"][:, None, None])
        heard = policy.route(messages)
        fixed = heard.detach()
        heard = fixed + (heard - fixed) / max(K - 1, 1) if cfg.comm_loss else fixed
        logits, _ = policy.heads(torch.cat([batch["obs"][..., :P], heard], -1))
        return logits

    def supervised_loss(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """mlp: the sum over learners of each one's weighted cross-entropy on its living steps, normalised by its own
        weight, so that learner k's gradient is that of its own loss only. shared_rnn (one network): the weighted mean
        over all living agent-steps (a sum of K means would scale the gradient by K and weaken the weight decay
        K times under Adam). -> (loss, per-learner losses [K], logits [..., K, A])."""
        cfg = self.cfg
        logits = self.comm_logits(batch) if self.comm is not None else self.batch_logits(batch)
        K, A = logits.shape[-2:]
        weight = batch["alive"].reshape(-1, K).float()
        if cfg.downweight != 1.0:
            weight = weight * torch.where(batch["label"].reshape(-1, K) == cfg.downweighted_action, cfg.downweight, 1.0)
        ce = F.cross_entropy(logits.reshape(-1, A), batch["label"].reshape(-1), reduction="none").view(-1, K)
        per_learner = (ce * weight).sum(0) / weight.sum(0).clamp(min=1e-8)
        if cfg.network == "shared_rnn":
            return (ce * weight).sum() / weight.sum().clamp(min=1e-8), per_learner, logits
        return per_learner.sum(), per_learner, logits

    def supervised_step(self) -> dict:
        cfg = self.cfg
        with torch_threads(cfg.torch_threads):
            batch = self.buffer.sample(self.batch_size, self.gen, per_agent=cfg.buffer == "per_agent")
            loss, per_learner, logits = self.supervised_loss(batch)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
        self.supervised_steps += 1
        # accuracy of the labels by the logits before this step (not yet fitted to them), over the learners the labels
        # teach (not those with a single physical action, the speaker of speaker-listener: always right)
        alive = batch["alive"] & self.taught
        accuracy = float(((logits.detach().argmax(-1) == batch["label"]) & alive).sum() / alive.sum().clamp(min=1))
        per_agent_mean = (float(per_learner.detach()[self.taught].mean()) if cfg.network == "mlp"
                          else float(loss.detach()))
        out = {"ce_loss": per_agent_mean, "label_accuracy": accuracy}
        if self.comm is not None and cfg.comm_loss:  # each speaker's communication loss (``comm_logits``): the mean
            ce = per_learner.detach()  # of the other learners' action losses
            out["comm_loss"] = float(((ce.sum() - ce) / max(self.spec.n_agents - 1, 1))[self.policy.speaks].mean())
        return out

    def update(self) -> dict:
        """The supervised steps ran inside ``collect`` (one every k env steps, Alg. 1): their mean statistics."""
        return {key: self.stats.get(key, math.nan) for key in CESMA_STATS}

    def evaluate(self) -> dict:
        with torch_threads(1), torch.no_grad():
            return evaluate_greedy(self.eval_env, policy_act(self.policy, "greedy", 0.0, None),
                                   self.policy.initial_hidden(self.cfg.eval_episodes))

    # ---------------------------------------------------------------- checkpoints
    def model_state(self) -> dict:
        return {"algorithm": self.name, "model": self.policy.state_dict(), "env_steps": self.env_steps,
                "task": self.cfg.task, "spec": dataclasses.asdict(self.spec), "config": dataclasses.asdict(self.cfg)}

    def training_state(self) -> dict:
        o = self.obs
        return {**self.model_state(), "optimizer": self.opt.state_dict(), "generator": self.gen.get_state(),
                "env": env_state_tensors(self.env), "eval_env": env_state_tensors(self.eval_env),
                "obs": [torch.from_numpy(np.array(x)) for x in (o.obs, o.state, o.avail_actions, o.alive)],
                "last_action": self.last_action, "expert_hidden": self.expert_hidden,
                "prev_obs": self.prev_obs, "first": self.first,
                "learner_hidden": self.learner_hidden,
                "buffer": self.buffer.state_dict(),
                "supervised_steps": self.supervised_steps, "warm_env_steps": self.warm_env_steps,
                "stats": self.stats, "expert_digest": self.expert_digest}

    def load_training_state(self, state: dict) -> None:
        self.policy.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        self.gen.set_state(state["generator"])
        restore_env_state(self.env, state["env"])
        restore_env_state(self.eval_env, state["eval_env"])
        self.obs = envs.Observation(*(x.numpy() for x in state["obs"]))
        self.last_action, self.expert_hidden = state["last_action"], state["expert_hidden"]
        self.prev_obs, self.first = state["prev_obs"], state["first"]
        self.learner_hidden = state["learner_hidden"]
        self.buffer.load_state_dict(state["buffer"])
        self.env_steps, self.supervised_steps = state["env_steps"], state["supervised_steps"]
        self.warm_env_steps, self.stats = state["warm_env_steps"], state["stats"]
        if state["expert_digest"] != self.expert_digest:
            raise ConfigError(f"expert: {self.cfg.expert} is not the checkpoint this run started with (its weights "
                              f"changed since): its labels fill the saved buffer; restart the run")


def make_policy(network: str, n_agents: int, obs_dim: int, n_actions: int, hidden: int,
                comm: envs.CommSpec | None = None) -> nn.Module:
    if comm is not None:  # config validation: mlp only
        return CommMLPPolicy(n_agents, obs_dim, n_actions, comm, hidden)
    if network == "mlp":
        return DecentralizedMLPPolicy(n_agents, obs_dim, n_actions, hidden)
    return SharedRecurrentPolicy(n_agents, obs_dim, n_actions, hidden)


def acting_policy(ckpt: dict) -> nn.Module:
    """The acting network of a checkpoint of this learner: the K decentralized MLPs (with message heads on a task
    with a communication channel) or the shared recurrent one."""
    spec, cfg = envs.TaskSpec(**ckpt["spec"]), ckpt["config"]
    net = make_policy(cfg.get("network", "mlp"), spec.n_agents, spec.obs_dim, spec.n_actions, cfg["hidden_size"],
                      spec.comm)
    net.load_state_dict(ckpt["model"])
    return net


def train(cfg: CESMAConfig, run_dir, progress: bool = True, restart_if_changed: bool = False,
          arm: str | None = None) -> list[dict]:
    return trainer.train(cfg, run_dir, progress, restart_if_changed, CESMA, arm=arm)


def main(argv: list[str] | None = None) -> int:
    return trainer.main(argv, LEARNER.name, __doc__)


if __name__ == "__main__":
    sys.exit(main())
