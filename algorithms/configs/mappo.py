"""MAPPO's config (``algorithms/mappo.py``): the PPO core's keys. Torch-free (see
``algorithms/configs/__init__.py``)."""
from __future__ import annotations

from dataclasses import dataclass

from algorithms.configs.ppo import PPOConfig, ppo_resources


@dataclass(frozen=True)
class MAPPOConfig(PPOConfig):
    """MAPPO takes the PPO core's keys (same meaning as IPPO's); the policy differs, not the hyperparameters."""


resources = ppo_resources
