"""The one batched multi-agent environment interface every backend implements.

Shapes use N parallel envs, K learning agents. Arrays are NumPy (the learners are PyTorch; the env may be JAX).
Every step auto-resets finished envs: the observation returned for an env whose episode just ended is the first
observation of its next episode, and the finished episode's statistics are in ``episode_*`` (valid where ``done``).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields

import numpy as np


@dataclass(frozen=True)
class CommSpec:
    """A task's communication channel (MPE's speaker-listener and reference games; Lin et al. Alg. 2): an agent's
    flat action is a physical action and a broadcast message, and an agent hears, one step later, the messages of
    the other speakers (none at an episode's start). Layout, per agent k (tests check it against the env):

    - ``obs[..., k, :physical_obs_dim]`` is its physical observation (zero-padded), ``obs[..., k, physical_obs_dim:]``
      what it heard: the one-hot messages of ``senders(k)`` in agent order, zero-padded to ``heard_dim``;
    - flat action = physical + ``n_physical[k]`` * message; a silent agent's message is 0, an agent with one
      physical action (0) cannot move."""

    message_dim: int  # size of one broadcast's vocabulary (one-hot)
    physical_obs_dim: int
    n_physical: tuple[int, ...]  # per agent: its physical actions
    speaks: tuple[bool, ...]  # per agent: whether it broadcasts

    def senders(self, k: int) -> tuple[int, ...]:
        """Whom agent k hears: every other speaker, in agent order."""
        return tuple(i for i, s in enumerate(self.speaks) if s and i != k)

    def physical_avail(self) -> np.ndarray:
        """Each agent's available physical actions [K, max n_physical] (bool)."""
        return np.arange(max(self.n_physical))[None, :] < np.array(self.n_physical)[:, None]

    @property
    def heard_dim(self) -> int:
        return max(len(self.senders(k)) for k in range(len(self.speaks))) * self.message_dim

    def split_action(self, flat):
        """Flat actions [..., K] (NumPy or torch integers) -> (physical, message)."""
        n = self._per_agent(flat)
        return flat % n, flat // n

    def join_action(self, physical, message):
        return physical + self._per_agent(physical) * message

    def _per_agent(self, like):
        n = np.asarray(self.n_physical)
        if isinstance(like, np.ndarray):
            return n.astype(like.dtype)
        import torch

        return torch.as_tensor(n, dtype=like.dtype, device=like.device)


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
    comm: CommSpec | None = None  # the communication channel, where the task has one

    def __post_init__(self):  # a spec read back from JSON or a checkpoint's dict: its channel as a CommSpec
        if isinstance(self.comm, dict):
            c = dict(self.comm, n_physical=tuple(self.comm["n_physical"]), speaks=tuple(self.comm["speaks"]))
            object.__setattr__(self, "comm", CommSpec(**c))


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


class ReadyStep:
    """A group's step whose result is already there (see ``BatchedEnv.step_group``)."""

    def __init__(self, result: StepResult):
        self._result = result

    def result(self) -> StepResult:
        return self._result


class BatchedEnv:
    """Base class: ``reset()`` starts fresh episodes in all N envs; ``step(actions)`` takes int actions [N,K].

    Envs can also be stepped in ``groups`` equal groups of consecutive envs (``set_groups``; group g is envs
    ``group_slice(g)``): ``step_group(g, actions_g)`` starts group g's step and returns a handle whose ``result()``
    is that group's ``StepResult``. A backend that steps asynchronously (JAX) computes one group while the caller
    works on another (a learner acts on group 1 while group 0's envs step); here, the generic version, the step of
    all envs runs when the last group's actions arrive, so a caller must submit groups 0..G-1 in turn before it asks
    for a result. Either way each env's trajectory is the same as with ``step``."""

    spec: TaskSpec
    num_envs: int
    groups: int = 1

    def set_groups(self, groups: int) -> None:
        if not isinstance(groups, int) or groups < 1 or self.num_envs % groups:
            raise ValueError(f"{self.spec.name}: env groups must be a positive divisor of num_envs={self.num_envs}, "
                             f"got {groups!r}")
        self.groups = groups
        self._round_actions: dict[int, np.ndarray] = {}  # this round's submitted groups (generic version)
        self._round: dict = {}  # where this round's joint result goes once the last group is in

    def group_slice(self, group: int) -> slice:
        size = self.num_envs // self.groups
        return slice(group * size, (group + 1) * size)

    def step_group(self, group: int, actions: np.ndarray):
        if self.groups == 1:
            return ReadyStep(self.step(actions))
        if group in self._round_actions:
            raise RuntimeError(f"{self.spec.name}: group {group} was submitted twice before groups "
                               f"{sorted(set(range(self.groups)) - set(self._round_actions))} were")
        self._round_actions[group] = np.asarray(actions)
        pending = _LaterStep(self._round, self.group_slice(group), self.spec.name)
        if len(self._round_actions) == self.groups:  # the last group: step all envs
            self._round["result"] = self.step(np.concatenate([self._round_actions[g] for g in range(self.groups)]))
            self._round_actions, self._round = {}, {}
        return pending

    def reset(self) -> Observation:  # pragma: no cover - interface
        raise NotImplementedError

    def step(self, actions: np.ndarray) -> StepResult:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:
        """Release backend resources (SC2 processes for real SMAC); nothing to do for JAX backends."""

    def _check_actions(self, actions: np.ndarray, group: int | None = None) -> np.ndarray:
        """Integer actions [N, K] (or, for ``group``, [N / groups, K]) as int32; a clear error otherwise."""
        actions = np.asarray(actions)
        rows, what = (self.num_envs, "actions") if group is None else (self.num_envs // self.groups,
                                                                        f"group {group}'s actions")
        expected = (rows, self.spec.n_agents)
        if actions.shape != expected:
            raise ValueError(f"{self.spec.name}: {what} must have shape {expected} (envs, agents), got {actions.shape}")
        if not np.issubdtype(actions.dtype, np.integer):
            raise TypeError(f"{self.spec.name}: actions must be integers, got dtype {actions.dtype}")
        return actions.astype(np.int32, copy=False)


class _LaterStep:
    """A group's step in the generic version: its result is a slice of the joint step of its round."""

    def __init__(self, round_: dict, rows: slice, name: str):
        self._round, self._rows, self._name = round_, rows, name

    def result(self) -> StepResult:
        if "result" not in self._round:
            raise RuntimeError(f"{self._name}: not every group's actions of this step were submitted: submit them "
                               "all before asking for a result")
        r = self._round["result"]
        return StepResult(*(getattr(r, f.name)[self._rows] for f in fields(StepResult)))


def physical_spec(spec: TaskSpec) -> TaskSpec:
    """The spec of a task's ``PhysicalView``: ``spec`` itself where the task has no communication channel."""
    comm = spec.comm
    if comm is None:
        return spec
    return dataclasses.replace(spec, obs_dim=comm.physical_obs_dim, state_dim=spec.n_agents * comm.physical_obs_dim,
                               n_actions=max(comm.n_physical), comm=None)


class PhysicalView(BatchedEnv):
    """A task with a communication channel seen without it: observations cut to their physical part, physical actions
    only (every agent's message is 0, which no one reads here). A centralized controller's env: it sees every agent's
    observation, so it has nothing to be told (CESMA's experts act on joint physical observations, Lin et al. Alg. 2).
    The envs underneath are the task's own, stepped as they are."""

    def __init__(self, env: BatchedEnv):
        comm = env.spec.comm
        if comm is None:
            raise ValueError(f"{env.spec.name} has no communication channel: its physical view is the task itself")
        self.inner, self._P = env, comm.physical_obs_dim
        self.spec = physical_spec(env.spec)
        self.num_envs = env.num_envs
        self._avail = comm.physical_avail()
        self._n_physical = np.array(comm.n_physical)
        self.set_groups(env.groups)

    def set_groups(self, groups: int) -> None:
        self.inner.set_groups(groups)
        self.groups = groups

    def group_slice(self, group: int) -> slice:
        return self.inner.group_slice(group)

    def _view(self, o):
        obs = o.obs[..., :self._P]
        avail = np.broadcast_to(self._avail, (*obs.shape[:-1], self._avail.shape[1])).copy()
        head = dict(obs=obs, state=obs.reshape(obs.shape[0], -1), avail_actions=avail, alive=o.alive)
        if isinstance(o, StepResult):
            return StepResult(**head, **{f.name: getattr(o, f.name) for f in fields(StepResult)
                                         if f.name not in head})
        return Observation(**head)

    def _physical(self, actions: np.ndarray, group: int | None = None) -> np.ndarray:
        actions = self._check_actions(actions, group if self.groups > 1 else None)
        if (actions >= self._n_physical).any():
            raise ValueError(f"{self.spec.name} (physical view): an action beyond an agent's physical actions "
                             f"(per agent: {self._n_physical.tolist()})")
        return actions  # physical + n_physical * message 0

    def reset(self) -> Observation:
        return self._view(self.inner.reset())

    def step(self, actions: np.ndarray) -> StepResult:
        return self._view(self.inner.step(self._physical(actions)))

    def step_group(self, group: int, actions: np.ndarray):
        return _Viewed(self.inner.step_group(group, self._physical(actions, group)), self._view)

    def close(self) -> None:
        self.inner.close()

    def get_state(self):
        return self.inner.get_state()

    def set_state(self, leaves) -> None:
        self.inner.set_state(leaves)

    def compiled_step_count(self) -> int:
        return self.inner.compiled_step_count()


class _Viewed:
    def __init__(self, pending, view):
        self._pending, self._view = pending, view

    def result(self) -> StepResult:
        return self._view(self._pending.result())
