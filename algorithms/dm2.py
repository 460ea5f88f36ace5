"""DM² (Wang et al., AAAI 2023): independent PPO agents whose reward mixes the team reward with a GAIL
distribution-matching reward from their own discriminator, trained on that agent's state-only expert
demonstrations. ``arm: gail_only`` uses the discriminator reward alone (the paper's GAIL-only ablation).

Per PPO update and per agent (all agents at once, stacked, nothing shared): train the agent's discriminator for
``gail_epochs`` steps on its demonstration rows (expert) against its rows of the current rollout (policy), only on
steps where it was alive; then r_i = r_env + gail_coef * logit D_i(o_i) on its living steps (no D reward on padding
or after death); then the IPPO update with these rewards.

    python -m algorithms.dm2 --config config/config.yaml --section dm2 --run-dir RUN task=smax/3m demos=FILE.npz
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

import envs
from algorithms.common.config import check
from algorithms.common.discriminator import Discriminators, discriminator_loss, gail_reward, sample_rows
from algorithms.demos import load_demos
from algorithms.ippo import IPPO, PPO_STATS, IPPOConfig, _f, main

DISC_STATS = ["disc_bce", "disc_gp", "disc_expert_acc", "disc_policy_acc", "gail_reward_mean"]


@dataclass(frozen=True)
class DM2Config(IPPOConfig):
    arm: Literal["dm2", "gail_only"] = _f("dm2", "dm2: r_env + gail_coef * r_D; gail_only: r_D alone")
    demos: str = _f("", "demonstration file (.npz from sample_demonstrations); its task must match")
    demo_episodes: int = _f(1000, "use the first N episodes of the demonstration file (paper: 1000)")
    gail_coef: float = _f(0.3, "c in r_env + c * r_D (paper Table 2: per map)")
    gail_epochs: int = _f(120, "discriminator steps per PPO update (paper: 120)")
    gail_batch_rows: int = _f(1024, "expert rows and policy rows per discriminator step, per agent")
    gail_lr: float = _f(1e-3, "discriminator Adam learning rate (paper: PyTorch default 1e-3)")
    gail_gp_lambda: float = _f(10.0, "gradient-penalty weight")
    gail_hidden: int = _f(64, "discriminator width (two tanh layers)")
    gail_reward_transform: Literal["logit", "softplus", "log_d"] = _f(
        "logit", "r_D: logit = log D - log(1-D) (reference code), softplus = -log(1-D), log_d = log D")
    gail_input: Literal["obs", "obs_action"] = _f("obs", "discriminator input: observation (state-only, the paper) "
                                                        "or observation + one-hot action (ablation)")

    def validate(self) -> None:
        super().validate()
        check(bool(self.demos), "demos: a demonstration file is required for DM²")
        for name in ["demo_episodes", "gail_epochs", "gail_batch_rows", "gail_hidden"]:
            check(getattr(self, name) > 0, f"{name} must be > 0, got {getattr(self, name)}")
        for name in ["gail_lr"]:
            check(getattr(self, name) > 0, f"{name} must be > 0, got {getattr(self, name)}")
        check(self.gail_gp_lambda >= 0, f"gail_gp_lambda must be >= 0, got {self.gail_gp_lambda}")
        check(self.gail_coef >= 0, f"gail_coef must be >= 0, got {self.gail_coef}")


class DM2(IPPO):
    name = "dm2"
    update_stats = PPO_STATS + DISC_STATS

    def __init__(self, cfg: DM2Config):
        # Demonstrations first: a wrong file fails before envs are built or anything is trained.
        spec = envs.task_spec(cfg.task)
        demos = load_demos(cfg.demos, task=cfg.task, n_agents=spec.n_agents, obs_dim=spec.obs_dim)
        n_demo = demos.obs.shape[0]
        check(cfg.demo_episodes <= n_demo,
              f"demo_episodes {cfg.demo_episodes} exceeds the {n_demo} episodes in {cfg.demos}")
        super().__init__(cfg)
        # recorded in the run's config.yaml: which demonstrations, of what quality
        self.run_metadata = {"demonstrations": {k: v for k, v in demos.metadata.items()
                                                if k not in ("expert_greedy_win_rates",)}}
        K = spec.n_agents
        self.expert_pools = [self._disc_input(*map(torch.as_tensor, self._demo_rows(demos, k))) for k in range(K)]
        in_dim = spec.obs_dim + (spec.n_actions if cfg.gail_input == "obs_action" else 0)
        self.disc = Discriminators(K, in_dim, cfg.gail_hidden)
        self.disc_opt = torch.optim.Adam(self.disc.parameters(), lr=cfg.gail_lr)

    def _demo_rows(self, demos, k):
        sl = slice(0, self.cfg.demo_episodes)
        mask = demos.alive[sl, :, k]
        return demos.obs[sl, :, k][mask], demos.actions[sl, :, k][mask].astype("int64")

    def _disc_input(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        if self.cfg.gail_input == "obs":
            return obs.float()
        return torch.cat([obs.float(), F.one_hot(actions.long(), self.spec.n_actions).float()], -1)

    def update(self) -> dict:
        cfg, buf, K = self.cfg, self.buf, self.spec.n_agents
        decided = buf.valid.unsqueeze(-1) & buf.alive  # [T, N, K]
        x = self._disc_input(buf.obs, buf.actions)  # [T, N, K, in]
        # DISCRIMINATORS: expert rows vs this rollout's rows, per agent, living steps only
        policy_pools = [x[..., k, :][decided[..., k]] for k in range(K)]
        with torch.autocast("cpu", enabled=False):
            for _ in range(cfg.gail_epochs):
                loss, dstats = discriminator_loss(
                    self.disc, sample_rows(self.expert_pools, cfg.gail_batch_rows, self.gen),
                    sample_rows(policy_pools, cfg.gail_batch_rows, self.gen), cfg.gail_gp_lambda, self.gen)
                self.disc_opt.zero_grad(set_to_none=True)
                loss.backward()
                self.disc_opt.step()
            with torch.no_grad():
                logits = self.disc(x.movedim(2, 0).reshape(K, -1, x.shape[-1]))  # [K, T*N]
        r_d = gail_reward(logits, cfg.gail_reward_transform).reshape(K, *decided.shape[:2]).movedim(0, -1)
        r_d = torch.where(decided, r_d, torch.zeros_like(r_d))  # no imitation reward on padding or after death
        team = buf.rewards.unsqueeze(-1).expand(-1, -1, K)
        rewards = team + cfg.gail_coef * r_d if cfg.arm == "dm2" else r_d
        stats = self.ppo_update(rewards)
        count = decided.sum().clamp(min=1)
        return {**stats, **dstats, "gail_reward_mean": float(r_d.sum() / count)}

    def training_state(self) -> dict:
        return {**super().training_state(), "disc": self.disc.state_dict(), "disc_optimizer": self.disc_opt.state_dict()}

    def load_training_state(self, state: dict) -> None:
        super().load_training_state(state)
        self.disc.load_state_dict(state["disc"])
        self.disc_opt.load_state_dict(state["disc_optimizer"])


if __name__ == "__main__":
    sys.exit(main(cfg_cls=DM2Config, algo_cls=DM2, doc=__doc__))
