"""Rollout storage [T, N, ...] and its cutting into fixed-length sequences for recurrent (BPTT) training."""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Rollout:
    obs: torch.Tensor  # [T, N, K, O] float32
    state: torch.Tensor  # [T, N, S] global state (used by centralised critics only)
    last_action: torch.Tensor  # [T, N, K] int64, -1 at an episode's first step
    avail: torch.Tensor  # [T, N, K, A] bool
    alive: torch.Tensor  # [T, N, K] bool (agent acts at obs_t)
    actions: torch.Tensor  # [T, N, K] int64
    logp: torch.Tensor  # [T, N, K] log-prob of the action under the behaviour policy
    values: torch.Tensor  # [T, N, K]
    rewards: torch.Tensor  # [T, N] team reward
    dones: torch.Tensor  # [T, N] bool, the episode ended with step t
    terminated: torch.Tensor  # [T, N] bool, ... by its outcome (a side wiped out), not at the episode limit
    won: torch.Tensor  # [T, N] bool, ... with a won battle
    episode_length: torch.Tensor  # [T, N] int64, the length of the episode that ended with step t (0 elsewhere)
    starts: torch.Tensor  # [T, N] bool, obs_t is the first of an episode (hidden state is zeroed before it)
    valid: torch.Tensor  # [T, N] bool, step belongs to the update (False after the one episode in "episodes" mode)
    hidden: torch.Tensor  # [T, G, N, H] recurrent state fed into step t (G nets: the policy's initial_hidden)

    @classmethod
    def empty(cls, T: int, N: int, K: int, obs_dim: int, n_actions: int, n_nets: int, hidden: int,
              state_dim: int = 0) -> "Rollout":
        z = lambda *s, dtype=torch.float32: torch.zeros(*s, dtype=dtype)  # noqa: E731
        return cls(
            obs=z(T, N, K, obs_dim), state=z(T, N, state_dim), last_action=z(T, N, K, dtype=torch.long),
            avail=z(T, N, K, n_actions, dtype=torch.bool),
            alive=z(T, N, K, dtype=torch.bool), actions=z(T, N, K, dtype=torch.long), logp=z(T, N, K),
            values=z(T, N, K), rewards=z(T, N), dones=z(T, N, dtype=torch.bool),
            terminated=z(T, N, dtype=torch.bool), won=z(T, N, dtype=torch.bool),
            episode_length=z(T, N, dtype=torch.long), starts=z(T, N, dtype=torch.bool),
            valid=z(T, N, dtype=torch.bool), hidden=z(T, n_nets, N, hidden),
        )


def to_sequences(x: torch.Tensor, chunk: int) -> torch.Tensor:
    """[T, N, ...] -> [chunk, (T/chunk)*N, ...]: consecutive steps of one env stay together in one sequence."""
    T, N = x.shape[:2]
    return x.reshape(T // chunk, chunk, N, *x.shape[2:]).transpose(0, 1).reshape(chunk, (T // chunk) * N, *x.shape[2:])


def hidden_at_sequence_starts(hidden: torch.Tensor, chunk: int) -> torch.Tensor:
    """[T, G, N, H] -> [G, (T/chunk)*N, H], matching the sequence order of ``to_sequences``."""
    h = hidden[::chunk]  # [T/chunk, G, N, H]
    return h.transpose(0, 1).reshape(h.shape[1], -1, h.shape[-1])
