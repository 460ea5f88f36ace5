"""A jaxmarl environment behind the batched interface: one jitted, vmapped function per step.

The per-env step runs ``step_env`` (which does not reset), reads the outcome (battle won, terminal or truncated) from
the post-step state *before* resetting -- jaxmarl's own auto-reset would discard it -- then resets finished envs.
Episode return/length accumulators and the PRNG key live inside the jitted carry, so Python only passes actions.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

import numpy as np

from envs.base import BatchedEnv, Observation, StepResult, TaskSpec

_CACHE_CONFIGURED = False


def configure_jax() -> None:
    """CPU-only JAX with a persistent compilation cache: a fresh process then reuses compiled env steps instead of
    recompiling them (seconds per env shape), which matters for many short Snakemake jobs."""
    global _CACHE_CONFIGURED
    if _CACHE_CONFIGURED:
        return
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax

    cache_dir = os.environ.get("MARLBENCH_JAX_CACHE", os.path.expanduser("~/.cache/marlbench/jax"))
    if cache_dir and cache_dir.lower() != "off":
        os.makedirs(cache_dir, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", cache_dir)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    _CACHE_CONFIGURED = True


@dataclass(frozen=True)
class JaxAdapter:
    """How to read one jaxmarl env into the common arrays (all functions are traced inside jit, per env)."""

    env: Any  # a jaxmarl MultiAgentEnv
    agents: tuple[str, ...]  # the learning agents, in order
    obs: Callable  # (obs_dict, env_state) -> [K, obs_dim]
    state: Callable  # (obs_dict, env_state) -> [state_dim]
    avail_actions: Callable  # env_state -> [K, n_actions] bool
    alive: Callable  # env_state -> [K] bool
    team_reward: Callable  # rewards_dict -> scalar (before reward_scale)
    won: Callable  # env_state -> bool
    ended_by_outcome: Callable  # env_state -> bool (terminal for a reason other than the time limit)


class _Carry(NamedTuple):
    env_state: Any
    key: Any
    episode_return: Any
    episode_length: Any


def _writable(arrays) -> list[np.ndarray]:
    # device_get hands out read-only views of JAX buffers; learners wrap arrays with torch.from_numpy, which wants
    # writable memory. The copies are a few KB per step.
    return [np.array(a) for a in arrays]


class JaxBatchedEnv(BatchedEnv):
    def __init__(self, spec: TaskSpec, adapter: JaxAdapter, num_envs: int, seed: int):
        configure_jax()
        import jax
        import jax.numpy as jnp

        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        self.spec, self.num_envs, self._adapter = spec, num_envs, adapter
        env, agents, limit, scale = adapter.env, adapter.agents, spec.episode_limit, spec.reward_scale

        def observe(obs_dict, env_state):
            return (
                adapter.obs(obs_dict, env_state).astype(jnp.float32),
                adapter.state(obs_dict, env_state).astype(jnp.float32),
                adapter.avail_actions(env_state).astype(jnp.bool_),
                adapter.alive(env_state).astype(jnp.bool_),
            )

        def reset_one(key):
            key, reset_key = jax.random.split(key)
            obs_dict, env_state = env.reset(reset_key)
            # Cast to strong types: reset returns weak-typed leaves, which would make the step compile twice.
            env_state = jax.tree.map(lambda x: jnp.asarray(x, dtype=x.dtype), env_state)
            carry = _Carry(env_state, key, jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32))
            return carry, observe(obs_dict, env_state)

        def step_one(carry, actions):
            key, step_key, reset_key = jax.random.split(carry.key, 3)
            action_dict = {agent: actions[i] for i, agent in enumerate(agents)}
            obs_dict, env_state, rewards, dones, _ = env.step_env(step_key, carry.env_state, action_dict)
            reward = (adapter.team_reward(rewards) * scale).astype(jnp.float32)
            episode_return = carry.episode_return + reward
            episode_length = carry.episode_length + 1
            done = dones["__all__"] | (episode_length >= limit)
            terminated = done & adapter.ended_by_outcome(env_state)
            truncated = done & ~terminated
            won = done & adapter.won(env_state)
            reset_obs_dict, reset_state = env.reset(reset_key)
            pick = lambda a, b: jnp.where(done, a, b.astype(a.dtype))  # noqa: E731
            next_state = jax.tree.map(pick, reset_state, env_state)
            next_obs_dict = jax.tree.map(pick, reset_obs_dict, obs_dict)
            new_carry = _Carry(
                next_state,
                key,
                jnp.where(done, 0.0, episode_return).astype(jnp.float32),
                jnp.where(done, 0, episode_length).astype(jnp.int32),
            )
            outputs = observe(next_obs_dict, next_state) + (
                reward, done, terminated, truncated, won, episode_return, episode_length)
            return new_carry, outputs

        self._reset = jax.jit(jax.vmap(reset_one))
        self._step = jax.jit(jax.vmap(step_one))
        self._key = jax.random.PRNGKey(seed)
        self._jnp = jnp
        self._jax = jax
        self._carry = None

    def reset(self) -> Observation:
        self._key, sub = self._jax.random.split(self._key)
        self._carry, observed = self._reset(self._jax.random.split(sub, self.num_envs))
        return Observation(*_writable(self._jax.device_get(observed)))

    def step(self, actions: np.ndarray) -> StepResult:
        if self._carry is None:
            raise RuntimeError(f"{self.spec.name}: call reset() before step()")
        actions = self._check_actions(actions)
        self._carry, outputs = self._step(self._carry, self._jnp.asarray(actions))
        return StepResult(*_writable(self._jax.device_get(outputs)))

    def get_state(self) -> list[np.ndarray]:
        """Everything needed to continue these envs exactly (episode states, PRNG keys, episode counters)."""
        return [np.asarray(x) for x in self._jax.tree.leaves(self._jax.device_get((self._carry, self._key)))]

    def set_state(self, leaves: list[np.ndarray]) -> None:
        template = (self._carry, self._key)
        if self._carry is None:
            self.reset()
            template = (self._carry, self._key)
        treedef = self._jax.tree.structure(template)
        old = self._jax.tree.leaves(template)
        if len(leaves) != len(old) or any(np.shape(a) != b.shape for a, b in zip(leaves, old)):
            raise ValueError(f"{self.spec.name}: saved env state does not match {self.num_envs} envs of this task")
        restored = [self._jnp.asarray(a, dtype=b.dtype) for a, b in zip(leaves, old)]
        self._carry, self._key = self._jax.tree.unflatten(treedef, restored)

    def compiled_step_count(self) -> int:
        """How many times the step function was compiled (1 after warm-up; tests assert no recompilation)."""
        return self._step._cache_size()
