"""CESMA's multi-agent DAgger config (``algorithms/cesma.py``) and its resource estimate. Torch-free (see
``algorithms/configs/__init__.py``). Values from Lin et al. App. E (cooperative navigation, 3 agents: 2x128 MLP
learners, batch 32, Adam 1e-3, k = 1) as defaults; on SMAX (the config block's ``smax/*`` overrides) App. E.1's
recurrent learners; on the tasks with communication (Alg. 2) App. E's 2x64 learners. Every value the paper does not
give is marked assumed."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from algorithms.common.config import _f, absolute_eval_field, check, checked_task_spec
from envs.base import physical_spec

# Config keys whose values no source gives (the run's config.yaml lists them under ``assumed``).
ASSUMED = ("num_envs", "capacity", "warmup_records", "acting (MPE)", "expert_labels", "weight_decay (MPE)",
           "total_env_steps (a fixed budget, as every arm's, instead of the paper's stop once the expert is matched)",
           "capacity_episodes and warmup_episodes (shared_rnn)",
           "shared_rnn: each env plays whole episodes from their start and the supervised steps due run after them",
           "message_relaxation (Alg. 2: 'softmax / Gumbel-Softmax', which one and its temperature not given)")


@dataclass(frozen=True)
class CESMAConfig:
    task: str = _f("mpe/spread_3", "task name, e.g. mpe/spread_3")
    seed: int = _f(0, "seeds torch (init, acting, batch sampling) and the envs")
    total_env_steps: int = _f(300_000, "decentralization budget in joint env steps (the expert's own training steps "
                                       "are not counted here: they are its run's)")
    reward_scale: float | None = _f(None, "team-reward multiplier; null = backend default (SMAX 10 = SMAC scale)")
    expert: str | None = _f(None, "the centralized expert's checkpoint (.pt of a centralized learner, e.g. "
                                  "central_ppo, of this task); the workflow fills it from the run's typed input")
    num_envs: int = _f(8, "assumed: parallel envs the learners act in (the paper: one)")
    network: Literal["mlp", "shared_rnn"] = _f(
        "mlp", "the learners. mlp: K independent MLPs, each on its own observation (App. E, MPE), trained on joint "
        "records; shared_rnn: pymarl's recurrent agent network (FC-GRU-FC on its own observation, last action and "
        "agent id), one for all agents (App. E.1, SMAC), trained on whole episodes")
    hidden_size: int = _f(128, "width of each learner's two hidden layers (App. E: 2x128 on cooperative navigation); "
                               "shared_rnn: its FC and GRU width (App. E.1: 64)")
    lr: float = _f(1e-3, "Adam learning rate of every learner (App. E)")
    weight_decay: float = _f(0.0, "assumed on MPE: Adam weight decay (App. E: 1e-4 on SMAC, none given on MPE)")
    batch_records: int = _f(32, "joint records per supervised step (App. E: 32)")
    k: int = _f(1, "one supervised step every k joint env steps once the buffer holds warmup_records (Alg. 1; the "
                   "paper: 1 on MPE, 20 on SMAC)")
    capacity: int = _f(1_000_000, "assumed: buffer capacity in joint records; the oldest are overwritten first")
    warmup_records: int = _f(1000, "assumed: records the buffer holds before the first supervised step ('sufficiently "
                                   "large'); at least batch_records")
    batch_episodes: int = _f(32, "shared_rnn: whole episodes per supervised step (App. E.1: batch 32)")
    capacity_episodes: int = _f(5000, "assumed, shared_rnn: buffer capacity in episodes (pymarl's)")
    warmup_episodes: int = _f(32, "assumed, shared_rnn: episodes the buffer holds before the first supervised step "
                                  "(one batch)")
    buffer: Literal["shared", "per_agent"] = _f(
        "shared", "shared: one buffer of joint records, every learner trains on the same sampled time steps (Alg. 1); "
        "per_agent: each learner holds its own (o_i, a*_i) pairs and draws its batch independently (App. A.1)")
    acting: Literal["sample", "greedy"] = _f(
        "sample", "assumed on MPE: how learners act while collecting: sample their softmax policy, or take the argmax "
        "(the paper's SMAC learners act greedily)")
    expert_labels: Literal["greedy"] = _f("greedy", "assumed: the expert's label is the argmax of its joint policy's "
                                                    "head for each agent (the paper's DDPG experts are deterministic)")
    comm_loss: bool = _f(True, "on a task with a communication channel (Alg. 2): each speaker's loss adds its "
                               "receivers' action losses, back-propagated through its message; false: messages get no "
                               "training signal (the ablation)")
    message_relaxation: Literal["gumbel_st", "softmax"] = _f(
        "gumbel_st", "assumed (Alg. 2): how a recomputed message stays differentiable. gumbel_st: a one-hot sample "
        "forward (as at execution), the gradient of its Gumbel-softmax (temperature 1) back; softmax: the message's "
        "probabilities")
    beta_start: float = _f(0.0, "classic DAgger mixture (an extension; the paper's Alg. 1 is 0): probability that a "
                                "step executes the expert's joint action instead of the learners'")
    beta_decay_steps: int = _f(0, "env steps over which beta falls linearly from beta_start to 0 (0: beta stays at "
                                  "beta_start)")
    downweighted_action: int = _f(0, "the action whose expert labels weigh `downweight` in the cross-entropy (MPE's "
                                     "0 is do-nothing)")
    downweight: float = _f(1.0, "weight of labels equal to downweighted_action (1 = plain CE; App. E.4 up-weights "
                                "the other actions for experts that mostly do nothing, e.g. 0.2)")
    eval_interval: int = _f(10_000, "env steps between greedy evaluations (one also at step 0)")
    eval_episodes: int = _f(32, "greedy test episodes per evaluation")
    absolute_eval_factor: int = absolute_eval_field()
    expert_eval_episodes: int = _f(128, "greedy test episodes of the expert, once per run, on fixed seeds (the same "
                                        "for every run of one expert: its level in figures and tables)")
    checkpoint_interval: int = _f(100_000, "env steps between kept model snapshots")
    torch_threads: int = _f(1, "torch intra-op threads (1: a supervised step on 32 records is too small to split)")

    def validate(self) -> None:
        check(self.absolute_eval_factor >= 0, f"absolute_eval_factor must be >= 0, got {self.absolute_eval_factor}")
        for name in ["total_env_steps", "num_envs", "hidden_size", "batch_records", "k", "capacity",
                     "warmup_records", "eval_interval", "eval_episodes", "expert_eval_episodes", "checkpoint_interval",
                     "torch_threads"]:
            check(getattr(self, name) > 0, f"{name} must be > 0, got {getattr(self, name)}")
        check(self.lr > 0, f"lr must be > 0, got {self.lr}")
        check(self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}")
        check(self.downweight > 0, f"downweight must be > 0, got {self.downweight}")
        check(0 <= self.beta_start <= 1, f"beta_start must be in [0, 1], got {self.beta_start}")
        check(self.beta_decay_steps >= 0, f"beta_decay_steps must be >= 0, got {self.beta_decay_steps}")
        for name in ["batch_episodes", "capacity_episodes", "warmup_episodes"]:
            check(getattr(self, name) > 0, f"{name} must be > 0, got {getattr(self, name)}")
        if self.network == "mlp":  # its buffer holds joint records
            check(self.batch_records <= self.warmup_records <= self.capacity,
                  f"need batch_records <= warmup_records <= capacity, got {self.batch_records}, "
                  f"{self.warmup_records}, {self.capacity}")
            check(self.warmup_records <= self.total_env_steps,
                  f"warmup_records {self.warmup_records} exceeds total_env_steps {self.total_env_steps}: no "
                  f"supervised step would run")
            check(self.capacity >= self.num_envs, f"capacity {self.capacity} must hold one joint step of the "
                                                  f"{self.num_envs} envs")
        else:  # whole episodes
            check(self.batch_episodes <= self.warmup_episodes <= self.capacity_episodes,
                  f"need batch_episodes <= warmup_episodes <= capacity_episodes, got {self.batch_episodes}, "
                  f"{self.warmup_episodes}, {self.capacity_episodes}")
            check(self.capacity_episodes >= self.num_envs, f"capacity_episodes {self.capacity_episodes} must hold "
                                                           f"one collect's {self.num_envs} episodes")
            check(self.warmup_episodes <= self.total_env_steps,
                  f"warmup_episodes {self.warmup_episodes} exceeds total_env_steps {self.total_env_steps}: no "
                  f"supervised step would run")
        check(self.reward_scale is None or self.reward_scale > 0, f"reward_scale must be > 0, got {self.reward_scale}")
        check(self.seed >= 0, f"seed must be >= 0, got {self.seed}")
        spec = checked_task_spec(self.task)
        n_labelled = physical_spec(spec).n_actions  # the expert's actions (a channel's: physical only)
        check(0 <= self.downweighted_action < n_labelled,
              f"downweighted_action {self.downweighted_action} is not an action of {self.task} "
              f"(0..{n_labelled - 1}{'' if spec.comm is None else ', its physical actions'})")
        if spec.comm is not None:
            check(self.network == "mlp", f"network {self.network!r} has no message head: on {self.task}, a task with "
                                         f"a communication channel (Alg. 2), CESMA's learners are network mlp")
            check(self.buffer == "shared", f"buffer {self.buffer!r}: on {self.task} (Alg. 2) a batch's messages are "
                                           f"recomputed for the receivers of the same time steps: buffer shared only")
        else:
            check(self.comm_loss, f"comm_loss false: {self.task} has no communication channel (tasks with one: "
                                  f"mpe/speaker_listener, mpe/reference, mpe/reference_3), so nothing to ablate")

    def unused_keys(self) -> list[str]:
        """The other network's buffer settings: the workflow sends them at their defaults, so changing one reruns
        only the runs that use it."""
        comm = [] if checked_task_spec(self.task).comm is not None else ["comm_loss", "message_relaxation"]
        if self.network == "mlp":
            return ["batch_episodes", "capacity_episodes", "warmup_episodes", *comm]
        return ["batch_records", "capacity", "warmup_records", *comm]


def buffer_nbytes(capacity: int, K: int, obs_dim: int, n_actions: int, previous_step: bool = False) -> int:
    """Bytes of the mlp learners' DAgger buffer (``algorithms.cesma.LabelBuffer``): float32 observations, int64
    labels, bool alive flags and action masks; ``previous_step`` (Alg. 2's ``CommLabelBuffer``): the observations of
    the step before and a first-step flag too."""
    return capacity * (K * (4 * obs_dim * (2 if previous_step else 1) + 8 + 1 + n_actions) + int(previous_step))


def episode_buffer_nbytes(capacity: int, T: int, K: int, obs_dim: int, n_actions: int) -> int:
    """Bytes of the shared_rnn learners' buffer (``algorithms.cesma.EpisodeLabelBuffer``): float16 observations,
    int16 actions and labels, bool alive flags, action masks and filled steps, per episode of T steps."""
    return capacity * T * (K * (2 * obs_dim + 2 + 2 + 1 + n_actions) + 1)


def resources(hp: dict, spec) -> tuple[int, int]:
    """(memory MB, runtime minutes) for one run: ~1.5 GB of process plus the buffer (at most the budget's records or
    episodes); wall time at a conservative 500 env steps/s (one supervised step per k env steps)."""
    if hp.get("network", "mlp") == "shared_rnn":
        episodes = min(hp["capacity_episodes"], hp["total_env_steps"])
        size = episode_buffer_nbytes(episodes, spec.episode_limit, spec.n_agents, spec.obs_dim, spec.n_actions)
    else:
        records = min(hp["capacity"], hp["total_env_steps"])
        size = buffer_nbytes(records, spec.n_agents, spec.obs_dim, physical_spec(spec).n_actions, spec.comm is not None)
    return int(1500 + 2 * size / 2**20), max(30, int(hp["total_env_steps"] / 500 / 60 * 1.5))
