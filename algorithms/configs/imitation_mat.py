"""The config of adversarial imitation on MAT's generator (``algorithms/imitation_mat.py``): MAT's keys and the
imitation block's, without behaviour cloning. Torch-free (see ``algorithms/configs/__init__.py``)."""
from __future__ import annotations

from dataclasses import dataclass, field

from algorithms.common.config import check
from algorithms.configs.imitation import ImitationConfig
from algorithms.configs.mat import MATConfig
from algorithms.configs.ppo import ValueHandling
from algorithms.configs.mat import resources as mat_resources


def _as_in_mat(name: str):
    """MAT's field, default and help (by the base classes' order, the PPO core's help of ``hidden_size`` would win)."""
    f = MATConfig.__dataclass_fields__[name]
    return field(default=f.default, metadata=f.metadata)


@dataclass(frozen=True)
class ImitationMATConfig(ImitationConfig, MATConfig):
    """The keys of ``algorithms.imitation`` (the PPO core's and the imitation block's) and MAT's transformer shape
    (``hidden_size``, ``n_block``, ``n_head``) for the generator."""

    hidden_size: int = _as_in_mat("hidden_size")
    n_block: int = _as_in_mat("n_block")
    n_head: int = _as_in_mat("n_head")
    value_handling: ValueHandling = _as_in_mat("value_handling")
    allows_no_env_steps, zero_steps_hint = False, ""  # no BC on this generator: every run needs env steps

    def validate(self) -> None:
        super().validate()
        check(not self.bc_pretrain, "bc_pretrain: behaviour cloning is implemented for the IPPO generator only "
                                    "(algorithms.imitation); this learner has MAT's generator")


resources = mat_resources  # the generator's acting and update dominate (the discriminator is small)
