"""The on-policy core every PPO-family learner shares (IPPO, MAPPO, the adversarial-imitation generator): collect a
rollout through a policy object, compute advantages with GAE and dead-agent reward tails, and update with the clipped
surrogate, the Huber value loss (clipped, unclipped or on normalised values: `value_handling`) and an entropy bonus;
greedy evaluation, checkpoints and exact resume state. A learner is a config plus a policy (``make_policy``); the
config's keys (``PPOConfig``) and the resource estimate live in ``algorithms/configs/ppo.py``, torch-free.

The policy owns sampling: ``act`` returns (action, log-prob, value, hidden) and ``evaluate`` re-evaluates a stored
batch (log-prob, entropy, value), so a policy that decodes agents one after another plugs in without touching this
file. Fixes over the DM² reference code (../shared/reference/dm2_reference_implementation.md §12): padded steps,
finished episodes and dead agents are masked out of every loss; no bootstrap past an episode's end; the last-action
input is zero at t=0 in acting and in training alike; recurrent policies are trained on sequences (BPTT over
``chunk_length`` steps).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch
import torch.nn.functional as F

import envs
from algorithms.common.compiled import MaybeCompiled
from algorithms.common.cpu import keep_freed_memory, torch_threads
from algorithms.common.evaluation import evaluate_greedy
from algorithms.common.gae import compute_gae
from algorithms.common.precision import Choice, autocast, choose
from algorithms.common.rollout import Rollout, hidden_at_sequence_starts, to_sequences
from algorithms.common.runio import env_state_tensors, restore_env_state
from algorithms.configs.ppo import PPOConfig, ppo_resources  # noqa: F401 (ppo_resources: re-exported)

PPO_STATS = ["pg_loss", "value_loss", "entropy", "approx_kl", "clip_frac"]


def ppo_loss(net, b: dict, h0: torch.Tensor, clip: float, huber_delta: float, value_coef: float,
             entropy_coef: float, clip_value: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """The PPO loss of one (mini)batch of sequences ``b`` from hidden states ``h0``: clipped surrogate, Huber value
    loss (the larger of the plain and the clipped one with ``clip_value``, else the plain one), entropy bonus, each a
    masked mean per agent, reduced over agents by the policy (IPPO sums: agent k's parameters get exactly agent k's
    gradient; MAPPO averages). Returns the loss and its statistics (``PPO_STATS``
    order, detached). A pure function of its inputs, so that it can be compiled (``algorithms/common/compiled.py``)."""
    logp, entropy, value = net.evaluate(b["inputs"], b["actions"], b["avail"], h0, b["starts"])

    def per_agent(x, mask=b["mask"]):  # [K]: each agent's own masked mean
        return (x * mask).sum((0, 1)) / mask.sum((0, 1)).clamp(min=1)

    ratio = torch.exp(logp - b["logp"])
    pg = -torch.min(ratio * b["adv"], ratio.clamp(1 - clip, 1 + clip) * b["adv"])
    v_clipped = b["values"] + (value - b["values"]).clamp(-clip, clip)
    huber = lambda x: F.huber_loss(x, b["ret"], reduction="none", delta=huber_delta)  # noqa: E731
    v_loss = torch.max(huber(value), huber(v_clipped)) if clip_value else huber(value)
    pg_a, v_a, ent_a = per_agent(pg), per_agent(v_loss, b["value_mask"]), per_agent(entropy)
    loss = net.reduce_agents(pg_a + value_coef * v_a - entropy_coef * ent_a)
    with torch.no_grad():
        log_ratio = logp - b["logp"]
        stats = torch.stack([pg_a.mean(), v_a.mean(), ent_a.mean(), per_agent((ratio - 1) - log_ratio).mean(),
                             per_agent(((ratio - 1).abs() > clip).float()).mean()])
    return loss, stats


class OnPolicyLearner:
    """State of one PPO-family run: a policy (``make_policy``), its optimiser, envs, and the rollout in progress.
    Subclasses give ``name`` and ``make_policy``; the policy provides ``initial_hidden``, ``act`` (sampling belongs
    to the policy), ``greedy``, ``value``, ``inputs``, ``evaluate``, ``value_targets``, ``reduce_agents`` and
    ``clip_grad_norm``, and ``acting`` (a context in which the weights stay fixed: see
    ``algorithms.common.networks.CategoricalPolicy``)."""

    name = "ppo"
    update_stats = PPO_STATS  # the update's statistics, in metrics.csv column order
    run_metadata: dict = {}  # extra facts for the run's config.yaml
    uses_state = False  # whether the critic reads the global state (MAPPO)
    # a centralized controller acts on a task's physical view (observations without the heard messages, physical
    # actions only: ``envs.PhysicalView``): it sees every agent's observation, so there is nothing to tell it
    physical_only = False

    def __init__(self, cfg: PPOConfig):
        self.cfg = cfg
        torch.set_num_threads(cfg.torch_threads)
        keep_freed_memory()
        env_opts = {} if cfg.reward_scale is None else {"reward_scale": cfg.reward_scale}
        self.env = envs.make(cfg.task, num_envs=cfg.num_envs, seed=cfg.seed, physical_only=self.physical_only,
                             **env_opts)
        self.env.set_groups(cfg.collect_groups)
        self.eval_env = envs.make(cfg.task, num_envs=cfg.eval_episodes, seed=cfg.seed + 1_000_003,
                                  physical_only=self.physical_only, **env_opts)
        self.spec = spec = self.env.spec
        self.T = cfg.rollout_steps(spec.episode_limit)  # validate() checked that chunk_length divides it
        self.gen = torch.Generator().manual_seed(cfg.seed)
        torch.manual_seed(cfg.seed)  # parameter init
        self.net = self.make_policy()
        # bfloat16 or float32 for this run's matmuls (precision: auto times this network's own training pass)
        self.precision = self._choose_precision()
        # Adam is elementwise, so one optimiser over stacked weights keeps each agent's moments separate. Fused: one
        # kernel over all parameters (5x faster than the per-tensor steps on these networks, the same update rule).
        self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr, eps=cfg.adam_eps, fused=True)
        self._batch_loss: MaybeCompiled | None = None  # made on first use (``batch_loss``)
        self._acting_fns: dict | None = None  # compiled acting functions, made on first use (``_acting``)
        self.buf = Rollout.empty(self.T, cfg.num_envs, spec.n_agents, spec.obs_dim, spec.n_actions,
                                 self.net.initial_hidden(1).shape[0], cfg.hidden_size,
                                 spec.state_dim if self.uses_state else 0)
        self.env_steps = 0
        self._start_episodes()

    def make_policy(self):  # pragma: no cover - interface
        raise NotImplementedError

    # ---------------------------------------------------------------- acting
    def _start_episodes(self) -> None:
        self.obs = self.env.reset()
        self.hidden = self.net.initial_hidden(self.cfg.num_envs)
        self.last_action = torch.full((self.cfg.num_envs, self.spec.n_agents), -1, dtype=torch.long)
        self.episode_start = torch.ones(self.cfg.num_envs, dtype=torch.bool)

    def _choose_precision(self) -> Choice:
        """``precision.choose`` with a probe that runs the policy's training pass (forward and backward) over random
        inputs of one minibatch's shape (at most 256 sequences); the gradients it leaves are cleared."""
        cfg, spec = self.cfg, self.spec
        L = cfg.chunk_length
        B = min((self.T // L) * cfg.num_envs // cfg.num_minibatches, 256)
        K, A = spec.n_agents, spec.n_actions
        key = (type(self.net).__name__, L, B, K, spec.obs_dim, A, spec.state_dim, cfg.hidden_size)
        batch = {}

        def training_pass():
            if not batch:  # built on first use: a config that does not probe pays nothing
                g = torch.Generator().manual_seed(0)  # not the run's generators: probing leaves the run unchanged
                obs = torch.randn(L, B, K, spec.obs_dim, generator=g)
                state = torch.randn(L, B, spec.state_dim, generator=g) if self.uses_state else None
                batch.update(inputs=self.net.inputs(obs, torch.randint(-1, A, (L, B, K), generator=g), state),
                             actions=torch.randint(0, A, (L, B, K), generator=g),
                             avail=torch.ones(L, B, K, A, dtype=torch.bool), h0=self.net.initial_hidden(B),
                             starts=torch.zeros(L, B, dtype=torch.bool))
            logp, entropy, value = self.net.evaluate(batch["inputs"], batch["actions"], batch["avail"], batch["h0"],
                                                     batch["starts"])
            (logp.sum() + entropy.sum() + value.sum()).backward()

        choice = choose(cfg.precision, training_pass, key)
        self.net.zero_grad(set_to_none=True)
        return choice

    @property
    def compiles(self) -> bool:
        """Whether the minibatch loss and acting are compiled (``compile``; auto compiles where the run computes in
        bfloat16): read where they are made, so that a resumed run's own precision decides."""
        mode = self.cfg.compile
        return mode == "always" or (mode == "auto" and self.precision.precision == "bfloat16")

    @property
    def batch_loss(self) -> MaybeCompiled:
        """``ppo_loss``, compiled or eager (``compiles``). Made on first use."""
        if self._batch_loss is None:
            self._batch_loss = MaybeCompiled(ppo_loss, self.compiles)
        return self._batch_loss

    def _acting(self):
        """The policy's acting context (weights folded once), with its acting functions compiled where the run
        compiles (made on first use; kept, as compiled code is kept, for every later rollout and evaluation)."""
        if not self.compiles:
            return self.net.acting(None)
        if self._acting_fns is None:
            self._acting_fns = self.net.acting_functions(lambda fn: MaybeCompiled(fn, True))
        return self.net.acting(self._acting_fns)

    def autocast(self):
        """The precision context of acting and learning (the trainer enters it)."""
        return autocast(self.precision.precision)

    def greedy_act(self, obs, last_action, avail, h):
        return self.net.greedy(obs, last_action, avail, h)

    @torch.no_grad()
    def collect(self) -> dict:
        """COLLECT ROLLOUT: T steps of N envs with sampled actions (acting on one torch thread: ``torch_threads``;
        the policy's weights folded once for the whole rollout: ``acting``)."""
        with torch_threads(1), self._acting():
            return self._collect()

    def _collect(self) -> dict:
        """The envs are stepped in ``collect_groups`` groups: group g's env step is dispatched and runs on JAX's
        thread while the policy acts on group g+1, so stepping and acting overlap on two cores. Each env's
        trajectory, and what is stored for it, is as with one group; a step's reward and done are stored when its
        result is read, one group-turn later."""
        cfg, buf, env = self.cfg, self.buf, self.env
        if cfg.rollout_mode == "episodes":
            self._start_episodes()
        ongoing = torch.ones(cfg.num_envs, dtype=torch.bool)  # episodes mode: still in its one episode
        returns, wins = [], []
        groups = [env.group_slice(g) for g in range(env.groups)]
        pending: list = [None] * len(groups)  # per group: (step t, its dispatched env step, its actions)
        # [N, ...] numpy, the current step's; updated in place group by group, so copies: a training state taken
        # before this collect keeps its own arrays (as it keeps its own hidden states, last actions and starts)
        obs = [np.array(x) for x in (self.obs.obs, self.obs.avail_actions, self.obs.alive, self.obs.state)]
        self.hidden, self.last_action = self.hidden.clone(), self.last_action.clone()
        self.episode_start = self.episode_start.clone()

        def read(g: int) -> None:
            """Wait for group g's last step and store its outcome (reward, done; next observation and carry)."""
            t, step, action = pending[g]
            sl, result = groups[g], step.result()
            done = torch.from_numpy(result.done)
            buf.rewards[t, sl], buf.dones[t, sl] = torch.from_numpy(result.reward), done
            buf.terminated[t, sl] = torch.from_numpy(result.terminated & result.done)
            buf.won[t, sl] = torch.from_numpy(result.battle_won & result.done)
            buf.episode_length[t, sl] = torch.from_numpy(np.where(result.done, result.episode_length, 0)).long()
            finished = result.done & ongoing[sl].numpy()
            returns.extend(result.episode_return[finished].tolist())
            wins.extend(result.battle_won[finished].tolist())
            if cfg.rollout_mode == "episodes":
                ongoing[sl] &= ~done
            for x, new in zip(obs, (result.obs, result.avail_actions, result.alive, result.state)):
                x[sl] = new
            self.hidden[:, sl] *= (~done).view(1, -1, 1).float()
            self.last_action[sl] = torch.where(done.view(-1, 1), torch.full_like(action, -1), action)
            self.episode_start[sl] = done
            pending[g] = None

        for t in range(self.T):
            for g, sl in enumerate(groups):
                if pending[g] is not None:
                    read(g)
                o = torch.from_numpy(obs[0][sl])
                avail = torch.from_numpy(obs[1][sl])
                state = torch.from_numpy(obs[3][sl]) if self.uses_state else None
                buf.hidden[t, :, sl] = self.hidden[:, sl]
                action, logp, value, self.hidden[:, sl] = self.net.act(o, self.last_action[sl], avail,
                                                                       self.hidden[:, sl], state, self.gen)
                pending[g] = (t, env.step_group(g, action.numpy()), action)
                buf.obs[t, sl], buf.avail[t, sl], buf.alive[t, sl] = o, avail, torch.from_numpy(obs[2][sl])
                if self.uses_state:
                    buf.state[t, sl] = state
                buf.last_action[t, sl], buf.actions[t, sl] = self.last_action[sl], action
                buf.logp[t, sl], buf.values[t, sl] = logp, value
                buf.starts[t, sl], buf.valid[t, sl] = self.episode_start[sl], ongoing[sl]
        for g in range(len(groups)):
            read(g)
        self.obs = envs.Observation(obs=obs[0], state=obs[3], avail_actions=obs[1], alive=obs[2])
        # Bootstrap values for episodes that go on past the rollout (episodes mode: none do, the dones cut them).
        self.last_value = self.net.value(
            torch.from_numpy(self.obs.obs), self.last_action, torch.from_numpy(self.obs.avail_actions), self.hidden,
            torch.from_numpy(self.obs.state) if self.uses_state else None)
        steps = int(buf.valid.sum())
        self.env_steps += steps
        return {"steps": steps, "returns": returns, "wins": wins}

    # ---------------------------------------------------------------- learning
    def update(self) -> dict:
        # the team reward is every agent's reward (imitation learners add theirs here: the reward hook)
        return self.ppo_update(self.buf.rewards.unsqueeze(-1).expand(-1, -1, self.spec.n_agents))

    def ppo_update(self, rewards: torch.Tensor) -> dict:
        """PPO on the current rollout with per-agent rewards [T, N, K]."""
        cfg, buf = self.cfg, self.buf
        # CALCULATE ADVANTAGE (per agent, with its own critic)
        adv, ret = compute_gae(rewards, buf.values, buf.alive, buf.dones, self.last_value, cfg.gamma, cfg.gae_lambda)
        # Policy terms use the steps where the agent made a decision; the critic also learns dead steps' reward tails.
        decided = (buf.valid.unsqueeze(-1) & buf.alive).float()  # [T, N, K]
        in_episode = buf.valid.unsqueeze(-1).expand_as(decided).float()
        count = decided.sum((0, 1)).clamp(min=1)
        mean = (adv * decided).sum((0, 1)) / count
        std = (((adv - mean) ** 2 * decided).sum((0, 1)) / count).sqrt()
        adv = (adv - mean) / (std + 1e-8)  # normalised per agent, over that agent's own decisions

        # value targets and old values in the critic's output space (normalised for MAPPO)
        ret, old_values = self.net.value_targets(ret, buf.values, in_episode)

        L = cfg.chunk_length
        seq = {name: to_sequences(x, L) for name, x in dict(
            obs=buf.obs, last_action=buf.last_action, avail=buf.avail, actions=buf.actions, logp=buf.logp,
            values=old_values, adv=adv, ret=ret, mask=decided, value_mask=in_episode, starts=buf.starts).items()}
        state = to_sequences(buf.state, L) if self.uses_state else None
        # [K, L, B, in]: agents first (a tuple of actor and critic inputs for MAPPO)
        seq["inputs"] = self.net.inputs(seq.pop("obs"), seq.pop("last_action"), state)
        seq_dim = {k: 2 if k == "inputs" else 1 for k in seq}  # where the sequence index is

        def select(x, dim, idx):
            if isinstance(x, tuple):
                return tuple(select(v, dim, idx) for v in x)
            return x.index_select(dim, idx)
        h0 = hidden_at_sequence_starts(buf.hidden, L)
        n_seq = h0.shape[1]
        stats = []
        # UPDATE NETWORK
        for _ in range(cfg.ppo_epochs):
            if cfg.num_minibatches == 1:  # full batch: order is irrelevant, skip the gather copies
                batches = [(seq, h0)]
            else:
                perm = torch.randperm(n_seq, generator=self.gen)
                batches = [({k: select(v, seq_dim[k], idx) for k, v in seq.items()}, h0[:, idx])
                           for idx in perm.chunk(cfg.num_minibatches)]
            for b, h0_b in batches:
                loss, batch_stats = self.batch_loss(self.net, b, h0_b, cfg.clip, cfg.huber_delta, cfg.value_coef,
                                                    cfg.entropy_coef, cfg.value_handling != "unclipped")
                self.opt.zero_grad(set_to_none=True)
                loss.backward()
                self.net.clip_grad_norm(cfg.max_grad_norm)
                self.opt.step()
                stats.append(batch_stats)
        rows = torch.stack(stats).tolist()  # summed as Python floats, in order: the same numbers as per-step .item()s
        return {k: sum(row[i] for row in rows) / len(rows) for i, k in enumerate(PPO_STATS)}

    def evaluate(self) -> dict:
        with torch_threads(1), self._acting():
            return evaluate_greedy(self.eval_env, self.greedy_act, self.net.initial_hidden(self.cfg.eval_episodes))

    # ---------------------------------------------------------------- checkpoints
    def model_state(self) -> dict:
        return {"algorithm": self.name, "model": self.net.state_dict(), "env_steps": self.env_steps, "task": self.cfg.task,
                "spec": dataclasses.asdict(self.spec), "config": dataclasses.asdict(self.cfg)}

    def training_state(self) -> dict:
        o = self.obs
        return {
            **self.model_state(), "optimizer": self.opt.state_dict(), "generator": self.gen.get_state(),
            "env": env_state_tensors(self.env), "eval_env": env_state_tensors(self.eval_env),
            "obs": [torch.from_numpy(np.asarray(x)) for x in (o.obs, o.state, o.avail_actions, o.alive)],
            "hidden": self.hidden, "last_action": self.last_action, "episode_start": self.episode_start,
            "precision": self.precision.record(),
        }

    def load_training_state(self, state: dict) -> None:
        self.net.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        self.gen.set_state(state["generator"])
        restore_env_state(self.env, state["env"])
        restore_env_state(self.eval_env, state["eval_env"])
        self.obs = envs.Observation(*(x.numpy() for x in state["obs"]))
        self.hidden, self.last_action = state["hidden"], state["last_action"]
        self.episode_start, self.env_steps = state["episode_start"], state["env_steps"]
        if "precision" in state:  # a resumed run computes as it started, whatever a probe would say now
            self.precision = Choice(**state["precision"])
            self._batch_loss = self._acting_fns = None  # and compiles (or not) as its own precision says
