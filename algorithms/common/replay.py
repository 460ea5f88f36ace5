"""Replay storage shared by the learners that keep data across updates (QMIX's episodes, CESMA's DAgger labels): named
tensors of a fixed capacity along their first dimension, the oldest overwritten first."""
from __future__ import annotations

import torch


class RingBuffer:
    """A subclass allocates one tensor per name in ``FIELDS`` ([capacity, ...]) and calls ``__init__`` with the
    capacity. ``insert`` writes a batch of entries (cast to the fields' dtypes); a checkpoint holds the filled part
    only (a full buffer as is: saving a slice would write the whole storage)."""

    FIELDS: tuple[str, ...] = ()

    def __init__(self, capacity: int):
        self.capacity, self.size, self.next = capacity, 0, 0

    def insert(self, values: dict[str, torch.Tensor]) -> None:
        n = values[self.FIELDS[0]].shape[0]
        idx = (self.next + torch.arange(n)) % self.capacity
        for name in self.FIELDS:
            store = getattr(self, name)
            store[idx] = values[name].to(store.dtype)
        self.next = int((self.next + n) % self.capacity)
        self.size = min(self.size + n, self.capacity)

    def state_dict(self) -> dict:
        part = (lambda x: x) if self.size == self.capacity else (lambda x: x[: self.size].clone())
        return {"size": self.size, "next": self.next, **{name: part(getattr(self, name)) for name in self.FIELDS}}

    def load_state_dict(self, state: dict) -> None:
        self.size, self.next = state["size"], state["next"]
        for name in self.FIELDS:
            getattr(self, name)[: self.size] = state[name]
