"""The one place learner and arm names live. The workflow, the config checks, expert loading, the aggregation and the
scripts read this table; none of them names a learner or an arm.

A **learner** is a module with a training loop (``algorithms/<module>.py``) and a typed config with a resource
estimate (``algorithms/configs/<module>.py``, torch-free). An **arm** is what a figure compares: a learner plus fixed
settings (DM² and GAIL-only are the same learner with another reward). Adding an arm is one ``Arm`` entry here (and its
config entries); adding a learner is its two modules plus one ``Learner`` entry.

Importing this file imports neither torch nor JAX: classes are named by strings and loaded on first use. The workflow
reads a learner's ``config_cls`` and ``resources`` (its config module only) when it builds its DAG; ``load()`` and
``learner_cls`` import the learner module (torch).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Literal

# "centralized sequential": one controller that decodes the agents' actions one after another (MAT)
Execution = Literal["decentralized", "CTDE", "centralized", "centralized sequential"]
Input = Literal["none", "demos", "expert"]
EXECUTION_MODES = ("decentralized", "CTDE", "centralized", "centralized sequential")
INPUT_KINDS = ("none", "demos", "expert")


@dataclass(frozen=True)
class Learner:
    name: str
    module: str  # algorithms.<module>: the learner class, acting_policy, main (and its config and resources again)
    config_module: str  # algorithms.configs.<module>: the config class and resources(hp, spec), without torch
    config_class: str
    learner_class: str
    sections: tuple[str, ...]  # the config-file blocks it reads, merged in order (a later block wins)
    execution: Execution  # how its trained policy acts
    display: str
    # How an acting policy is read from its checkpoints (``<module>.acting_policy``) and whether it can demonstrate:
    # per_agent_networks: agents of different teams can be mixed (style indep_concurrent); stochastic_policy: it can
    # be sampled (else epsilon-greedy only).
    expert: bool = False
    per_agent_networks: bool = False
    stochastic_policy: bool = True
    # Rows of the hyperparameter table: (config key, row label).
    table_rows: tuple[tuple[str, str], ...] = ()

    def load(self):
        """The learner module (imports torch)."""
        return importlib.import_module(self.module)

    @property
    def config_cls(self):
        """The config dataclass, from the config module (no torch)."""
        return getattr(importlib.import_module(self.config_module), self.config_class)

    @property
    def resources(self):
        """``resources(hp, spec) -> (memory MB, runtime minutes)`` of one run, from the config module (no torch)."""
        return importlib.import_module(self.config_module).resources

    @property
    def learner_cls(self):
        return getattr(self.load(), self.learner_class)


@dataclass(frozen=True)
class Arm:
    name: str
    learner: str
    display: str
    settings: dict[str, Any] = field(default_factory=dict)  # config keys fixed by the arm
    consumes: Input = "none"  # what a run of this arm reads besides the env: nothing, demonstrations, an expert
    joint_demos: bool = False  # needs joint rows (the agents of one time step together): concurrent styles only
    execution: Execution | None = None  # None: the learner's
    training: str = ""  # what its training shares across agents, where that differs from its execution mode

    @property
    def takes_env_steps(self) -> bool:
        """False for an arm without RL (BC alone: its settings fix the budget at 0); the budget is otherwise each
        run's own, so it tells arms apart only in this respect."""
        return self.settings.get("total_env_steps") != 0

    @property
    def mode(self) -> str:
        """The execution-mode label tables and figures show."""
        mode = self.execution or LEARNERS[self.learner].execution
        return f"{mode}; {self.training}" if self.training else mode


PPO_ROWS = (("ppo_epochs", "PPO epochs"), ("clip", "PPO clip (policy and value)"),
            ("value_handling", "value loss (clipped, unclipped, normalized)"), ("lr", "Adam learning rate"),
            ("gamma", "discount"), ("gae_lambda", "GAE lambda"), ("entropy_coef", "entropy coefficient"),
            ("num_envs", "parallel envs"), ("rollout_mode", "rollout mode"),
            ("rollout_length", "rollout length (steps mode)"), ("chunk_length", "BPTT length"),
            ("hidden_size", "hidden width"), ("total_env_steps", "env steps"))

