"""MAPPO (Yu et al. 2022), recurrent, as RMAPPO: one actor shared by all agents (parameter sharing; input = the
agent's own observation, its one-hot last action and its one-hot id) and one centralised critic on the global state
(+ the agent's id), with value normalisation. A CTDE baseline and expert for the DM² comparison.

Everything else is the shared on-policy core (algorithms/common/ppo.py), as for IPPO: the same trunk, rollouts, GAE
with dead-agent reward tails, BPTT chunks, clipped surrogate, Huber value loss clipped in the normalised space,
entropy bonus, per-map epochs and clip (paper Table 1 / the on-policy repo's SMAC scripts). Differences from IPPO, all RMAPPO's: parameter sharing with
an agent id, the centralised critic, ValueNorm, gradient clipping of the whole actor and the whole critic, losses
averaged (not summed) over agents. Assumption (documented): the critic reads the environment's global state plus
the agent id (on-policy's "EP" state with an id), not its agent-specific feature-pruned state.

    python -m algorithms.mappo --config config/config.yaml --section ippo,mappo --run-dir RUN task=smax/3m seed=0
"""
from __future__ import annotations

import sys

from algorithms import registry
from algorithms.common import trainer
from algorithms.common.networks import SharedActorCentralCritic
from algorithms.common.ppo import OnPolicyLearner
from algorithms.configs.mappo import MAPPOConfig, resources  # noqa: F401 (torch-free)

LEARNER = registry.learner_of_module(__spec__.name)  # this module's registry entry


class MAPPO(OnPolicyLearner):
    name = LEARNER.name
    uses_state = True

    def make_policy(self):
        spec, cfg = self.spec, self.cfg
        return SharedActorCentralCritic(spec.n_agents, spec.obs_dim, spec.state_dim, spec.n_actions, cfg.hidden_size,
                                        cfg.actor_gain, cfg.value_handling == "normalized")


def acting_policy(ckpt: dict) -> SharedActorCentralCritic:
    """The acting network of a checkpoint of this learner: the shared actor (and the central critic)."""
    spec, cfg = ckpt["spec"], ckpt["config"]
    net = SharedActorCentralCritic(spec["n_agents"], spec["obs_dim"], spec["state_dim"], spec["n_actions"],
                                   cfg["hidden_size"], cfg["actor_gain"],
                                   cfg.get("value_handling", "normalized") == "normalized")
    net.load_state_dict(ckpt["model"])
    return net


def train(cfg: MAPPOConfig, run_dir, progress: bool = True, restart_if_changed: bool = False,
          arm: str | None = None) -> list[dict]:
    return trainer.train(cfg, run_dir, progress, restart_if_changed, MAPPO, arm=arm)


def main(argv: list[str] | None = None) -> int:
    return trainer.main(argv, LEARNER.name, __doc__)


if __name__ == "__main__":
    sys.exit(main())
