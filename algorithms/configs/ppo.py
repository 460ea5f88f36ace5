"""The keys every PPO-family learner shares (IPPO, MAPPO, the adversarial-imitation generator) and their resource
estimate; the learning itself is ``algorithms/common/ppo.py``. Torch-free (see ``algorithms/configs/__init__.py``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from algorithms.common.config import _f, absolute_eval_field, check, checked_task_spec

ValueHandling = Literal["clipped", "unclipped", "normalized"]


def value_handling_field(default: str):
    """The value-handling switch with a learner's own default (IPPO: clipped; MAPPO and MAT: normalized)."""
    return _f(default, "the critic's loss and scale: clipped (Huber on raw values, the change per update clipped by "
                       "`clip`, in reward units: IPPO's, as the DM² paper's), unclipped (Huber on raw values), "
                       "normalized (values normalised by running statistics, RMAPPO's ValueNorm, per agent for "
                       "independent critics, then clipped by `clip` in normalised units: MAPPO's and MAT's)")


@dataclass(frozen=True)
class PPOConfig:
    """The keys of every PPO-family learner (IPPO, MAPPO, and the adversarial-imitation generator)."""

    task: str = _f("smax/3m", "task name, e.g. smax/5m_vs_6m or mpe/spread_3")
    seed: int = _f(0, "seeds torch (sampling, minibatches, init) and the envs")
    total_env_steps: int = _f(2_000_000, "training budget in joint env steps (padding excluded)")
    reward_scale: float | None = _f(None, "team-reward multiplier; null = backend default (SMAX 10 = SMAC scale)")
    num_envs: int = _f(64, "parallel training envs")
    rollout_mode: Literal["steps", "episodes"] = _f(
        "steps", "steps: rollout_length steps per env per update, episodes carry over; episodes: every env plays "
        "exactly one fresh episode per update (num_envs episodes per update, the paper's buffer of 1024 episodes)")
    rollout_length: int = _f(64, "steps per env per update in steps mode (episodes mode uses the episode limit)")
    chunk_length: int = _f(16, "BPTT sequence length for the GRU (1 = the reference code's one-step truncation)")
    num_minibatches: int = _f(1, "minibatches per epoch (1 = full batch, as in the paper)")
    ppo_epochs: int = _f(10, "passes over each rollout (paper Table 1: per map)")
    clip: float = _f(0.2, "PPO clip for the ratio and the value (paper Table 1: per map)")
    lr: float = _f(5e-4, "Adam learning rate, actor and critic")
    adam_eps: float = _f(1e-5, "Adam epsilon")
    gamma: float = _f(0.99, "discount")
    gae_lambda: float = _f(0.95, "GAE lambda")
    entropy_coef: float = _f(0.01, "entropy bonus coefficient")
    value_coef: float = _f(0.5, "value-loss coefficient")
    huber_delta: float = _f(10.0, "Huber delta of the value loss")
    value_handling: ValueHandling = value_handling_field("clipped")
    max_grad_norm: float = _f(10.0, "per-agent gradient-norm clip, actor and critic separately")
    hidden_size: int = _f(64, "width of the MLP layers and the GRU")
    actor_gain: float = _f(0.01, "orthogonal init gain of the policy head")
    eval_interval: int = _f(50_000, "env steps between greedy evaluations (one also at step 0)")
    eval_episodes: int = _f(32, "greedy test episodes per evaluation")
    absolute_eval_factor: int = absolute_eval_field()
    checkpoint_interval: int = _f(500_000, "env steps between kept model snapshots (for demonstrations)")
    torch_threads: int = _f(2, "torch intra-op threads (the JAX env steps in between, so they do not compete)")
    collect_groups: int = _f(
        2, "the training envs are stepped in this many groups so that one group's env step (JAX, on its own thread) "
        "runs while the policy acts on another; 1 = no overlap. Must divide num_envs. For given actions every env steps "
        "identically for any value; the sampling draws its random numbers in another order, so runs with different "
        "values are different samples")
    precision: Literal["auto", "float32", "bfloat16"] = _f(
        "auto", "matmul precision of acting and learning. bfloat16 autocasts matrix products (weights, optimiser, "
        "heads and elementwise math stay float32); auto picks it only where the CPU has native bfloat16 and a probe "
        "of the run's own training pass finds it >= 1.1x faster, else float32 (algorithms/common/precision.py); the "
        "choice is recorded in the run's config.yaml")
    compile: Literal["auto", "always", "never"] = _f(
        "auto", "torch.compile the minibatch loss (forward and backward fused) and acting (sampling, greedy, "
        "value); eager where compiling fails (e.g. without a C++ compiler). auto: only where the run computes in "
        "bfloat16, the case where it measured faster (README: Throughput, precision and compilation); costs a one-off "
        "compile per network shape")

    # A learner that can train without env steps (behavioural cloning alone) says so; a run with total_env_steps 0
    # is then evaluated once, at step 0.
    allows_no_env_steps = False
    zero_steps_hint = ""

    def validate(self) -> None:
        check(self.absolute_eval_factor >= 0, f"absolute_eval_factor must be >= 0, got {self.absolute_eval_factor}")
        check(self.total_env_steps > 0 or (self.total_env_steps == 0 and self.allows_no_env_steps),
              f"total_env_steps must be > 0, got {self.total_env_steps}{self.zero_steps_hint}")
        positive = ["num_envs", "rollout_length", "chunk_length", "num_minibatches", "ppo_epochs",
                    "hidden_size", "eval_interval", "eval_episodes", "checkpoint_interval", "torch_threads", "collect_groups"]
        for name in positive:
            check(getattr(self, name) > 0, f"{name} must be > 0, got {getattr(self, name)}")
        for name in ["lr", "adam_eps", "clip", "huber_delta", "max_grad_norm", "actor_gain"]:
            check(getattr(self, name) > 0, f"{name} must be > 0, got {getattr(self, name)}")
        for name in ["gamma", "gae_lambda"]:
            check(0 <= getattr(self, name) <= 1, f"{name} must be in [0, 1], got {getattr(self, name)}")
        for name in ["entropy_coef", "value_coef"]:
            check(getattr(self, name) >= 0, f"{name} must be >= 0, got {getattr(self, name)}")
        check(self.num_envs % self.collect_groups == 0,
              f"collect_groups {self.collect_groups} must divide num_envs {self.num_envs} (1 turns the overlap off)")
        check(self.reward_scale is None or self.reward_scale > 0, f"reward_scale must be > 0, got {self.reward_scale}")
        check(self.seed >= 0, f"seed must be >= 0, got {self.seed}")
        spec = checked_task_spec(self.task)
        T = self.rollout_steps(spec.episode_limit)
        source = f"the episode limit of {self.task}" if self.rollout_mode == "episodes" else "rollout_length"
        check(T % self.chunk_length == 0, f"chunk_length {self.chunk_length} must divide the rollout length {T} ({source})")
        n_seq = (T // self.chunk_length) * self.num_envs
        check(self.num_minibatches <= n_seq,
              f"num_minibatches {self.num_minibatches} exceeds the {n_seq} sequences per rollout")

    def rollout_steps(self, episode_limit: int) -> int:
        return episode_limit if self.rollout_mode == "episodes" else self.rollout_length


def ppo_resources(hp: dict, spec) -> tuple[int, int]:
    """(memory MB, runtime minutes) to request for one run of a PPO-family learner: ~1.5 GB of process (torch +
    JAX) plus the rollout and its activations, generously; wall time at a conservative 1,000 env steps/s."""
    steps = hp["num_envs"] * (spec.episode_limit if hp["rollout_mode"] == "episodes" else hp["rollout_length"])
    per_step = 4 * spec.n_agents * (3 * (spec.obs_dim + spec.n_actions) + 2 * 12 * hp["hidden_size"] + spec.state_dim)
    return int(1500 + 3 * steps * per_step / 2**20), max(30, int(hp["total_env_steps"] / 1000 / 60 * 1.5))
