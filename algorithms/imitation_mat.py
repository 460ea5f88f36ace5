"""Adversarial imitation on MAT's generator (centralized sequential acting): the reward hook of
``algorithms/imitation.py`` (every discriminator, loss, expert source and reward setting, same keys and meaning) on
the Multi-Agent Transformer of ``algorithms/mat.py``. MILD² is this learner with its transformer discriminator and
Wasserstein loss, MILD²-GD with per-agent discriminators under the same loss, and MAGAIL on MAT with MAGAIL's joint
MLP, BCE and reward 2σ(d) - 1: the three arms differ only on the discriminator's side (network, loss,
normalisation, reward transform; ``algorithms/registry.py``); the generator, the demonstrations and the
discriminator's schedule (the ``imitation_mat`` config block) are the same.

Behaviour cloning (``bc_pretrain``) is implemented for the IPPO generator only (``algorithms.imitation``).

    python -m algorithms.imitation_mat --arm mild2 --config config/config.yaml \\
        --section ippo,mat,imitation,imitation_mat --run-dir RUN task=smax/3m demos=FILE.npz
"""
from __future__ import annotations

import sys

from algorithms import registry
from algorithms.common import trainer
from algorithms.configs.imitation_mat import ImitationMATConfig, resources  # noqa: F401 (torch-free)
from algorithms.imitation import ImitationOnPolicy
from algorithms.mat import MAT
from algorithms.mat import acting_policy as mat_acting_policy

LEARNER = registry.learner_of_module(__spec__.name)  # this module's registry entry


class AdversarialImitationMAT(ImitationOnPolicy, MAT):
    """The hook on MAT's generator: one encoder-decoder for all agents, acting one agent after another."""

    name = LEARNER.name

    def __init__(self, cfg: ImitationMATConfig):
        super().__init__(cfg)
        self.run_metadata["assumed"] = [*self.run_metadata.get("assumed", []), (
            f"discriminator schedule: {cfg.gail_epochs} steps of {cfg.gail_batch_rows} expert and "
            f"{cfg.gail_batch_rows} policy rows per update, Adam lr {cfg.gail_lr} (MILD² gives none)")]


acting_policy = mat_acting_policy  # its checkpoints hold MAT's networks


def train(cfg: ImitationMATConfig, run_dir, progress: bool = True, restart_if_changed: bool = False,
          arm: str | None = None) -> list[dict]:
    return trainer.train(cfg, run_dir, progress, restart_if_changed, AdversarialImitationMAT, arm=arm)


def main(argv: list[str] | None = None) -> int:
    return trainer.main(argv, LEARNER.name, __doc__)


if __name__ == "__main__":
    sys.exit(main())
