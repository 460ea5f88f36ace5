"""A jaxmarl environment behind the batched interface: one jitted, vmapped function per step.

Envs can be stepped in groups (``set_groups``): a group's step is dispatched and runs on JAX's own thread while the
caller works on another group (JAX's asynchronous dispatch), which is how a learner overlaps acting with stepping.

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


class _PendingStep:
    """A group's step dispatched to JAX; ``result()`` waits for it and copies it out."""

    def __init__(self, outputs, jax):
        self._outputs, self._jax = outputs, jax

    def result(self) -> StepResult:
        return StepResult(*_writable(self._jax.device_get(self._outputs)))


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
            """One env's step without its reset: (carry, obs, the key of a reset, outcome)."""
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
            new_carry = _Carry(
                env_state,
                key,
                jnp.where(done, 0.0, episode_return).astype(jnp.float32),
                jnp.where(done, 0, episode_length).astype(jnp.int32),
            )
            return new_carry, obs_dict, reset_key, (reward, done, terminated, truncated, won, episode_return,
                                                    episode_length)

        def step_batch(carry, actions, max_resets):
            """Step a batch of envs and reset the finished ones. Resetting is a fifth of a SMAX step and few envs
            finish per step, so only the finished envs are reset (up to ``max_resets`` at once, else all envs are
            reset and the finished ones picked); each env's reset uses its own key either way, so the outcome is
            the same as resetting every env and keeping the finished ones' resets."""
            carry, obs_dict, reset_keys, outcome = jax.vmap(step_one)(carry, actions)
            done = outcome[1]
            n = done.shape[0]

            def merge(rows, new_state, new_obs):  # write the reset envs' rows (rows == n: nothing to write)
                put = lambda full, new: full.at[rows].set(new.astype(full.dtype), mode="drop")  # noqa: E731
                return jax.tree.map(put, carry.env_state, new_state), jax.tree.map(put, obs_dict, new_obs)

            def reset_none(_):
                return carry.env_state, obs_dict

            def reset_few(_):
                rows = jnp.nonzero(done, size=max_resets, fill_value=n)[0]
                new_obs, new_state = jax.vmap(env.reset)(reset_keys[jnp.minimum(rows, n - 1)])
                return merge(rows, new_state, new_obs)

            def reset_all(_):
                new_obs, new_state = jax.vmap(env.reset)(reset_keys)
                pick = lambda a, b: jnp.where(done.reshape(-1, *([1] * (b.ndim - 1))), a.astype(b.dtype), b)  # noqa: E731
                return jax.tree.map(pick, new_state, carry.env_state), jax.tree.map(pick, new_obs, obs_dict)

            n_done = done.sum()
            branch = jnp.where(n_done == 0, 0, jnp.where(n_done <= max_resets, 1, 2))
            env_state, obs_dict = jax.lax.switch(branch, [reset_none, reset_few, reset_all], None)
            carry = carry._replace(env_state=env_state)
            return carry, jax.vmap(observe)(obs_dict, env_state) + outcome

        def step_leaves(leaves, actions, max_resets):
            carry, outputs = step_batch(jax.tree.unflatten(self._treedef, leaves), actions, max_resets)
            return jax.tree.leaves(carry), outputs

        self._reset = jax.jit(jax.vmap(reset_one))
        # The carry travels as its flat list of arrays: flattening the env's state classes in Python at every call
        # was most of the cost of starting a step (95 us of 15 arrays against 30 us as a plain list).
        self._step = jax.jit(step_leaves, static_argnums=2)
        self._treedef = None  # the carry's structure (known after the first reset)
        self._key = jax.random.PRNGKey(seed)
        self._jnp = jnp
        self._jax = jax
        self._carries = None  # per group of envs (``set_groups``): the flat list of its carry's arrays
        self.set_groups(1)

    def set_groups(self, groups: int) -> None:
        leaves = self._joint_carry()
        super().set_groups(groups)
        # A group's finished envs are reset together up to this many at once (assumed: an eighth of the group,
        # at least 2; more finishing in one step costs a reset of the whole group, results are the same).
        self.max_resets = max(2, (self.num_envs // groups) // 8)
        if leaves is not None:
            self._split(leaves)

    def _split(self, leaves: list) -> None:
        if self.groups == 1:
            self._carries = [list(leaves)]
        else:
            self._carries = [[x[self.group_slice(g)] for x in leaves] for g in range(self.groups)]

    def _joint_carry(self) -> list | None:
        """The carry of all envs as a flat list of arrays (None before the first reset)."""
        if self._carries is None:
            return None
        if self.groups == 1:
            return self._carries[0]
        return [self._jnp.concatenate(xs) for xs in zip(*self._carries)]

    def reset(self) -> Observation:
        self._key, sub = self._jax.random.split(self._key)
        carry, observed = self._reset(self._jax.random.split(sub, self.num_envs))
        leaves, self._treedef = self._jax.tree.flatten(carry)
        self._split(leaves)
        return Observation(*_writable(self._jax.device_get(observed)))

    def step_group(self, group: int, actions: np.ndarray) -> "_PendingStep":
        """Start group ``group``'s step and return at once (JAX computes it on its own thread): ``result()`` waits."""
        if self._carries is None:
            raise RuntimeError(f"{self.spec.name}: call reset() before step()")
        actions = self._check_actions(actions, group if self.groups > 1 else None)
        self._carries[group], outputs = self._step(self._carries[group], actions, self.max_resets)
        return _PendingStep(outputs, self._jax)

    def step(self, actions: np.ndarray) -> StepResult:
        if self._carries is None:
            raise RuntimeError(f"{self.spec.name}: call reset() before step()")
        if self.groups == 1:
            return self.step_group(0, actions).result()
        actions = self._check_actions(actions)
        pending = [self.step_group(g, actions[self.group_slice(g)]) for g in range(self.groups)]
        parts = [p.result() for p in pending]
        return StepResult(*(np.concatenate([getattr(r, f) for r in parts]) for f in StepResult.__dataclass_fields__))

    def get_state(self) -> list[np.ndarray]:
        """Everything needed to continue these envs exactly (episode states, PRNG keys, episode counters): the
        carry's arrays, then the key."""
        return [np.asarray(x) for x in self._jax.device_get([*(self._joint_carry() or []), self._key])]

    def set_state(self, leaves: list[np.ndarray]) -> None:
        if len(leaves) == 1 and np.shape(leaves[0]) == self._key.shape:  # saved before its first reset: the key only
            self._key, self._carries = self._jnp.asarray(leaves[0], dtype=self._key.dtype), None
            return
        if self._carries is None:
            self.reset()
        old = [*self._joint_carry(), self._key]
        if len(leaves) != len(old) or any(np.shape(a) != b.shape for a, b in zip(leaves, old)):
            raise ValueError(f"{self.spec.name}: saved env state does not match {self.num_envs} envs of this task")
        restored = [self._jnp.asarray(a, dtype=b.dtype) for a, b in zip(leaves, old)]
        self._key = restored.pop()
        self._split(restored)

    def compiled_step_count(self) -> int:
        """How many times the step function was compiled (1 after warm-up; tests assert no recompilation)."""
        return self._step._cache_size()
