"""The centralized VDN expert's config (``algorithms/central_vdn.py``): QMIX's keys, the values of CESMA's App. E.1 as
defaults. Torch-free (see ``algorithms/configs/__init__.py``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from algorithms.common.config import _f, check
from algorithms.configs.qmix import QMIXConfig, resources  # noqa: F401 (the same estimate: its buffer is QMIX's)


@dataclass(frozen=True)
class CentralVDNConfig(QMIXConfig):
    """QMIX's keys (it reads the ``qmix`` block, then ``central_vdn``), with CESMA's App. E.1 values as defaults.
    ``hidden_size`` is the width of its one network over the joint observation."""
    mixer: Literal["monotonic", "sum", "none"] = _f("sum", "must be sum (VDN): Q_tot is the sum of the agents' heads")
    optimizer: Literal["rmsprop", "adam"] = _f("adam", "Adam (App. E.1)")
    lr: float = _f(2e-4, "Adam learning rate (App. E.1)")
    weight_decay: float = _f(1e-4, "Adam weight decay (App. E.1)")
    target_tau: float = _f(1e-3, "soft target update per gradient step (App. E.1)")
    env_steps_per_update: int = _f(20, "one gradient step every 20 env steps (App. E.1: 'train every 20 steps')")
    updates_per_episode: float = _f(0.0, "0: the cadence is env_steps_per_update")
    epsilon_anneal_episodes: int = _f(3000, "epsilon 1 -> 0.05 over 3000 episodes (App. E.1)")

    def validate(self) -> None:
        super().validate()
        check(self.mixer == "sum", f"mixer must be sum for the centralized VDN expert (Q_tot = sum of its heads), "
                                   f"got {self.mixer}")