IMITATION_ROWS = (("gail_coef", "GAIL reward coefficient c"), ("gail_epochs", "discriminator steps per update"),
                  ("gail_batch_rows", "discriminator batch rows"), ("gail_lr", "discriminator learning rate"),
                  ("gail_gp_lambda", "gradient penalty"), ("demo_episodes", "demonstration episodes per agent"))

LEARNERS: dict[str, Learner] = {learner.name: learner for learner in [
    Learner("ippo", "algorithms.ippo", "algorithms.configs.ippo", "IPPOConfig", "IPPO", ("ippo",), "decentralized",
            "IPPO", expert=True, per_agent_networks=True, table_rows=PPO_ROWS),
    Learner("mappo", "algorithms.mappo", "algorithms.configs.mappo", "MAPPOConfig", "MAPPO", ("ippo", "mappo"), "CTDE",
            "MAPPO", expert=True,
            table_rows=(("ppo_epochs", "PPO epochs"), ("clip", "PPO clip"), ("value_handling", "value loss"),
                        ("num_envs", "parallel envs"), ("rollout_length", "rollout length"))),
    Learner("qmix", "algorithms.qmix", "algorithms.configs.qmix", "QMIXConfig", "QMIX", ("qmix",), "CTDE", "QMIX",
            expert=True, stochastic_policy=False,
            table_rows=(("mixer", "mixer"), ("optimizer", "optimizer"), ("lr", "learning rate"),
                        ("batch_episodes", "batch (episodes)"),
                        ("buffer_episodes", "replay buffer (episodes)"),
                        ("epsilon_anneal_steps", "epsilon anneal steps"), ("epsilon_finish", "final epsilon"),
                        ("target_update_episodes", "target update (episodes)"),
                        ("updates_per_episode", "gradient steps per episode"), ("total_env_steps", "env steps"))),
    # adversarial imitation: the generator is the learner (IPPO's or MAPPO's networks), the rest are its settings
    Learner("imitation", "algorithms.imitation", "algorithms.configs.imitation", "ImitationConfig",
            "AdversarialImitation", ("ippo", "imitation"), "decentralized", "adversarial imitation (IPPO generator)",
            table_rows=IMITATION_ROWS),
    Learner("imitation_ctde", "algorithms.imitation_ctde", "algorithms.configs.imitation_ctde", "ImitationCTDEConfig",
            "AdversarialImitationCTDE", ("ippo", "mappo", "imitation"), "CTDE",
            "adversarial imitation (MAPPO generator)", table_rows=IMITATION_ROWS),
    Learner("imitation_mat", "algorithms.imitation_mat", "algorithms.configs.imitation_mat", "ImitationMATConfig",
            "AdversarialImitationMAT", ("ippo", "mat", "imitation", "imitation_mat"), "centralized sequential",
            "adversarial imitation (MAT generator)",
            table_rows=(("gail_epochs", "discriminator steps per update"),
                        ("gail_batch_rows", "discriminator batch rows"), ("gail_lr", "discriminator learning rate"),
                        ("gail_hidden", "discriminator width"), ("gail_w_epsilon", "Wasserstein epsilon"),
                        ("gail_w_omega", "Wasserstein regulariser"), ("demo_episodes", "demonstration episodes"))),
    # CESMA's expert (Lin et al.): one controller over the joint observation, one action head per agent
    Learner("central_ppo", "algorithms.central_ppo", "algorithms.configs.central_ppo", "CentralPPOConfig",
            "CentralPPO", ("ippo", "central_ppo"), "centralized", "centralized PPO", expert=True,
            table_rows=(("ppo_epochs", "PPO epochs"), ("clip", "PPO clip"), ("hidden_size", "hidden width"),
                        ("total_env_steps", "env steps"))),
    # CESMA's expert on SMAX (App. E.1): one recurrent double DQN over the joint observation, Q_tot = sum of its heads
    Learner("central_vdn", "algorithms.central_vdn", "algorithms.configs.central_vdn", "CentralVDNConfig",
            "CentralVDN", ("qmix", "central_vdn"), "centralized", "centralized VDN", expert=True,
            stochastic_policy=False,
            table_rows=(("lr", "Adam learning rate"), ("weight_decay", "weight decay"),
                        ("target_tau", "soft target tau"),
                        ("env_steps_per_update", "env steps per gradient step"),
                        ("batch_episodes", "batch (episodes)"), ("epsilon_anneal_episodes", "epsilon anneal episodes"),
                        ("hidden_size", "hidden width"), ("total_env_steps", "env steps"))),
    # the Multi-Agent Transformer (Wen et al. 2022): agent m acts on every observation and agents 1..m-1's actions;
    # a baseline on the env reward and MILD²'s generator
    Learner("mat", "algorithms.mat", "algorithms.configs.mat", "MATConfig", "MAT", ("ippo", "mat"),
            "centralized sequential", "MAT",
            table_rows=(("n_block", "blocks"), ("hidden_size", "width (n_embd)"), ("n_head", "heads"),
                        ("ppo_epochs", "PPO epochs"), ("clip", "PPO clip"), ("lr", "Adam learning rate"),
                        ("value_coef", "value-loss coefficient"), ("value_handling", "value loss"),
                        ("total_env_steps", "env steps"))),
    # CESMA (Lin et al.): decentralized learners trained by multi-agent DAgger on the labels of a centralized expert
    Learner("cesma", "algorithms.cesma", "algorithms.configs.cesma", "CESMAConfig", "CESMA", ("cesma",),
            "decentralized", "CESMA (multi-agent DAgger)",
            table_rows=(("network", "learners"), ("hidden_size", "learner width"), ("lr", "Adam learning rate"),
                        ("weight_decay", "weight decay"), ("batch_records", "batch (joint records; mlp)"),
                        ("batch_episodes", "batch (episodes; shared_rnn)"), ("k", "env steps per supervised step"),
                        ("capacity", "buffer capacity (joint records; mlp)"),
                        ("warmup_records", "warm-up records (mlp)"),
                        ("capacity_episodes", "buffer capacity (episodes; shared_rnn)"),
                        ("warmup_episodes", "warm-up episodes (shared_rnn)"),
                        ("buffer", "buffer"), ("acting", "acting of the learners"), ("num_envs", "parallel envs"),
                        ("total_env_steps", "env steps"))),
]}

