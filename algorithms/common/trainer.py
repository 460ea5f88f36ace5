"""The training loop and CLI shared by every learner (registered in algorithms/registry.py): evaluation every
``eval_interval`` env steps, model snapshots every ``checkpoint_interval``, an atomic resume checkpoint at every
evaluation (exact resume after a kill), the resolved config, progress.csv while training, then the absolute metric
(the final policy on ``absolute_eval_factor`` times the evaluation episodes: absolute.json) and metrics.csv once done.

A run folder's ``metrics.csv`` (the workflow's declared output) appears, atomically, only when the run is complete:
the evaluations of a run in progress are in ``progress.csv``. One trainer at a time holds a run folder (a lock file
beside it), so a trainer orphaned by a killed job cannot write into a folder that a rerun is training. SIGTERM (Slurm
before a time limit or a preemption; ``scancel``) makes the trainer write its resume point at the next update
boundary and exit with status 143; run again, it continues exactly where it stopped. A trainer started from the CLI
also receives SIGTERM when its parent process (the job's shell) dies.

A learner class provides: ``name``, ``update_stats`` (metrics columns), ``run_metadata``, ``spec``, ``T``,
``env_steps``, ``precision`` (a ``precision.Choice``), ``autocast()`` (its context), optionally ``batch_loss`` (a
``compiled.MaybeCompiled``: its status is logged after the first update), ``collect()`` -> {steps, returns, wins},
``update()`` -> stats, ``evaluate()`` -> test stats,
``model_state()``, ``training_state()``, ``load_training_state()``. Its config dataclass provides ``task``, ``seed``,
``total_env_steps``, ``num_envs``, ``eval_interval``, ``eval_episodes``, ``absolute_eval_factor``,
``checkpoint_interval``.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import math
import os
import shutil
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import numpy as np
import yaml
from tqdm import tqdm

from algorithms.common.config import ConfigError, config_help, load_config, parse_override
from algorithms.common.evaluation import win_rate
from algorithms.common.runio import (MetricsTable, atomic_torch_save, atomic_write_text, file_logger,
                                     load_checkpoint, run_lock, write_resolved_config)

# Exit status of a trainer stopped by SIGTERM after writing its resume point (128 + SIGTERM, as the shell reports it).
STOPPED_BY_SIGTERM = 128 + signal.SIGTERM


class Stopped(Exception):
    """Training stopped by a signal, after writing the resume point."""


def config_hash(cfg, algo_cls: type | None = None) -> str:
    """A run folder's identity: the learner class and every config value (MAPPO and IPPO share their keys)."""
    payload = {"learner": algo_cls.__name__ if algo_cls is not None else None, **dataclasses.asdict(cfg)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def _existing_config_hash(run_dir: Path, state: dict | None) -> str | None:
    if state is not None:
        return state.get("config_hash")
    resolved = run_dir / "config.yaml"
    if resolved.exists():
        return (yaml.safe_load(resolved.read_text()) or {}).get("config_hash")
    return None


def train(cfg, run_dir: str | Path, progress: bool, restart_if_changed: bool, algo_cls: type,
          arm: str | None = None, lock_wait_s: float = 90.0) -> list[dict]:
    """Train one run into ``run_dir`` (config.yaml, progress.csv, checkpoints/, then final_model.pt and metrics.csv,
    train.log). A run folder with a resume checkpoint (an unfinished run) of the same config continues from it; one of
    another config is an error, or, with ``restart_if_changed``, is cleared and started over. A finished run folder
    is trained again from scratch. ``arm``: the registered arm this run is (recorded; default: the registry's most
    specific arm of this learner whose settings the config has). ``lock_wait_s``: how long to wait for another trainer
    of the same folder (e.g. one finishing its SIGTERM) before failing. Returns the metrics rows; raises ``Stopped``
    after SIGTERM (resume point written)."""
    run_dir = Path(run_dir)
    with run_lock(run_dir, lock_wait_s), _stop_on_sigterm() as stop:
        return _train(cfg, run_dir, progress, restart_if_changed, algo_cls, arm, stop)


@contextlib.contextmanager
def _stop_on_sigterm():
    """While training: SIGTERM sets a flag that the loop checks at update boundaries (a signal arriving inside torch
    or JAX is handled when control returns to Python). Only the main thread can install handlers."""
    stop: dict = {}
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.setdefault("signal", signum))
    try:
        yield stop
    finally:
        signal.signal(signal.SIGTERM, previous)


