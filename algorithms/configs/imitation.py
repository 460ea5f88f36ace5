"""The adversarial-imitation learners' config (``algorithms/imitation.py``; ``algorithms/imitation_ctde.py`` adds a
check): the PPO generator's keys plus the discriminator's, the expert source's, the reward's and behaviour cloning's,
and the names of the discriminators and reward transforms (``algorithms/common/imitation.py`` implements them).
Torch-free (see ``algorithms/configs/__init__.py``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from algorithms.common.config import _f, check
from algorithms.configs.ippo import IPPOConfig
from algorithms.configs.ppo import ppo_resources

DiscriminatorKind = Literal["per_agent", "joint", "joint_single", "transformer"]
DISCRIMINATORS = ("per_agent", "joint", "joint_single", "transformer")
RewardTransform = Literal["logit", "softplus", "log_d", "two_sigmoid_minus_one", "neg_log_sigmoid"]
REWARD_TRANSFORMS = ("logit", "softplus", "log_d", "two_sigmoid_minus_one", "neg_log_sigmoid")
DiscriminatorLoss = Literal["bce", "wasserstein"]
DISCRIMINATOR_LOSSES = ("bce", "wasserstein")
TerminalHandling = Literal["none", "reference", "absorbing"]
TERMINAL_HANDLINGS = ("none", "reference", "absorbing")


@dataclass(frozen=True)
class ImitationConfig(IPPOConfig):
    reward: Literal["mixed", "gail", "env"] = _f(
        "mixed", "mixed: r_env + gail_coef * r_D (DM²); gail: r_D alone (GAIL-only, MAGAIL); env: r_env alone "
                 "(BC + IPPO)")
    gail_expert: Literal["demos", "self"] = _f(
        "demos", "the discriminator's expert rows: demos (the demonstration file) or self (self-imitation: the "
                 "agent's own best episodes so far)")
    gail_discriminator: DiscriminatorKind = _f(
        "per_agent", "per_agent: one MLP per agent on its own input (DM², MAGAIL decentralized, MILD²-GD); joint: "
                     "one MLP on all agents' inputs with a logit per agent (MAGAIL centralized); joint_single: one "
                     "team logit (MAGAIL single); transformer: MILD²'s encoder over the agents' observations and "
                     "unmasked decoder over their actions, a logit per agent (needs gail_input: obs_action). Joint "
                     "ones need concurrent demonstrations")
    gail_loss: DiscriminatorLoss = _f(
        "bce", "bce: expert = 1, policy = 0, plus the gradient penalty (DM², MAGAIL); wasserstein: MILD²'s Eq. 6, "
               "the Kantorovich dual with the regulariser Omega (gail_w_omega, gail_w_epsilon)")
    gail_spectral_norm: bool = _f(False, "spectral normalisation of every linear layer of the discriminator (MILD²)")
    gail_w_epsilon: float = _f(0.1, "epsilon of Eq. 6's Omega = -(d(y) - d(x) - c(x,y))^2 / (4 epsilon) (assumed: the "
                                    "paper gives none; sweep 0.01, 0.1, 1)")
    gail_w_omega: Literal["hinge", "literal"] = _f(
        "hinge", "Omega of Eq. 6: hinge penalises only d(y) - d(x) > c(x,y), a Lipschitz violation (assumed: the "
                 "paper's text); literal squares the difference of either sign, as Eq. 6 is printed")
    gail_attention: Literal["l2", "dot"] = _f("l2", "transformer discriminator: L2 attention with tied query and "
                                                    "key weights (MILD²) or MAT's dot product")
    gail_n_block: int = _f(1, "transformer discriminator: encoder blocks, and as many decoder blocks (assumed: MAT's)")
    gail_n_head: int = _f(1, "transformer discriminator: attention heads (assumed: MAT's)")
    demos: str = _f("", "demonstration file (.npz from sample_demonstrations); its task must match")
    demo_episodes: int = _f(1000, "use the first N episodes of the demonstration file (DM² paper: 1000)")
    demo_max_transitions: int | None = _f(
        None, "the demonstrated steps the discriminator and BC learn from: at most the first N joint transitions "
              "(time steps with a living agent, in episode order) of those episodes (MILD²: 100,000, the paper's); "
              "null: all. The number used is recorded in the run's config.yaml (demonstrations.expert_transitions)")
    gail_coef: float = _f(0.3, "c in r_env + c * r_D (DM² paper Table 2: per map)")
    gail_epochs: int = _f(120, "discriminator steps per PPO update (DM² paper: 120)")
    gail_batch_rows: int = _f(1024, "expert rows and policy rows per discriminator step (per agent, or joint rows)")
    gail_lr: float = _f(1e-3, "discriminator Adam learning rate (DM² paper: PyTorch default 1e-3)")
    gail_gp_lambda: float = _f(10.0, "gradient-penalty weight (0 = plain BCE, as MAGAIL)")
    gail_hidden: int = _f(64, "discriminator width (two tanh layers; the transformer's token width)")
    gail_reward_transform: RewardTransform = _f(
        "logit", "r_D from the logit d: logit = d = log D - log(1-D) (DM² reference code; a Wasserstein critic's "
                 "potential), softplus = -log(1-D) (MILD²'s coherent reading), log_d = log D, two_sigmoid_minus_one "
                 "= 2D - 1 (MAGAIL), neg_log_sigmoid = -log D (MILD²'s Sec. 4.1 as printed: it rewards the policy-like "
                 "side of its own critic, for fidelity checks only)")
    gail_input: Literal["obs", "obs_action"] = _f("obs", "discriminator input: observation (state-only, DM²) "
                                                        "or observation + one-hot action (MAGAIL, DM² ablation)")
    gail_terminal: TerminalHandling = _f(
        "none", "the imitation reward where an agent no longer acts. none: nothing after its death or the episode's "
                "end, the discriminator trained on living rows only; reference: the DM² authors' code, every step to "
                "the episode limit rewarded, a dead agent's and each padded step's input a zero row, which the "
                "discriminator is trained on too (the padding of a terminated episode as a discounted tail of "
                "r_D(0) at its last step); absorbing: Kostrikov et al. 2019 (DAC), an absorbing-state indicator "
                "input, a dead agent in the absorbing state s_a, a terminated episode's end bootstrapped with "
                "gamma * r_D(s_a) / (1 - gamma), the discriminator trained on s_a rows (one per terminated episode "
                "and per dead agent-step, on both sides). Truncated episodes get no tail")
    sil_capacity: int = _f(1024, "self-imitation: episodes kept in the priority store (reference: 1024)")
    sil_gamma: float = _f(0.99, "self-imitation: discount of the return that ranks episodes (reference: 0.99)")
    bc_pretrain: bool = _f(False, "behavioural cloning of each agent's actor on its demonstrations before training")
    bc_epochs: int = _f(20, "BC passes over the training demonstrations (assumed, paper unspecified)")
    bc_lr: float = _f(5e-4, "BC Adam learning rate (assumed)")
    bc_batch_episodes: int = _f(32, "BC episodes per gradient step (assumed)")
    bc_holdout: float = _f(0.1, "fraction of demonstration episodes held out to report BC's NLL and accuracy")

    def validate(self) -> None:
        super().validate()
        check(not self.needs_demos or bool(self.demos),
              "demos: a demonstration file is required (unless gail_expert: self without BC)")
        check(self.reward != "env" or self.bc_pretrain,
              "reward: env without bc_pretrain is plain IPPO: use algorithms.ippo")
        check(self.gail_discriminator != "transformer" or self.gail_input == "obs_action",
              "gail_discriminator: transformer reads every agent's observation and action: it needs gail_input: "
              f"obs_action, got {self.gail_input}")
        check(self.gail_terminal == "none" or self.gail_expert == "demos",
              f"gail_terminal: {self.gail_terminal} needs demonstrations (gail_expert: demos); self-imitation keeps "
              "living rows only: use none")
        check(self.gail_terminal != "absorbing" or self.gamma < 1,
              f"gail_terminal: absorbing bootstraps gamma / (1 - gamma): it needs gamma < 1, got {self.gamma}")
        check(self.gail_w_epsilon > 0, f"gail_w_epsilon must be > 0, got {self.gail_w_epsilon}")
        check(self.gail_expert == "demos" or self.gail_discriminator == "per_agent",
              f"gail_discriminator: {self.gail_discriminator} needs joint demonstration rows; self-imitation "
              "(gail_expert: self) keeps per-agent rows only: use per_agent")
        for name in ["demo_episodes", "gail_epochs", "gail_batch_rows", "gail_hidden", "gail_n_block", "gail_n_head",
                     "sil_capacity", "bc_epochs", "bc_batch_episodes"]:
            check(getattr(self, name) > 0, f"{name} must be > 0, got {getattr(self, name)}")
        check(self.demo_max_transitions is None or self.demo_max_transitions > 0,
              f"demo_max_transitions must be > 0 or null, got {self.demo_max_transitions}")
        check(self.gail_hidden % self.gail_n_head == 0,
              f"gail_n_head {self.gail_n_head} must divide gail_hidden {self.gail_hidden}")
        for name in ["gail_lr", "bc_lr"]:
            check(getattr(self, name) > 0, f"{name} must be > 0, got {getattr(self, name)}")
        check(0 <= self.sil_gamma <= 1, f"sil_gamma must be in [0, 1], got {self.sil_gamma}")
        check(0 < self.bc_holdout < 1, f"bc_holdout must be in (0, 1), got {self.bc_holdout}")
        check(self.gail_gp_lambda >= 0, f"gail_gp_lambda must be >= 0, got {self.gail_gp_lambda}")
        check(self.gail_coef >= 0, f"gail_coef must be >= 0, got {self.gail_coef}")

    zero_steps_hint = " (0 is allowed only for behavioural cloning alone: reward: env with bc_pretrain)"

    @property
    def allows_no_env_steps(self) -> bool:
        """A run that clones the demonstrations first can skip RL: with total_env_steps 0 (the BC arm) its cloned
        policy is evaluated once."""
        return self.reward == "env" and self.bc_pretrain

    @property
    def needs_demos(self) -> bool:
        return self.bc_pretrain or (self.reward != "env" and self.gail_expert == "demos")

    @property
    def uses_discriminator(self) -> bool:
        return self.reward != "env"

    def unused_keys(self) -> list[str]:
        """The settings this run never reads: the workflow sends them at their defaults, so changing one in the
        config reruns only the arms that use it."""
        keys = []
        if not self.uses_discriminator:  # BC + IPPO: no discriminator
            keys += [k for k in self.__dataclass_fields__ if k.startswith("gail_") and k != "gail_expert"]
        else:
            if self.reward == "gail":  # r_D alone: the mixing coefficient plays no part
                keys.append("gail_coef")
            keys += ["gail_w_epsilon", "gail_w_omega"] if self.gail_loss == "bce" else ["gail_gp_lambda"]
            if self.gail_discriminator != "transformer":
                keys += ["gail_attention", "gail_n_block", "gail_n_head"]
        if self.gail_expert != "self":
            keys += ["sil_capacity", "sil_gamma"]
        if not self.bc_pretrain:
            keys += ["bc_epochs", "bc_lr", "bc_batch_episodes", "bc_holdout"]
        if not self.needs_demos:
            keys += ["demo_episodes", "demo_max_transitions"]
        if self.total_env_steps == 0:  # BC alone: no PPO update, no evaluation schedule, no snapshots
            keys += ["ppo_epochs", "num_minibatches", "clip", "lr", "gamma", "gae_lambda", "entropy_coef",
                     "value_coef", "huber_delta", "eval_interval", "checkpoint_interval"]
        return keys


resources = ppo_resources  # the PPO generator's memory and runtime (the discriminator is small)
