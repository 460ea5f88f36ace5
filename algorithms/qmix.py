"""QMIX (Rashid et al. 2018), pymarl-faithful: one recurrent agent network shared by all agents (input = own
observation, one-hot last action, one-hot agent id; FC -> GRUCell -> FC, the paper's single-FC agent), a monotonic
mixing network whose weights come from hypernetworks on the global state (absolute values), an episode replay
buffer, target networks updated every ``target_update_episodes`` episodes, double Q-learning, RMSprop, epsilon-greedy
exploration annealed linearly over env steps. A CTDE baseline and a demonstrator (epsilon-greedy demonstrations).

Defaults are pymarl's (``default.yaml`` + ``algs/qmix.yaml``, ../shared/reference/dm2_reference_implementation.md §9).
Differences, documented: ``num_envs`` episodes are played in parallel per collect (pymarl's episode runner plays one)
with one gradient step per collect by default (``updates_per_episode`` 1/8: pymarl's parallel runner; 1 = its
episode runner, which costs ~25 ms per gradient step on a 2-core CPU); the env auto-resets and does not
return the observation after a time-limit step, so a truncated episode is not bootstrapped (pymarl bootstraps it);
the replay buffer stores observations and states as float16 to fit pymarl's 5000 episodes in memory on big maps.

The same learner, as pymarl's: ``mixer: sum`` sums the agents' Q-values (VDN), ``mixer: none`` trains each agent on its
own TD loss with the team reward (IQL, the ``iql`` arm). CESMA's centralized VDN expert (``algorithms/central_vdn.py``)
is this learner with another agent network (``make_agent``), Adam, soft target updates and a gradient step every
``env_steps_per_update`` env steps.

    python -m algorithms.qmix --config config/config.yaml --section qmix --run-dir RUN task=smax/3m seed=0
"""
from __future__ import annotations

import copy
import dataclasses
import math
import sys

import torch
import torch.nn.functional as F
from torch import nn

import envs
from algorithms import registry
from algorithms.common import trainer
from algorithms.common.cpu import keep_freed_memory, torch_threads
from algorithms.common.evaluation import evaluate_greedy
from algorithms.common.precision import Choice, autocast, choose
from algorithms.common.replay import RingBuffer
from algorithms.common.runio import env_state_tensors, restore_env_state
from algorithms.configs.qmix import QMIXConfig, replay_buffer_nbytes, resources  # noqa: F401 (torch-free)

QMIX_STATS = ["td_loss", "q_taken_mean", "target_mean", "grad_norm", "epsilon", "buffer_episodes"]

LEARNER = registry.learner_of_module(__spec__.name)  # this module's registry entry


class QAgent(nn.Module):
    """pymarl's RNNAgent, shared by all agents: Linear -> ReLU -> GRU cell -> Linear (Q-values). The cell is a
    one-layer ``nn.GRU`` (the same equations as pymarl's GRUCell) so that training unrolls whole episodes in one call."""

    def __init__(self, n_agents: int, obs_dim: int, n_actions: int, hidden: int = 64):
        super().__init__()
        self.n_agents, self.n_actions, self.hidden = n_agents, n_actions, hidden
        self.fc1 = nn.Linear(obs_dim + n_actions + n_agents, hidden)
        self.rnn = nn.GRU(hidden, hidden, batch_first=True)
        self.fc2 = nn.Linear(hidden, n_actions)

    def initial_hidden(self, batch: int) -> torch.Tensor:
        return torch.zeros(batch, self.n_agents, self.hidden)

    def embed(self, obs: torch.Tensor, last_action: torch.Tensor) -> torch.Tensor:
        """obs [..., K, O], last_action [..., K] (-1 = none) -> fc1 features [..., K, H] (for whole episodes at once)."""
        K = self.n_agents
        onehot = F.one_hot((last_action + 1).long(), self.n_actions + 1)[..., 1:].to(obs.dtype)
        ids = torch.eye(K, dtype=obs.dtype).expand(*obs.shape[:-1], K)
        return F.relu(self.fc1(torch.cat([obs, onehot, ids], -1)))

    def forward(self, obs, last_action, h):
        """One step: obs [B, K, O], last_action [B, K], hidden [B, K, H] -> (Q-values [B, K, A], hidden)."""
        B, K, H = h.shape
        x = self.embed(obs, last_action).reshape(B * K, 1, H)
        out, h = self.rnn(x, h.reshape(1, B * K, H))
        return self.fc2(out.view(B, K, H)), h.view(B, K, H)

    def episodes(self, obs, last_action):
        """Whole episodes from a zero hidden state: obs [B, T, K, O], last_action [B, T, K] -> Q [B, T, K, A]."""
        B, T, K, _ = obs.shape
        x = self.embed(obs, last_action).transpose(1, 2).reshape(B * K, T, self.hidden)
        out, _ = self.rnn(x)
        return self.fc2(out.view(B, K, T, self.hidden).transpose(1, 2))