def _train(cfg, run_dir: Path, progress: bool, restart_if_changed: bool, algo_cls: type, arm: str | None,
           stop: dict) -> list[dict]:
    from algorithms import registry

    defaults = {f.name: f.default for f in dataclasses.fields(cfg)}
    arm = arm or registry.arm_for(algo_cls.name, dataclasses.asdict(cfg), defaults)
    chash = config_hash(cfg, algo_cls)
    resume_path = run_dir / "resume.pt"
    state = load_checkpoint(resume_path) if resume_path.exists() else None
    existing = _existing_config_hash(run_dir, state)
    if existing is not None and existing != chash:
        if not restart_if_changed:
            raise RuntimeError(f"{run_dir} holds a run with a different config (hash {existing} vs {chash}); use "
                               f"another run folder, delete it, or pass --restart-if-changed")
        shutil.rmtree(run_dir)
        state = None
    algo = algo_cls(cfg)  # loads and checks everything it needs (demonstrations, ...) before anything is written
    run_dir.mkdir(parents=True, exist_ok=True)
    # The outputs of a finished run describe a run that this one replaces or continues: gone until it is done.
    for done_file in ("metrics.csv", "final_model.pt", ABSOLUTE_FILE):
        (run_dir / done_file).unlink(missing_ok=True)
    if state is not None:
        algo.load_training_state(state)  # first: the resumed run's own precision goes into config.yaml
    log = file_logger(run_dir)
    # the PPO family's loss: compiled (whether compiling worked is logged after the first update) or eager
    loss_mode = None
    if hasattr(type(algo), "batch_loss"):
        loss_mode = "torch.compile (outcome in train.log)" if algo.batch_loss.enabled else "eager"
    slurm = f", Slurm job {os.environ['SLURM_JOB_ID']}" if os.environ.get("SLURM_JOB_ID") else ""
    log.info("trainer: pid %d on %s%s", os.getpid(), socket.gethostname(), slurm)
    write_resolved_config(run_dir, cfg, {"algorithm": algo.name, "arm": arm,
                                         "execution": registry.ARMS[arm].mode if arm in registry.ARMS else None,
                                         "config_hash": chash,
                                         "task_spec": dataclasses.asdict(algo.spec),
                                         "rollout_steps_per_update": algo.T * cfg.num_envs,
                                         "precision": algo.precision.record(),
                                         **({"minibatch_loss": loss_mode} if loss_mode else {}), **algo.run_metadata})
    columns = ["env_steps", "test_win_rate", "test_return", "test_length", "train_return", "train_win_rate",
               "train_episodes", *algo.update_stats, "wall_time", "steps_per_s"]
    metrics = MetricsTable(run_dir / "progress.csv", columns)
    next_eval, next_ckpt, wall_time = 0, cfg.checkpoint_interval, 0.0
    train_returns, train_wins, losses = [], [], {}
    last_row_steps, last_row_wall = algo.env_steps, wall_time
    if state is not None:
        metrics.rows = state["metrics_rows"]
        metrics.write()
        next_eval, next_ckpt, wall_time = state["next_eval"], state["next_ckpt"], state["wall_time"]
        # what the next evaluation row summarises (a resume point written between evaluations carries it)
        train_returns, train_wins = list(state.get("train_returns", [])), list(state.get("train_wins", []))
        losses = dict(state.get("losses", {}))
        last_row_steps = state.get("last_row_steps", algo.env_steps)
        last_row_wall = state.get("last_row_wall", wall_time)
        log.info("resumed at %d env steps", algo.env_steps)
    else:
        log.info("start: %s", json.dumps(dataclasses.asdict(cfg)))

    def save_resume_point() -> None:
        atomic_torch_save({**algo.training_state(), "config_hash": chash, "metrics_rows": metrics.rows,
                           "next_eval": next_eval, "next_ckpt": next_ckpt, "wall_time": wall_time,
                           "train_returns": train_returns, "train_wins": train_wins, "losses": losses,
                           "last_row_steps": last_row_steps, "last_row_wall": last_row_wall}, resume_path)

    def stop_if_signalled() -> None:
        if "signal" in stop:
            save_resume_point()
            log.info("stopped by signal %d at %d env steps: resume point written", stop["signal"], algo.env_steps)
            raise Stopped(f"stopped by signal {stop['signal']} at {algo.env_steps} env steps; run again to resume")

    loss_status_logged = not hasattr(type(algo), "batch_loss")  # learners with a compiled-or-eager loss say which ran
    bar = tqdm(total=cfg.total_env_steps, initial=min(algo.env_steps, cfg.total_env_steps), disable=not progress,
               unit="step", unit_scale=True, desc=f"{algo.name} {cfg.task} seed {cfg.seed}", file=sys.stderr)
    while True:
        finished = algo.env_steps >= cfg.total_env_steps
        final_row_missing = finished and (not metrics.rows or metrics.rows[-1]["env_steps"] != algo.env_steps)
        if algo.env_steps >= next_eval or final_row_missing:
            # EVALUATE (greedy) and record; then save the resume state so a kill loses at most one interval
            t0 = time.perf_counter()
            with algo.autocast():
                test = algo.evaluate()
            wall_time += time.perf_counter() - t0
            dt = max(wall_time - last_row_wall, 1e-9)
            row = {"env_steps": algo.env_steps, **test,
                   "train_return": float(np.mean(train_returns)) if train_returns else math.nan,
                   "train_win_rate": win_rate(train_wins, algo.spec.has_win) if train_wins else math.nan,
                   "train_episodes": len(train_returns),
                   **{k: losses.get(k, math.nan) for k in algo.update_stats},
                   "wall_time": round(wall_time, 3), "steps_per_s": round((algo.env_steps - last_row_steps) / dt, 1)}
            metrics.append(row)
            log.info("eval %s", json.dumps(row))
            bar.set_postfix(**({"win": f"{test['test_win_rate']:.2f}"} if algo.spec.has_win else {}),
                           ret=f"{test['test_return']:.1f}")
            train_returns, train_wins = [], []
            last_row_steps, last_row_wall = algo.env_steps, wall_time
            while next_eval <= algo.env_steps:
                next_eval += cfg.eval_interval
            save_resume_point()
        if finished:
            break
        stop_if_signalled()
        t0 = time.perf_counter()
        with algo.autocast():
            collected = algo.collect()
            losses = algo.update()
        wall_time += time.perf_counter() - t0
        if not loss_status_logged:  # once, after this process's first update
            log.info("minibatch loss: %s", algo.batch_loss.status)
            loss_status_logged = True
        train_returns += collected["returns"]
        train_wins += collected["wins"]
        bar.update(min(collected["steps"], cfg.total_env_steps - bar.n))
        while algo.env_steps >= next_ckpt:  # model snapshots at fixed step intervals (for demonstrations)
            atomic_torch_save(algo.model_state(), run_dir / "checkpoints" / f"step_{next_ckpt}.pt")
            next_ckpt += cfg.checkpoint_interval
        if algo.env_steps < cfg.total_env_steps and algo.env_steps < next_eval:
            stop_if_signalled()  # (at an evaluation step, evaluate first: the resume point then holds its row)
    bar.close()
    if cfg.absolute_eval_factor:
        write_absolute_metric(algo, cfg, run_dir, log)
    # Done: the model, then metrics.csv, the run's declared output, last. A finished run keeps no resume state:
    # running it again (e.g. Snakemake after a code change) trains afresh.
    atomic_torch_save(algo.model_state(), run_dir / "final_model.pt")
    MetricsTable(run_dir / "metrics.csv", columns, metrics.rows).write()
    resume_path.unlink(missing_ok=True)
    metrics.path.unlink(missing_ok=True)
    log.info("done: %d env steps, %.1f s", algo.env_steps, wall_time)
    return metrics.rows