_MAGAIL = {"reward": "gail", "gail_input": "obs_action", "gail_reward_transform": "two_sigmoid_minus_one",
           "gail_gp_lambda": 0.0}
# MILD²: Eq. 6's Wasserstein loss, spectral normalisation, reward softplus(d) (the coherent reading), pure imitation
_MILD2 = {"reward": "gail", "gail_input": "obs_action", "gail_loss": "wasserstein", "gail_spectral_norm": True,
          "gail_reward_transform": "softplus"}
ARMS: dict[str, Arm] = {arm.name: arm for arm in [
    Arm("ippo", "ippo", "IPPO"),
    Arm("mappo", "mappo", "MAPPO"),
    Arm("qmix", "qmix", "QMIX"),
    # DM² (Wang et al. 2023) and the variants of its paper
    Arm("dm2", "imitation", "DM²", consumes="demos"),
    Arm("gail_only", "imitation", "GAIL-only", {"reward": "gail"}, consumes="demos"),
    Arm("dm2_sil", "imitation", "DM²+SIL", {"gail_expert": "self"}),
    # behavioural cloning alone (no env steps: its policy is evaluated once; MILD²'s Table 1 row)
    Arm("bc", "imitation", "BC", {"reward": "env", "bc_pretrain": True, "total_env_steps": 0}, consumes="demos"),
    Arm("bc_ippo", "imitation", "BC+IPPO", {"reward": "env", "bc_pretrain": True}, consumes="demos"),
    Arm("bc_dm2", "imitation", "BC+DM²", {"bc_pretrain": True}, consumes="demos"),
    Arm("dm2_state_action", "imitation", "DM² state-action D", {"gail_input": "obs_action"}, consumes="demos"),
    # the imitation reward of dead agents and ended episodes (gail_terminal): the authors' code and DAC's absorbing
    # state, against none (dm2, gail_only)
    Arm("dm2_reference", "imitation", "DM² terminal: reference", {"gail_terminal": "reference"}, consumes="demos"),
    Arm("dm2_absorbing", "imitation", "DM² terminal: absorbing", {"gail_terminal": "absorbing"}, consumes="demos"),
    Arm("gail_only_reference", "imitation", "GAIL-only terminal: reference",
        {"reward": "gail", "gail_terminal": "reference"}, consumes="demos"),
    Arm("gail_only_absorbing", "imitation", "GAIL-only terminal: absorbing",
        {"reward": "gail", "gail_terminal": "absorbing"}, consumes="demos"),
    # MAGAIL (Song et al. 2018) on the PPO generator: its three discriminators, reward 2σ(logit) − 1, pure imitation
    Arm("magail_dec", "imitation", "MAGAIL dec.", {**_MAGAIL, "gail_discriminator": "per_agent"}, consumes="demos"),
    Arm("magail_cent", "imitation", "MAGAIL cent.", {**_MAGAIL, "gail_discriminator": "joint"}, consumes="demos",
        joint_demos=True, training="centralized training (joint discriminator)"),
    Arm("magail_single", "imitation", "MAGAIL single", {**_MAGAIL, "gail_discriminator": "joint_single"},
        consumes="demos", joint_demos=True, training="centralized training (joint discriminator)"),
    # ... and on MAPPO's generator (shared actor, centralised critic), nearer MAGAIL's own MACK generator
    Arm("magail_cent_mappo", "imitation_ctde", "MAGAIL cent. on MAPPO",
        {**_MAGAIL, "gail_discriminator": "joint"}, consumes="demos", joint_demos=True,
        training="joint discriminator"),
    # CESMA's expert
    Arm("central_ppo", "central_ppo", "centralized PPO"),
    # CESMA: its learners act decentralized; their training reads a centralized expert's labels of joint observations
    Arm("cesma", "cesma", "CESMA", {"buffer": "shared"}, consumes="expert", training="labels of a centralized expert"),
    Arm("cesma_per_agent_buffer", "cesma", "CESMA per-agent buffer", {"buffer": "per_agent"}, consumes="expert",
        training="labels of a centralized expert"),
    # Alg. 2's ablation on tasks with communication: the messages get no training signal
    Arm("cesma_no_comm_loss", "cesma", "CESMA without comm. loss", {"comm_loss": False}, consumes="expert",
        training="labels of a centralized expert"),
    Arm("central_vdn", "central_vdn", "centralized VDN"),
    # pymarl's IQL (CESMA's SMAC baseline): QMIX's learner without a mixer; its agents act alone on their own
    # observations, but train one network together
    Arm("iql", "qmix", "IQL", {"mixer": "none"}, execution="decentralized",
        training="one Q-network shared by all agents"),
    # the Multi-Agent Transformer on the env reward: the upper reference of the MILD² comparison
    Arm("mat", "mat", "MAT"),
    # MILD² and its comparison: pure imitation on MAT's generator; only the discriminator changes between them
    Arm("magail_mat", "imitation_mat", "MAGAIL cent. on MAT", {**_MAGAIL, "gail_discriminator": "joint"},
        consumes="demos", joint_demos=True, training="joint discriminator"),
    Arm("mild2_gd", "imitation_mat", "MILD²-GD", {**_MILD2, "gail_discriminator": "per_agent"}, consumes="demos"),
    Arm("mild2", "imitation_mat", "MILD²", {**_MILD2, "gail_discriminator": "transformer"}, consumes="demos",
        joint_demos=True, training="joint discriminator"),
]}