class QMIXPolicy(nn.Module):
    """A QMIX agent network behind the acting interface of the actor-critics (``step`` -> scores, value, hidden):
    the scores are the Q-values with unavailable actions at -1e10, so argmax is the greedy action."""

    def __init__(self, agent: QAgent):
        super().__init__()
        self.agent, self.n_agents, self.n_actions = agent, agent.n_agents, agent.n_actions

    def initial_hidden(self, batch: int) -> torch.Tensor:
        return self.agent.initial_hidden(batch)

    def step(self, obs, last_action, avail, h, state=None):
        q, h = self.agent(obs, last_action, h)
        return q.masked_fill(~avail, -1e10), None, h


class QMixer(nn.Module):
    """Monotonic mixing: Q_tot = elu(q . |W1(s)| + b1(s)) . |W2(s)| + V(s); W from two-layer hypernetworks."""

    def __init__(self, state_dim: int, n_agents: int, embed: int = 32, hypernet_embed: int = 64):
        super().__init__()
        self.n_agents, self.embed = n_agents, embed
        self.hyper_w1 = nn.Sequential(nn.Linear(state_dim, hypernet_embed), nn.ReLU(),
                                      nn.Linear(hypernet_embed, embed * n_agents))
        self.hyper_w2 = nn.Sequential(nn.Linear(state_dim, hypernet_embed), nn.ReLU(), nn.Linear(hypernet_embed, embed))
        self.hyper_b1 = nn.Linear(state_dim, embed)
        self.value = nn.Sequential(nn.Linear(state_dim, embed), nn.ReLU(), nn.Linear(embed, 1))

    def forward(self, q: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """q [..., K], state [..., S] -> Q_tot [...]."""
        lead = q.shape[:-1]
        q, s = q.reshape(-1, 1, self.n_agents), state.reshape(-1, state.shape[-1])
        w1 = self.hyper_w1(s).abs().view(-1, self.n_agents, self.embed)
        hidden = F.elu(torch.bmm(q, w1) + self.hyper_b1(s).unsqueeze(1))
        w2 = self.hyper_w2(s).abs().view(-1, self.embed, 1)
        return (torch.bmm(hidden, w2).view(-1) + self.value(s).view(-1)).view(lead)


class VDNMixer(nn.Module):
    """Q_tot = sum of the agents' Q-values (Sunehag et al. 2018): q [..., K] -> [...]."""

    def forward(self, q: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        return q.sum(-1)


class NoMixer(nn.Module):
    """Independent Q-learning: every agent's Q-value is its own TD target's (q [..., K] -> [..., K])."""

    def forward(self, q: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        return q


def make_mixer(cfg: QMIXConfig, spec) -> nn.Module:
    if cfg.mixer == "monotonic":
        return QMixer(spec.state_dim, spec.n_agents, cfg.mixing_embed_dim, cfg.hypernet_embed)
    return VDNMixer() if cfg.mixer == "sum" else NoMixer()


def per_agent(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A per-step tensor [B, t] broadcast to ``like``'s shape: [B, t] (mixed) or [B, t, K] (no mixer)."""
    return x.unsqueeze(-1).expand_as(like) if like.dim() > x.dim() else x


class EpisodeBuffer(RingBuffer):
    """pymarl's episode replay buffer: whole episodes, zero-padded to the episode limit T, oldest overwritten first.
    obs/state/avail hold T+1 steps (step T: what follows the last action, for the bootstrap)."""

    FIELDS = ("obs", "state", "avail", "actions", "reward", "terminated", "filled")

    def __init__(self, capacity: int, T: int, K: int, obs_dim: int, state_dim: int, n_actions: int):
        super().__init__(capacity)
        self.T = T
        self.obs = torch.zeros(capacity, T + 1, K, obs_dim, dtype=torch.float16)
        self.state = torch.zeros(capacity, T + 1, state_dim, dtype=torch.float16)
        self.avail = torch.zeros(capacity, T + 1, K, n_actions, dtype=torch.bool)
        self.actions = torch.zeros(capacity, T, K, dtype=torch.long)
        self.reward = torch.zeros(capacity, T)
        self.terminated = torch.zeros(capacity, T, dtype=torch.bool)
        self.filled = torch.zeros(capacity, T, dtype=torch.bool)

    nbytes = staticmethod(replay_buffer_nbytes)

    def sample(self, n: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
        idx = torch.randint(self.size, (n,), generator=gen)
        t_max = int(self.filled[idx].sum(1).max())  # cut to the longest sampled episode (pymarl: max_t_filled)
        out = {name: getattr(self, name)[idx, : t_max + (1 if name in ("obs", "state", "avail") else 0)]
               for name in self.FIELDS}
        out["obs"], out["state"] = out["obs"].float(), out["state"].float()
        return out


class QMIX:
    """State of one QMIX run: agent network and mixer (+ targets), optimiser, replay buffer, envs."""

    name = LEARNER.name
    update_stats = QMIX_STATS
    run_metadata: dict = {}
    physical_only = False  # a centralized controller acts on a task's physical view (``OnPolicyLearner``'s note)

    def __init__(self, cfg: QMIXConfig):
        self.cfg = cfg
        torch.set_num_threads(cfg.torch_threads)
        keep_freed_memory()
        env_opts = {"physical_only": self.physical_only}
        if cfg.reward_scale is not None:
            env_opts["reward_scale"] = cfg.reward_scale
        self.env = envs.make(cfg.task, num_envs=cfg.num_envs, seed=cfg.seed, **env_opts)
        self.eval_env = envs.make(cfg.task, num_envs=cfg.eval_episodes, seed=cfg.seed + 1_000_003, **env_opts)
        self.spec = spec = self.env.spec
        self.T = spec.episode_limit
        self.gen = torch.Generator().manual_seed(cfg.seed)
        torch.manual_seed(cfg.seed)
        K = spec.n_agents
        self.agent = self.make_agent()
        self.mixer = make_mixer(cfg, spec)
        self.target_agent, self.target_mixer = copy.deepcopy(self.agent), copy.deepcopy(self.mixer)
        self.params = [*self.agent.parameters(), *self.mixer.parameters()]
        self.precision = self._choose_precision()
        if cfg.optimizer == "adam":
            self.opt = torch.optim.Adam(self.params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        else:
            self.opt = torch.optim.RMSprop(self.params, lr=cfg.lr, alpha=cfg.rms_alpha, eps=cfg.rms_eps,
                                           weight_decay=cfg.weight_decay)
        self.buffer = EpisodeBuffer(cfg.buffer_episodes, self.T, K, spec.obs_dim, spec.state_dim, spec.n_actions)
        self.run_metadata = {"replay_buffer_bytes": EpisodeBuffer.nbytes(cfg.buffer_episodes, self.T, K, spec.obs_dim,
                                                                          spec.state_dim, spec.n_actions)}
        self.env_steps = self.episodes = self.last_target_update = 0
        self.update_credit = 0.0  # fractional gradient steps owed (updates_per_episode * episodes collected)
        self.last_train_stats: dict = {}

    def make_agent(self) -> nn.Module:
        """The agent network: pymarl's, one shared by all agents over each one's own observation."""
        spec = self.spec
        return QAgent(spec.n_agents, spec.obs_dim, spec.n_actions, self.cfg.hidden_size)

    def _choose_precision(self) -> Choice:
        """``precision.choose`` with a probe that runs the agent network's training pass (Q-values of a batch of
        whole episodes, forward and backward) on random inputs; the gradients it leaves are cleared."""
        cfg, spec = self.cfg, self.spec
        B, T, K = cfg.batch_episodes, self.T, spec.n_agents
        batch = {}

        def training_pass():
            if not batch:  # built on first use: a config that does not probe pays nothing
                g = torch.Generator().manual_seed(0)  # not the run's generators: probing leaves the run unchanged
                batch.update(obs=torch.randn(B, T + 1, K, spec.obs_dim, generator=g),
                             actions=torch.randint(0, spec.n_actions, (B, T, K), generator=g))
            self._q_values(self.agent, batch).sum().backward()

        key = (type(self.agent).__name__, B, T, K, spec.obs_dim, spec.n_actions, cfg.hidden_size)
        choice = choose(cfg.precision, training_pass, key)
        self.agent.zero_grad(set_to_none=True)
        return choice

    def autocast(self):
        """The precision context of acting and learning (the trainer enters it)."""
        return autocast(self.precision.precision)

    def epsilon(self) -> float:
        cfg = self.cfg
        if cfg.epsilon_anneal_episodes:
            frac = min(self.episodes / cfg.epsilon_anneal_episodes, 1.0)
        else:
            frac = min(self.env_steps / cfg.epsilon_anneal_steps, 1.0)
        return cfg.epsilon_start + frac * (cfg.epsilon_finish - cfg.epsilon_start)

    def greedy_act(self, obs, last_action, avail, h):
        q, h = self.agent(obs, last_action, h)
        return q.masked_fill(~avail, -math.inf).argmax(-1), h

    def epsilon_greedy(self, q: torch.Tensor, avail: torch.Tensor, epsilon: float) -> torch.Tensor:
        greedy = q.masked_fill(~avail, -math.inf).argmax(-1)
        flat = avail.reshape(-1, avail.shape[-1]).float()
        random = torch.multinomial(flat, 1, generator=self.gen).view(greedy.shape)  # uniform over available actions
        explore = torch.rand(greedy.shape, generator=self.gen) < epsilon
        return torch.where(explore, random, greedy)

    # ---------------------------------------------------------------- acting
    @torch.no_grad()
    def collect(self) -> dict:
        """Every env plays one fresh episode with epsilon-greedy actions; all go into the replay buffer (acting on one
        torch thread: ``algorithms.common.cpu.torch_threads``)."""
        with torch_threads(1):
            return self._collect()

    def _collect(self) -> dict:
        N, T, K = self.cfg.num_envs, self.T, self.spec.n_agents
        spec = self.spec
        ep = {"obs": torch.zeros(N, T + 1, K, spec.obs_dim), "state": torch.zeros(N, T + 1, spec.state_dim),
              "avail": torch.zeros(N, T + 1, K, spec.n_actions, dtype=torch.bool),
              "actions": torch.zeros(N, T, K, dtype=torch.long), "reward": torch.zeros(N, T),
              "terminated": torch.zeros(N, T, dtype=torch.bool), "filled": torch.zeros(N, T, dtype=torch.bool)}
        o = self.env.reset()
        h = self.agent.initial_hidden(N)
        last_action = torch.full((N, K), -1, dtype=torch.long)
        live = torch.ones(N, dtype=torch.bool)
        returns, wins, epsilon = [], [], self.epsilon()
        for t in range(T):
            obs, avail = torch.from_numpy(o.obs), torch.from_numpy(o.avail_actions)
            q, h = self.agent(obs, last_action, h)
            action = self.epsilon_greedy(q, avail, epsilon)
            r = self.env.step(action.numpy())
            # Every env's step is written; steps after an env's episode ended are zeroed below (cheaper than masking
            # each write).
            ep["obs"][:, t], ep["state"][:, t], ep["avail"][:, t] = obs, torch.from_numpy(o.state), avail
            ep["actions"][:, t], ep["reward"][:, t] = action, torch.from_numpy(r.reward)
            ep["terminated"][:, t] = torch.from_numpy(r.terminated)
            ep["filled"][:, t] = live
            done = torch.from_numpy(r.done) & live
            returns += r.episode_return[done.numpy()].tolist()
            wins += r.battle_won[done.numpy()].tolist()
            live &= ~done
            o, last_action = r, action
            if not live.any():
                break
        if live.any():
            raise RuntimeError(f"{spec.name}: episodes did not end within the episode limit")
        pad = ~ep["filled"]  # [N, T]: after each episode's end
        for name in ("obs", "state", "avail"):
            ep[name][:, :T][pad] = 0
        for name in ("actions", "reward", "terminated"):
            ep[name][pad] = 0
        self.buffer.insert(ep)
        steps = int(ep["filled"].sum())
        self.env_steps += steps
        self.episodes += N
        cfg = self.cfg
        self.update_credit += (steps / cfg.env_steps_per_update if cfg.env_steps_per_update
                               else N * cfg.updates_per_episode)
        return {"steps": steps, "returns": returns, "wins": wins}

    # ---------------------------------------------------------------- learning
    def _q_values(self, agent: QAgent, batch: dict) -> torch.Tensor:
        """Q-values [B, t+1, K, A] over the sampled episodes (last-action input: none at t=0, then the actions)."""
        obs, actions = batch["obs"], batch["actions"]
        B, T1, K, _ = obs.shape
        last_action = torch.cat([torch.full((B, 1, K), -1, dtype=torch.long), actions], 1)[:, :T1]
        return agent.episodes(obs, last_action)

    @torch.no_grad()
    def td_targets(self, b: dict, q: torch.Tensor) -> torch.Tensor:
        """y_t = r_t + gamma * Q_tot^target(s_{t+1}, a*_{t+1}) [B, t] ([B, t, K] without a mixer: each agent's own
        target on the team reward), a* = argmax of the online Q (double Q) over available actions; no bootstrap where
        the episode ended with step t (terminated, or truncated: see above)."""
        cfg, avail_next = self.cfg, b["avail"][:, 1:]
        target_q = self._q_values(self.target_agent, b)[:, 1:].masked_fill(~avail_next, -1e10)
        if cfg.double_q:
            best = q.detach()[:, 1:].masked_fill(~avail_next, -1e10).argmax(-1, keepdim=True)
            target_max = target_q.gather(-1, best).squeeze(-1)
        else:
            target_max = target_q.max(-1).values
        filled = b["filled"]
        ends = ~torch.cat([filled[:, 1:], torch.zeros_like(filled[:, :1])], 1)  # step t+1 is not part of the episode
        bootstrap = (~(b["terminated"] | ends)).float()
        next_value = self.target_mixer(target_max, b["state"][:, 1:])
        return per_agent(b["reward"], next_value) + cfg.gamma * per_agent(bootstrap, next_value) * next_value

    def _train_step(self) -> dict:
        cfg = self.cfg
        b = self.buffer.sample(cfg.batch_episodes, self.gen)
        q = self._q_values(self.agent, b)  # [B, t+1, K, A]
        chosen = q[:, :-1].gather(-1, b["actions"].unsqueeze(-1)).squeeze(-1)  # [B, t, K]
        y = self.td_targets(b, q)
        q_tot = self.mixer(chosen, b["state"][:, :-1])  # [B, t] ([B, t, K] without a mixer)
        mask = per_agent(b["filled"].float(), q_tot)
        td = (q_tot - y) * mask
        loss = (td ** 2).sum() / mask.sum()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = nn.utils.clip_grad_norm_(self.params, cfg.max_grad_norm)
        self.opt.step()
        if cfg.target_tau:
            self.soft_update_targets(cfg.target_tau)
        n = mask.sum()
        return {"td_loss": float(loss.detach()), "q_taken_mean": float((q_tot.detach() * mask).sum() / n),
                "target_mean": float((y * mask).sum() / n), "grad_norm": float(grad_norm)}

    @torch.no_grad()
    def soft_update_targets(self, tau: float) -> None:
        for net, target in ((self.agent, self.target_agent), (self.mixer, self.target_mixer)):
            for p, tp in zip(net.parameters(), target.parameters()):
                tp.lerp_(p, tau)

    def update(self) -> dict:
        cfg = self.cfg
        stats = {k: math.nan for k in QMIX_STATS}
        n_steps = int(self.update_credit)
        self.update_credit -= n_steps
        if self.buffer.size >= cfg.batch_episodes and n_steps:
            acc = {}
            for _ in range(n_steps):
                for k, v in self._train_step().items():
                    acc[k] = acc.get(k, 0.0) + v / n_steps
            self.last_train_stats = acc
        stats.update(self.last_train_stats)  # the latest gradient steps' (a collect may owe none yet)
        if not cfg.target_tau and self.episodes - self.last_target_update >= cfg.target_update_episodes:
            self.target_agent.load_state_dict(self.agent.state_dict())
            self.target_mixer.load_state_dict(self.mixer.state_dict())
            self.last_target_update = self.episodes
        stats["epsilon"], stats["buffer_episodes"] = self.epsilon(), self.buffer.size
        return stats

    def evaluate(self) -> dict:
        with torch_threads(1):
            return evaluate_greedy(self.eval_env, self.greedy_act, self.agent.initial_hidden(self.cfg.eval_episodes))

    # ---------------------------------------------------------------- checkpoints
    def model_state(self) -> dict:
        return {"algorithm": self.name, "model": self.agent.state_dict(), "mixer": self.mixer.state_dict(),
                "env_steps": self.env_steps, "task": self.cfg.task, "spec": dataclasses.asdict(self.spec),
                "config": dataclasses.asdict(self.cfg)}

    def training_state(self) -> dict:
        return {**self.model_state(), "target_agent": self.target_agent.state_dict(),
                "target_mixer": self.target_mixer.state_dict(), "optimizer": self.opt.state_dict(),
                "generator": self.gen.get_state(), "env": env_state_tensors(self.env),
                "eval_env": env_state_tensors(self.eval_env),
                "buffer": self.buffer.state_dict(), "episodes": self.episodes,
                "last_target_update": self.last_target_update, "update_credit": self.update_credit,
                "last_train_stats": self.last_train_stats, "precision": self.precision.record()}

    def load_training_state(self, state: dict) -> None:
        self.agent.load_state_dict(state["model"])
        self.mixer.load_state_dict(state["mixer"])
        self.target_agent.load_state_dict(state["target_agent"])
        self.target_mixer.load_state_dict(state["target_mixer"])
        self.opt.load_state_dict(state["optimizer"])
        self.gen.set_state(state["generator"])
        restore_env_state(self.env, state["env"])
        restore_env_state(self.eval_env, state["eval_env"])
        self.buffer.load_state_dict(state["buffer"])
        self.episodes, self.last_target_update = state["episodes"], state["last_target_update"]
        self.update_credit, self.env_steps = state["update_credit"], state["env_steps"]
        self.last_train_stats = state["last_train_stats"]
        if "precision" in state:  # a resumed run computes as it started
            self.precision = Choice(**state["precision"])


def acting_policy(ckpt: dict) -> QMIXPolicy:
    """The acting network of a checkpoint of this learner: the agent network's Q-values over available actions, as
    scores (sample it epsilon-greedy; it has no stochastic policy)."""
    spec, cfg = ckpt["spec"], ckpt["config"]
    agent = QAgent(spec["n_agents"], spec["obs_dim"], spec["n_actions"], cfg["hidden_size"])
    agent.load_state_dict(ckpt["model"])
    return QMIXPolicy(agent)


def train(cfg: QMIXConfig, run_dir, progress: bool = True, restart_if_changed: bool = False,
          arm: str | None = None) -> list[dict]:
    return trainer.train(cfg, run_dir, progress, restart_if_changed, QMIX, arm=arm)


def main(argv: list[str] | None = None) -> int:
    return trainer.main(argv, LEARNER.name, __doc__)


if __name__ == "__main__":
    sys.exit(main())
