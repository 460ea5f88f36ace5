"""Adversarial imitation on MAPPO's generator (CTDE): the reward hook of ``algorithms/imitation.py`` (every
discriminator, expert source and reward setting, same keys and meaning) on a shared actor with a centralised critic on
the global state. This is the generator closest to MAGAIL's own (MACK: centralised critics, parameters shared by
identical agents; ACKTR there, PPO here). Each agent still acts on its own observation through the shared actor.

Behaviour cloning (``bc_pretrain``) is implemented for the IPPO generator only (``algorithms.imitation``).

    python -m algorithms.imitation_ctde --arm magail_cent_mappo --config config/config.yaml \\
        --section ippo,mappo,imitation --run-dir RUN task=smax/3m demos=FILE.npz
"""
from __future__ import annotations

import sys

from algorithms import registry
from algorithms.common import trainer
from algorithms.configs.imitation_ctde import ImitationCTDEConfig, resources  # noqa: F401 (torch-free)
from algorithms.imitation import ImitationOnPolicy
from algorithms.mappo import MAPPO
from algorithms.mappo import acting_policy as mappo_acting_policy

LEARNER = registry.learner_of_module(__spec__.name)  # this module's registry entry


class AdversarialImitationCTDE(ImitationOnPolicy, MAPPO):
    """The hook on MAPPO's generator: one actor shared by the agents, one centralised critic."""

    name = LEARNER.name


acting_policy = mappo_acting_policy  # its checkpoints hold MAPPO's networks


def train(cfg: ImitationCTDEConfig, run_dir, progress: bool = True, restart_if_changed: bool = False,
          arm: str | None = None) -> list[dict]:
    return trainer.train(cfg, run_dir, progress, restart_if_changed, AdversarialImitationCTDE, arm=arm)


def main(argv: list[str] | None = None) -> int:
    return trainer.main(argv, LEARNER.name, __doc__)


if __name__ == "__main__":
    sys.exit(main())
