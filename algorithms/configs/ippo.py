"""IPPO's config (``algorithms/ippo.py``): the PPO core's keys. Torch-free (see ``algorithms/configs/__init__.py``)."""
from __future__ import annotations

from dataclasses import dataclass

from algorithms.configs.ppo import PPOConfig, ppo_resources


@dataclass(frozen=True)
class IPPOConfig(PPOConfig):
    """IPPO takes the PPO core's keys (same meaning)."""


resources = ppo_resources
