"""The centralized PPO expert's config (``algorithms/central_ppo.py``): the PPO core's keys. Torch-free (see
``algorithms/configs/__init__.py``)."""
from __future__ import annotations

from dataclasses import dataclass

from algorithms.configs.ppo import PPOConfig, ppo_resources


@dataclass(frozen=True)
class CentralPPOConfig(PPOConfig):
    """The centralized controller takes the PPO core's keys (same meaning as IPPO's; it reads the ``ippo`` block, then
    ``central_ppo``). ``hidden_size`` is the width of its one actor and one critic over the joint observation."""


def resources(hp: dict, spec) -> tuple[int, int]:
    """As IPPO's (its one joint input holds what IPPO's per-agent inputs hold)."""
    return ppo_resources(hp, spec)
