"""Independent PPO (IPPO) as in the DM² paper: every agent has its own recurrent actor and its own critic on its
local observation (+ last action), its own gradient clipping; nothing is shared. Agents are batched as stacked
per-agent weights (one matmul for all agents), envs as a jitted, vmapped JAX function. The PPO machinery is the
shared on-policy core (``algorithms/common/ppo.py``); this file is its policy (its config and resource estimate:
``algorithms/configs/ippo.py``).

    python -m algorithms.ippo --config config/config.yaml --section ippo --run-dir results/ippo/smax/3m/seed0 \
        task=smax/3m seed=0
"""
from __future__ import annotations

import sys
from pathlib import Path

from algorithms import registry
from algorithms.common import trainer
from algorithms.common.networks import IndependentActorCritic
from algorithms.common.ppo import PPO_STATS, OnPolicyLearner, ppo_resources
from algorithms.configs.ippo import IPPOConfig, resources  # noqa: F401 (torch-free)

LEARNER = registry.learner_of_module(__spec__.name)  # this module's registry entry
__all__ = ["IPPO", "IPPOConfig", "PPO_STATS", "acting_policy", "main", "ppo_resources", "resources", "train"]


class IPPO(OnPolicyLearner):
    """Independent agents: K actors and K critics, stacked (``IndependentActorCritic``)."""

    name = LEARNER.name

    def make_policy(self):
        spec, cfg = self.spec, self.cfg
        return IndependentActorCritic(spec.n_agents, spec.obs_dim, spec.n_actions, cfg.hidden_size, cfg.actor_gain,
                                      cfg.value_handling == "normalized")


def acting_policy(ckpt: dict) -> IndependentActorCritic:
    """The acting network of a checkpoint of this learner (``model_state``): per-agent actors (and critics)."""
    spec, cfg = ckpt["spec"], ckpt["config"]
    net = IndependentActorCritic(spec["n_agents"], spec["obs_dim"], spec["n_actions"], cfg["hidden_size"],
                                 cfg["actor_gain"], cfg.get("value_handling", "clipped") == "normalized")
    net.load_state_dict(ckpt["model"])
    return net


def train(cfg: IPPOConfig, run_dir: str | Path, progress: bool = True, restart_if_changed: bool = False,
          algo_cls: type[IPPO] = IPPO, arm: str | None = None) -> list[dict]:
    """``algorithms.common.trainer.train`` with IPPO as the default learner."""
    return trainer.train(cfg, run_dir, progress, restart_if_changed, algo_cls, arm=arm)


def main(argv: list[str] | None = None) -> int:
    return trainer.main(argv, LEARNER.name, __doc__)


if __name__ == "__main__":
    sys.exit(main())