ABSOLUTE_FILE = "absolute.json"


def write_absolute_metric(algo, cfg, run_dir: Path, log) -> dict:
    """The absolute metric: the final policy's greedy score over ``absolute_eval_factor`` evaluations of
    ``eval_episodes`` fresh episodes each (every evaluation resets the eval envs with new keys), so its estimate
    rests on ten times the episodes of one evaluation point. A task without wins records its win rate as null."""
    with algo.autocast():
        evals = [algo.evaluate() for _ in range(cfg.absolute_eval_factor)]
    result = {k: float(np.mean([e[k] for e in evals])) for k in evals[0]}
    result = {k: None if math.isnan(v) else v for k, v in result.items()}
    result.update(env_steps=algo.env_steps, episodes=cfg.absolute_eval_factor * cfg.eval_episodes)
    atomic_write_text(run_dir / ABSOLUTE_FILE, json.dumps(result, indent=1) + "\n")
    log.info("absolute metric %s", json.dumps(result))
    return result


def _sigterm_when_parent_dies() -> None:
    """Linux: ask the kernel for SIGTERM when the parent (the job's shell) dies, so a trainer whose job was killed
    writes its resume point and stops instead of training on unsupervised (elsewhere: nothing; the run lock still
    keeps a second trainer out of the folder)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the request: act on it now
        os.kill(os.getpid(), signal.SIGTERM)


def main(argv: list[str] | None, learner: str, doc: str | None) -> int:
    """The CLI of every learner: ``python -m algorithms.<module> [--arm ARM] --config ... --run-dir ... key=value``
    (``learner``: its registry name)."""
    from algorithms import registry

    entry = registry.learner(learner)
    cfg_cls, algo_cls = entry.config_cls, entry.learner_cls
    arms = [name for name, a in registry.ARMS.items() if a.learner == learner]
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="config keys:\n" + config_help(cfg_cls))
    parser.add_argument("--config", type=Path, help="YAML file of config keys (and task_overrides)")
    parser.add_argument("--arm", choices=arms, help="a registered arm of this learner: its settings apply after the "
                        "file, before the overrides, and the run records it (default: the most specific arm whose "
                        "settings the config has)")
    parser.add_argument("--section", help="read these comma-separated sections of the file, merged in order (this "
                        f"learner's blocks in config/config.yaml: {','.join(entry.sections)}); without it the file is "
                        "one flat block")
    parser.add_argument("--set-json", help="a JSON object of config keys, applied after the file (used by Snakemake)")
    parser.add_argument("--run-dir", type=Path, required=True, help="output folder (resumed if it holds a run)")
    parser.add_argument("--restart-if-changed", action="store_true",
                        help="if run-dir holds a run of another config, start over instead of failing")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("overrides", nargs="*", help="key=value overrides, applied last")
    args = parser.parse_args(argv)
    try:
        overrides = json.loads(args.set_json) if args.set_json else {}
        if not isinstance(overrides, dict):
            raise ConfigError(f"--set-json must be a JSON object, got {args.set_json!r}")
        overrides.update(dict(parse_override(o) for o in args.overrides))
        if args.arm:
            overrides = {**registry.ARMS[args.arm].settings, **overrides}
        cfg = load_config(cfg_cls, args.config, overrides, section=args.section)
    except (ConfigError, json.JSONDecodeError) as exc:
        parser.exit(2, f"config error: {exc}\n")
    _sigterm_when_parent_dies()
    try:
        rows = train(cfg, args.run_dir, progress=not args.no_progress, restart_if_changed=args.restart_if_changed,
                     algo_cls=algo_cls, arm=args.arm)
    except Stopped as exc:
        print(exc, file=sys.stderr)
        return STOPPED_BY_SIGTERM
    last = rows[-1]
    print(f"final: env_steps={last['env_steps']} test_win_rate={last['test_win_rate']:.3f} "
          f"test_return={last['test_return']:.2f} wall_time={last['wall_time']:.0f}s")
    return 0


