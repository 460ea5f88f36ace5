"""MAPPO's config (``algorithms/mappo.py``): the PPO core's keys. Torch-free (see
``algorithms/configs/__init__.py``)."""
from __future__ import annotations

from dataclasses import dataclass

from algorithms.configs.ppo import PPOConfig, ValueHandling, ppo_resources, value_handling_field


@dataclass(frozen=True)
class MAPPOConfig(PPOConfig):
    """MAPPO takes the PPO core's keys (same meaning as IPPO's); the policy differs, and its values are normalised
    by default (RMAPPO's ValueNorm)."""

    value_handling: ValueHandling = value_handling_field("normalized")


resources = ppo_resources