# The demonstration styles (the DM² ablation, paper Fig. 3; algorithms/demos.py samples them).
STYLES = ("cotrained_concurrent", "cotrained_nonconcurrent", "indep_concurrent", "indep_nonconcurrent")


# A run's typed input, as it appears in its path (results/arms/<task>/<arm>/<input>/seed<N>): "none",
# "demos-<expert>-<style>-<step>" or "expert-<learner>-<step>" (learner names have no "-").
def demos_input(expert: str, style: str, step: int) -> str:
    return f"demos-{expert}-{style}-{step}"


def expert_input(learner_name: str, step: int) -> str:
    return f"expert-{learner_name}-{step}"


def parse_input(run_input: str) -> tuple:
    """An input id -> ("none",) | ("demos", expert, style, step) | ("expert", learner, step)."""
    kind, *rest = run_input.split("-")
    if kind == "none" and not rest:
        return ("none",)
    if kind == "demos" and len(rest) == 3:
        return ("demos", rest[0], rest[1], int(rest[2]))
    if kind == "expert" and len(rest) == 2:
        return ("expert", rest[0], int(rest[1]))
    raise ValueError(f"malformed run input {run_input!r}: none, demos-<expert>-<style>-<step> or "
                     "expert-<learner>-<step>")


def learner(name: str) -> Learner:
    if name not in LEARNERS:
        raise ValueError(f"unknown learner {name!r}; registered learners: {', '.join(LEARNERS)}")
    return LEARNERS[name]


