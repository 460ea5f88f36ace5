"""QMIX's config (``algorithms/qmix.py``), pymarl's defaults, and its resource estimate. The same learner with
``mixer: sum`` is VDN and with ``mixer: none`` pymarl's IQL; CESMA's centralized VDN expert
(``algorithms/configs/central_vdn.py``) takes these keys too. Torch-free (see ``algorithms/configs/__init__.py``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from algorithms.common.config import _f, absolute_eval_field, check, checked_task_spec


@dataclass(frozen=True)
class QMIXConfig:
    task: str = _f("smax/3m", "task name, e.g. smax/5m_vs_6m")
    seed: int = _f(0, "seeds torch (exploration, replay sampling, init) and the envs")
    total_env_steps: int = _f(2_000_000, "training budget in joint env steps")
    reward_scale: float | None = _f(None, "team-reward multiplier; null = backend default (SMAX 10 = SMAC scale)")
    mixer: Literal["monotonic", "sum", "none"] = _f(
        "monotonic", "how the agents' Q-values make the team's: monotonic (QMIX's mixing network on the state), "
                     "sum (VDN, Sunehag et al. 2018), none (independent Q-learning: each agent's own TD loss on the "
                     "team reward, pymarl's IQL)")
    num_envs: int = _f(8, "episodes played in parallel per collect (each env plays exactly one)")
    updates_per_episode: float = _f(
        0.125, "gradient steps per collected episode: 1/num_envs = one per collect, pymarl's parallel runner; 1 = "
               "pymarl's episode runner (8x the compute on CPU)")
    env_steps_per_update: int = _f(
        0, "one gradient step every this many env steps (CESMA's 'train every 20 steps'); 0 = by episodes "
           "(updates_per_episode); set one of the two, the other to 0")
    buffer_episodes: int = _f(5000, "replay buffer capacity in episodes (pymarl: 5000)")
    batch_episodes: int = _f(32, "episodes per gradient step (pymarl: 32)")
    optimizer: Literal["rmsprop", "adam"] = _f("rmsprop", "pymarl's RMSprop, or Adam (CESMA's VDN expert)")
    lr: float = _f(5e-4, "learning rate")
    weight_decay: float = _f(0.0, "L2 weight decay of the optimiser (CESMA's VDN expert: 1e-4)")
    rms_alpha: float = _f(0.99, "RMSprop smoothing constant (rmsprop only)")
    rms_eps: float = _f(1e-5, "RMSprop epsilon (rmsprop only)")
    max_grad_norm: float = _f(10.0, "gradient-norm clip over agent network and mixer")
    gamma: float = _f(0.99, "discount")
    epsilon_start: float = _f(1.0, "exploration epsilon at step 0")
    epsilon_finish: float = _f(0.05, "exploration epsilon after the anneal")
    epsilon_anneal_steps: int = _f(50_000, "env steps of the linear epsilon anneal")
    epsilon_anneal_episodes: int = _f(
        0, "if > 0: the anneal runs over this many collected episodes instead of epsilon_anneal_steps (CESMA: 3000)")
    target_update_episodes: int = _f(200, "episodes between hard target-network updates (target_tau 0)")
    target_tau: float = _f(
        0.0, "soft target update after every gradient step, target <- tau * online + (1 - tau) * target (CESMA: "
             "1e-3); 0 = hard copies every target_update_episodes (pymarl)")
    double_q: bool = _f(True, "double Q-learning: the online network picks the next action, the target values it")
    hidden_size: int = _f(64, "agent network width (FC and GRU)")
    mixing_embed_dim: int = _f(32, "mixing network width (qmix)")
    hypernet_embed: int = _f(64, "hidden width of the two-layer hypernetworks (qmix)")
    eval_interval: int = _f(50_000, "env steps between greedy evaluations (one also at step 0)")
    eval_episodes: int = _f(32, "greedy test episodes per evaluation")
    absolute_eval_factor: int = absolute_eval_field()
    checkpoint_interval: int = _f(500_000, "env steps between kept model snapshots (for demonstrations)")
    torch_threads: int = _f(2, "torch intra-op threads")
    precision: Literal["auto", "float32", "bfloat16"] = _f(
        "float32", "matmul precision; float32 by default because Q-learning targets need it (auto: as for PPO, "
        "algorithms/common/precision.py)")

    def validate(self) -> None:
        check(self.absolute_eval_factor >= 0, f"absolute_eval_factor must be >= 0, got {self.absolute_eval_factor}")
        for name in ["total_env_steps", "num_envs", "buffer_episodes", "batch_episodes", "target_update_episodes",
                     "hidden_size", "mixing_embed_dim", "hypernet_embed", "eval_interval", "eval_episodes",
                     "checkpoint_interval", "torch_threads", "epsilon_anneal_steps"]:
            check(getattr(self, name) > 0, f"{name} must be > 0, got {getattr(self, name)}")
        for name in ["lr", "rms_eps", "max_grad_norm"]:
            check(getattr(self, name) > 0, f"{name} must be > 0, got {getattr(self, name)}")
        for name in ["gamma", "rms_alpha", "epsilon_start", "epsilon_finish"]:
            check(0 <= getattr(self, name) <= 1, f"{name} must be in [0, 1], got {getattr(self, name)}")
        check(self.updates_per_episode >= 0, f"updates_per_episode must be >= 0, got {self.updates_per_episode}")
        for name in ["env_steps_per_update", "epsilon_anneal_episodes", "weight_decay"]:
            check(getattr(self, name) >= 0, f"{name} must be >= 0, got {getattr(self, name)}")
        check((self.env_steps_per_update == 0) != (self.updates_per_episode == 0),
              f"set one gradient-step cadence: env_steps_per_update {self.env_steps_per_update} or "
              f"updates_per_episode {self.updates_per_episode}, the other to 0")
        check(0 <= self.target_tau <= 1, f"target_tau must be in [0, 1], got {self.target_tau}")
        check(self.batch_episodes <= self.buffer_episodes,
              f"batch_episodes {self.batch_episodes} exceeds buffer_episodes {self.buffer_episodes}")
        check(self.reward_scale is None or self.reward_scale > 0, f"reward_scale must be > 0, got {self.reward_scale}")
        check(self.seed >= 0, f"seed must be >= 0, got {self.seed}")
        checked_task_spec(self.task)

    def unused_keys(self) -> list[str]:
        """The settings this run never reads: the workflow sends them at their defaults, so changing one in the
        config reruns only the runs that use it."""
        keys = []
        if self.mixer != "monotonic":
            keys += ["mixing_embed_dim", "hypernet_embed"]
        if self.optimizer != "rmsprop":
            keys += ["rms_alpha", "rms_eps"]
        if self.target_tau:
            keys.append("target_update_episodes")
        if self.epsilon_anneal_episodes:
            keys.append("epsilon_anneal_steps")
        return keys


def replay_buffer_nbytes(capacity: int, T: int, K: int, obs_dim: int, state_dim: int, n_actions: int) -> int:
    """Bytes of the episode replay buffer (``algorithms.qmix.EpisodeBuffer``: float16 obs and state, bool masks,
    int64 actions, float32 rewards, bool flags)."""
    return capacity * ((T + 1) * (2 * K * obs_dim + 2 * state_dim + K * n_actions) + T * (8 * K + 6))


def resources(hp: dict, spec) -> tuple[int, int]:
    """(memory MB, runtime minutes) to request for one run: ~1.5 GB of process plus the replay buffer; wall time at
    a conservative 300 env steps/s."""
    size = replay_buffer_nbytes(hp["buffer_episodes"], spec.episode_limit, spec.n_agents, spec.obs_dim,
                                spec.state_dim, spec.n_actions)
    return int(1500 + 1.3 * size / 2**20), max(30, int(hp["total_env_steps"] / 300 / 60 * 1.5))
