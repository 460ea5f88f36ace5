"""The one batched multi-agent environment interface every backend implements.

Shapes use N parallel envs, K learning agents. Arrays are NumPy (the learners are PyTorch; the env may be JAX).
Every step auto-resets finished envs: the observation returned for an env whose episode just ended is the first
observation of its next episode, and the finished episode's statistics are in ``episode_*`` (valid where ``done``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TaskSpec:
    """Static facts of a task that consumers (learners, demo loaders) validate against."""

    name: str  # e.g. "smax/5m_vs_6m"
    backend: str  # "smax" | "mpe" | "smac"
    n_agents: int
    obs_dim: int
    state_dim: int
    n_actions: int
    episode_limit: int
    has_win: bool  # True where "battle won" is defined (SMAX/SMAC); MPE has no win condition
    reward_scale: float  # multiplier applied to the backend's team reward (recorded, not hidden)


@dataclass
class Observation:
    """What agents see at the start of a step: per-agent obs [N,K,O], global state [N,S],
    available-action masks [N,K,A] (bool) and alive flags [N,K] (bool)."""

    obs: np.ndarray
    state: np.ndarray
    avail_actions: np.ndarray
    alive: np.ndarray


@dataclass
class StepResult(Observation):
    """Result of one joint step. ``reward``/``done``/``terminated``/``truncated`` refer to the transition just taken;
    ``obs``/``state``/``avail_actions``/``alive`` to the next step (after an auto-reset where ``done``).
    ``terminated``: the episode ended by its outcome (a side wiped out). ``truncated``: it hit the episode limit.
    ``battle_won``, ``episode_return`` (team reward summed, after reward_scale) and ``episode_length`` describe the
    episode that ended and are meaningful only where ``done``."""

    reward: np.ndarray  # [N] float32 team reward
    done: np.ndarray  # [N] bool
    terminated: np.ndarray  # [N] bool
    truncated: np.ndarray  # [N] bool
    battle_won: np.ndarray  # [N] bool
    episode_return: np.ndarray  # [N] float32
    episode_length: np.ndarray  # [N] int32


class BatchedEnv:
    """Base class: ``reset()`` starts fresh episodes in all N envs; ``step(actions)`` takes int actions [N,K]."""

    spec: TaskSpec
    num_envs: int

    def reset(self) -> Observation:  # pragma: no cover - interface
        raise NotImplementedError

    def step(self, actions: np.ndarray) -> StepResult:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:
        """Release backend resources (SC2 processes for real SMAC); nothing to do for JAX backends."""

    def _check_actions(self, actions: np.ndarray) -> np.ndarray:
        actions = np.asarray(actions)
        expected = (self.num_envs, self.spec.n_agents)
        if actions.shape != expected:
            raise ValueError(f"{self.spec.name}: actions must have shape {expected} (envs, agents), got {actions.shape}")
        if not np.issubdtype(actions.dtype, np.integer):
            raise TypeError(f"{self.spec.name}: actions must be integers, got dtype {actions.dtype}")
        return actions.astype(np.int32, copy=False)