def arm(name: str) -> Arm:
    if name not in ARMS:
        raise ValueError(f"unknown arm {name!r}; registered arms: {', '.join(ARMS)}")
    return ARMS[name]


def expert_learners() -> list[str]:
    """Learners whose checkpoints can act as experts (demonstrators)."""
    return [name for name, entry in LEARNERS.items() if entry.expert]


def display(name: str) -> str:
    """An arm's or a learner's name in tables and figures."""
    if name in ARMS:
        return ARMS[name].display
    if name in LEARNERS:
        return LEARNERS[name].display
    return name


def check_registry() -> None:
    """Internal consistency (tests call it): every arm's learner exists, names match keys, modes are known."""
    for name, entry in ARMS.items():
        assert entry.name == name and entry.learner in LEARNERS, name
        assert entry.consumes in INPUT_KINDS and (entry.execution is None or entry.execution in EXECUTION_MODES), name
        assert not entry.joint_demos or entry.consumes == "demos", name
    for name, entry in LEARNERS.items():
        assert entry.name == name and entry.execution in EXECUTION_MODES and "-" not in name, name
    displays = [a.display for a in ARMS.values()]
    assert len(set(displays)) == len(displays), "display names must be unique"


def arm_for(learner_name: str, config: dict, defaults: dict) -> str:
    """The registered arm of ``learner_name`` a config runs (a run trained by hand without ``--arm``): the one whose
    settings are exactly the config's departures from ``defaults`` among the keys arms set; a combination no arm
    has is named by the learner and its departures."""
    arms = [a for a in ARMS.values() if a.learner == learner_name]
    keys = sorted({k for a in arms for k in a.settings} - {"total_env_steps"})  # the budget: ``takes_env_steps``
    variant = {k: config[k] for k in keys if k in config and config[k] != defaults.get(k)}
    takes_env_steps = config.get("total_env_steps") != 0
    for a in arms:
        settings = {k: v for k, v in a.settings.items() if k != "total_env_steps" and v != defaults.get(k)}
        if settings == variant and a.takes_env_steps == takes_env_steps:
            return a.name
    return "_".join([learner_name, *(f"{k}-{config[k]}" for k in variant),
                     *([] if takes_env_steps else ["total_env_steps-0"])])


def learner_of_module(module: str) -> Learner:
    """The registry entry of the learner implemented by ``module`` (a learner module names itself through this, so
    its name lives here only)."""
    found = [entry for entry in LEARNERS.values() if entry.module == module]
    if not found:
        raise ValueError(f"module {module} implements no registered learner; learner modules: "
                         f"{', '.join(e.module for e in LEARNERS.values())}")
    return found[0]
