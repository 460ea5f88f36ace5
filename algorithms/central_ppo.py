"""A centralized PPO controller: the expert that CESMA decentralizes (Lin et al., ``../shared/papers/
cesma_lin2021_decentralized_imitation.md``) on tasks where the paper's own centralized expert is not used.

One actor reads the joint observation (every agent's observation and one-hot last action, concatenated) and has one
action head per agent; one critic reads the same and gives each agent's value (``CentralizedActorCritic``). The
paper's MPE experts were DDPG with Gumbel-Softmax (MADDPG-style); this is the on-policy alternative the harness allows
(README: CESMA), trained by the shared PPO core (``algorithms/common/ppo.py``) exactly as IPPO and MAPPO are: the same
rollouts, GAE with dead-agent tails, BPTT, clipped surrogate and value loss, per-map epochs and clip. Assumed (no
source gives them): per-agent ratios and clipping of the factorised joint policy, losses averaged over the agents'
heads (as MAPPO), values not normalised (as IPPO), the width in the ``central_ppo`` config block.

Its acting is centralized: no agent can run it alone (the registry labels it so). On a task with a communication
channel (``TaskSpec.comm``: speaker-listener, reference) it acts on the task's physical view: the joint physical
observation in, every agent's physical action out (CESMA's experts, Lin et al. Alg. 2); messages are for agents that
cannot see each other.

    python -m algorithms.central_ppo --config config/config.yaml --section ippo,central_ppo --run-dir RUN \
        task=mpe/spread_3 seed=0
"""
from __future__ import annotations

import sys

from algorithms import registry
from algorithms.common import trainer
from algorithms.common.networks import CentralizedActorCritic
from algorithms.common.ppo import OnPolicyLearner
from algorithms.configs.central_ppo import CentralPPOConfig, resources  # noqa: F401 (torch-free)

LEARNER = registry.learner_of_module(__spec__.name)  # this module's registry entry


class CentralPPO(OnPolicyLearner):
    name = LEARNER.name
    physical_only = True  # on a task with a communication channel: its physical view (no one to talk to)
    run_metadata = {"assumed": ["per-agent PPO ratios and clipping of the factorised joint policy",
                                "losses averaged over the agents' heads",
                                "values not normalised (value_handling: clipped)",
                                "hidden_size (config block central_ppo)"]}

    def make_policy(self):
        spec, cfg = self.spec, self.cfg
        return CentralizedActorCritic(spec.n_agents, spec.obs_dim, spec.n_actions, cfg.hidden_size, cfg.actor_gain,
                                      cfg.value_handling == "normalized")


def acting_policy(ckpt: dict) -> CentralizedActorCritic:
    """The acting network of a checkpoint of this learner: the joint actor (and critic)."""
    spec, cfg = ckpt["spec"], ckpt["config"]
    net = CentralizedActorCritic(spec["n_agents"], spec["obs_dim"], spec["n_actions"], cfg["hidden_size"],
                                 cfg["actor_gain"], cfg.get("value_handling", "clipped") == "normalized")
    net.load_state_dict(ckpt["model"])
    return net


def train(cfg: CentralPPOConfig, run_dir, progress: bool = True, restart_if_changed: bool = False,
          arm: str | None = None) -> list[dict]:
    return trainer.train(cfg, run_dir, progress, restart_if_changed, CentralPPO, arm=arm)


def main(argv: list[str] | None = None) -> int:
    return trainer.main(argv, LEARNER.name, __doc__)


if __name__ == "__main__":
    sys.exit(main())
