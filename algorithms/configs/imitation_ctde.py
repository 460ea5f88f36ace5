"""The config of adversarial imitation on MAPPO's generator (``algorithms/imitation_ctde.py``): the keys of
``algorithms.imitation``, without behaviour cloning. Torch-free (see ``algorithms/configs/__init__.py``)."""
from __future__ import annotations

from dataclasses import dataclass

from algorithms.common.config import check
from algorithms.configs.imitation import ImitationConfig
from algorithms.configs.ppo import ValueHandling, ppo_resources, value_handling_field


@dataclass(frozen=True)
class ImitationCTDEConfig(ImitationConfig):
    """The keys of ``algorithms.imitation`` (the PPO core's and the imitation block's), on MAPPO's networks."""

    value_handling: ValueHandling = value_handling_field("normalized")  # MAPPO's
    allows_no_env_steps, zero_steps_hint = False, ""  # no BC on this generator: every run needs env steps

    def validate(self) -> None:
        super().validate()
        check(not self.bc_pretrain, "bc_pretrain: behaviour cloning is implemented for the IPPO generator only "
                                    "(algorithms.imitation); this learner has MAPPO's shared actor")


resources = ppo_resources  # the PPO generator's memory and runtime (the discriminator is small)
