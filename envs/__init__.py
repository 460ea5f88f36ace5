"""Environments: ``envs.make("smax/5m_vs_6m", num_envs=64, seed=0)`` is the one entry point.

A task is named ``<backend>/<name>``: ``smax/<map>`` (embedded default, JAX), ``mpe/<task>`` (JAX MPE) and
``smac/<map>`` (optional, needs StarCraft II). ``list_tasks()`` lists the names that need nothing extra.

``list_tasks()`` and ``task_spec()`` of an embedded task at its default options read a stored table
(``envs/task_specs.py``) and import no JAX; anything else (options, ``smac/<map>``, a stale table) is computed live.
"""
from __future__ import annotations

from envs.base import BatchedEnv, CommSpec, Observation, PhysicalView, StepResult, TaskSpec, physical_spec

BACKENDS = ("smax", "mpe", "smac")

__all__ = ["BatchedEnv", "CommSpec", "Observation", "PhysicalView", "StepResult", "TaskSpec", "make", "task_spec",
           "physical_spec", "list_tasks", "BACKENDS"]


def list_tasks() -> list[str]:
    """Every task the embedded backends provide (real-SMAC maps are whatever SC2 has installed)."""
    from envs import task_specs

    table = task_specs.table()
    if table is not None:
        return list(table)
    from envs import mpe, smax

    return [f"smax/{m}" for m in smax.map_names()] + [f"mpe/{t}" for t in mpe.task_names()]


def _split(name: str) -> tuple[str, str]:
    if not isinstance(name, str) or "/" not in name:
        raise ValueError(f"task name must look like '<backend>/<name>' (backends: {', '.join(BACKENDS)}), got {name!r}")
    backend, task = name.split("/", 1)
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r} in task {name!r}; known backends: {', '.join(BACKENDS)}")
    if backend != "smac" and name not in list_tasks():
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(list_tasks())}, or smac/<map> (needs SC2)")
    return backend, task


_OPTIONS = {"smax": {"reward_scale"}, "mpe": {"reward_scale", "local_ratio"}, "smac": {"reward_scale"}}


def _check_options(backend: str, options: dict) -> None:
    unknown = set(options) - _OPTIONS[backend]
    if unknown:
        raise ValueError(f"unknown option(s) {sorted(unknown)} for backend {backend!r}; allowed: {sorted(_OPTIONS[backend])}")


def make(name: str, num_envs: int = 1, seed: int = 0, physical_only: bool = False, **options) -> BatchedEnv:
    """Build N parallel envs of one task. ``options``: ``reward_scale`` (all backends; default 10 for SMAX, which
    puts SMAX's reward on SMAC's scale, else 1) and ``local_ratio`` (MPE, default 0 = global reward).
    ``physical_only``: a task with a communication channel (``spec.comm``) without it (``PhysicalView``: physical
    observations and actions, what a centralized controller needs); the task itself where it has none."""
    env = _make(name, num_envs, seed, options)
    return PhysicalView(env) if physical_only and env.spec.comm is not None else env


def _make(name: str, num_envs: int, seed: int, options: dict) -> BatchedEnv:
    backend, task = _split(name)
    _check_options(backend, options)
    if backend == "smax":
        from envs.smax import make_smax

        return make_smax(task, num_envs=num_envs, seed=seed, **options)
    if backend == "mpe":
        from envs.mpe import make_mpe

        return make_mpe(task, num_envs=num_envs, seed=seed, **options)
    from envs.smac import make_smac

    return make_smac(task, num_envs=num_envs, seed=seed, **options)


def task_spec(name: str, physical_only: bool = False, **options) -> TaskSpec:
    """The static facts of a task (agents, dims, limits) without building parallel envs; those of an embedded task at
    its default options come from the stored table (no JAX). ``physical_only``: those of its physical view."""
    spec = _task_spec(name, options)
    return physical_spec(spec) if physical_only else spec


def _task_spec(name: str, options: dict) -> TaskSpec:
    backend, task = _split(name)
    _check_options(backend, options)
    if backend != "smac" and not options:
        from envs import task_specs

        table = task_specs.table()
        if table is not None:
            return table[name]  # _split checked that the name is listed
    if backend == "smax":
        from envs.smax import smax_spec

        return smax_spec(task, **options)
    if backend == "mpe":
        from envs.mpe import mpe_spec

        return mpe_spec(task, **options)
    env = make(name, num_envs=1, **options)
    try:
        return env.spec
    finally:
        env.close()
