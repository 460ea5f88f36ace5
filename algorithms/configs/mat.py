"""MAT's config (``algorithms/mat.py``): the PPO core's keys plus the transformer's shape. Torch-free (see
``algorithms/configs/__init__.py``)."""
from __future__ import annotations

from dataclasses import dataclass

from algorithms.common.config import _f, check
from algorithms.configs.ppo import PPOConfig, ValueHandling, ppo_resources, value_handling_field


@dataclass(frozen=True)
class MATConfig(PPOConfig):
    """The Multi-Agent Transformer takes the PPO core's keys (it reads the ``ippo`` block, then ``mat``, whose values
    are MAT's own defaults and SMAC script) and the transformer's shape. ``chunk_length`` only cuts the rollout into
    minibatch rows: MAT has no recurrence. ``actor_gain`` is not used (MAT's initialisation: gain 0.01 on every
    layer not followed by an activation)."""

    hidden_size: int = _f(64, "MAT's n_embd: the width of every token, attention and MLP of the encoder and decoder")
    n_block: int = _f(1, "MAT's n_block: encoder blocks, and as many decoder blocks")
    n_head: int = _f(1, "attention heads (must divide hidden_size)")
    value_handling: ValueHandling = value_handling_field("normalized")  # MAT's ValueNorm

    def validate(self) -> None:
        super().validate()
        for name in ["n_block", "n_head"]:
            check(getattr(self, name) > 0, f"{name} must be > 0, got {getattr(self, name)}")
        check(self.hidden_size % self.n_head == 0,
              f"n_head {self.n_head} must divide hidden_size {self.hidden_size} (each head gets an equal share)")


def resources(hp: dict, spec) -> tuple[int, int]:
    """As the PPO core's, with the wall time scaled by K/2 for the K decoder passes of every acting step and the
    transformer's update (measured: 0.29x MAPPO's throughput on 3s5z, 8 agents; README: MILD²)."""
    memory, minutes = ppo_resources(hp, spec)
    return memory, minutes * max(1, spec.n_agents // 2)
