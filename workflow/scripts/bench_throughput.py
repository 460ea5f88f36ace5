"""Training throughput of a registered learner (IPPO, MAPPO, QMIX, DM², ...; joint env steps per second, learning
included) on one task with the config's hyperparameters, next to env-only stepping speed, with a breakdown of where
the time goes, the matmul precision the run chose, and how far the update runs from the hardware: the matrix-product
FLOP/s the update achieves next to what plain ``torch.bmm`` calls of exactly the update's matmuls (same shapes, same
dtype, same order) reach on this machine.

    python workflow/scripts/bench_throughput.py [--algorithm LEARNER] [--task smax/5m_vs_6m] [--updates 6] \
        [--repeats 3] [key=value ...]

For a replay learner (QMIX) an "update" is one collect of ``num_envs`` episodes plus its gradient steps, timed once the
replay buffer holds a batch and the epsilon anneal is over (as in the bulk of a run). The timed loop of ``--updates``
iterations runs ``--repeats`` times; the figures are the median repeat's, with the range of steps/s over repeats.

The last line is ``steps_per_s=<number>`` (training throughput, median over repeats)."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import envs  # noqa: E402
from algorithms import registry  # noqa: E402
from algorithms.common.config import load_config  # noqa: E402
from algorithms.common.cpu import describe_flags  # noqa: E402

_MATMULS = {torch.ops.aten.mm.default, torch.ops.aten.addmm.default, torch.ops.aten.bmm.default,
            torch.ops.aten.baddbmm.default}


class MatmulRecorder(TorchDispatchMode):
    """Records every matrix product (shapes of its two factors and their dtype) that reaches the kernels. torch does
    not run compiled code under a dispatch mode, so a compiled loss is recorded on its eager path: the same products."""

    def __init__(self):
        super().__init__()
        self.calls: list[tuple[tuple[int, ...], tuple[int, ...], torch.dtype]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in _MATMULS:
            x, w = (args[0], args[1]) if func in (torch.ops.aten.mm.default, torch.ops.aten.bmm.default) else args[1:3]
            self.calls.append((tuple(x.shape), tuple(w.shape), x.dtype))
        return func(*args, **(kwargs or {}))


def matmul_flops(calls) -> float:
    return sum(2.0 * np.prod(x) * w[-1] for x, w, _ in calls)


def plain_bmm_seconds(calls, repeats: int = 3) -> float:
    """Best time of replaying the recorded products as bare ``torch.bmm``/``torch.mm`` calls on random operands."""
    gen = torch.Generator().manual_seed(0)
    operands = [(torch.randn(x, generator=gen).to(dt), torch.randn(w, generator=gen).to(dt)) for x, w, dt in calls]
    best = float("inf")
    with torch.no_grad():
        for i in range(repeats + 1):  # one warm-up round
            t = time.perf_counter()
            for x, w in operands:
                torch.bmm(x, w) if x.dim() == 3 else torch.mm(x, w)
            if i:
                best = min(best, time.perf_counter() - t)
    return best


def env_only(task: str, num_envs: int, steps: int) -> float:
    env = envs.make(task, num_envs=num_envs, seed=0)
    o = env.reset()
    rng = np.random.default_rng(0)
    actions = lambda o: (rng.random(o.avail_actions.shape) * o.avail_actions).argmax(-1)  # noqa: E731
    o = env.step(actions(o))  # compile
    t = time.perf_counter()
    for _ in range(steps):
        o = env.step(actions(o))
    return steps * num_envs / (time.perf_counter() - t)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algorithm", default=next(iter(registry.LEARNERS)), choices=list(registry.LEARNERS),
                        help="a registered learner")
    parser.add_argument("--task", default="smax/5m_vs_6m")
    parser.add_argument("--config", default="config/config.yaml")
    parser.add_argument("--updates", type=int, default=6, help="timed iterations (after warm-up) per repeat")
    parser.add_argument("--repeats", type=int, default=3, help="timed loops; the median is reported")
    parser.add_argument("overrides", nargs="*", help="key=value config overrides")
    args = parser.parse_args(argv)
    entry = registry.learner(args.algorithm)
    # the learner's config blocks, merged as the workflow merges them
    cfg = load_config(entry.config_cls, args.config, [*args.overrides, f"task={args.task}"],
                      section=",".join(entry.sections))
    algo = entry.learner_cls(cfg)
    # env time: what the learner's thread spends starting env steps and waiting for their results. Where the envs
    # are stepped in groups (collect_groups), a group's stepping that runs while the policy acts on another group
    # is hidden, so it is not counted.
    env_time = [0.0]
    real_step_group = algo.env.step_group

    class TimedPending:
        def __init__(self, pending):
            self.pending = pending

        def result(self):
            t = time.perf_counter()
            out = self.pending.result()
            env_time[0] += time.perf_counter() - t
            return out

    def timed_step_group(group, actions):
        t = time.perf_counter()
        out = TimedPending(real_step_group(group, actions))
        env_time[0] += time.perf_counter() - t
        return out

    algo.env.step_group = timed_step_group  # env.step goes through step_group too
    replay = hasattr(algo, "buffer")
    with algo.autocast():
        algo.collect()
        algo.update()  # warm-up: compiles, allocator
        if replay:  # replay learners: fill the buffer past one batch, finish the anneal, no learning
            algo.env_steps = max(algo.env_steps, cfg.epsilon_anneal_steps)
            while algo.buffer.size < cfg.batch_episodes:
                algo.collect()
            algo.update_credit = 0.0
        runs = []
        for _ in range(args.repeats):
            env_time[0] = 0.0
            t_collect = t_update = 0.0
            steps = 0
            for _ in range(args.updates):
                t = time.perf_counter()
                steps += algo.collect()["steps"]
                t_collect += time.perf_counter() - t
                t = time.perf_counter()
                algo.update()
                t_update += time.perf_counter() - t
            runs.append({"sps": steps / (t_collect + t_update), "steps": steps, "env": env_time[0],
                         "collect": t_collect, "update": t_update})
        # one more iteration, its matmuls recorded (outside the timing: recording slows them)
        steps_recorded = algo.collect()["steps"]
        with MatmulRecorder() as recorder:
            algo.update()
    run = sorted(runs, key=lambda r: r["sps"])[len(runs) // 2]
    sps, steps, total = run["sps"], run["steps"], run["collect"] + run["update"]
    env_sps = env_only(args.task, cfg.num_envs, steps=200)
    us = lambda x: 1e6 * x / steps  # noqa: E731
    print(f"cpu flags: {describe_flags()}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    choice = algo.precision
    print(f"precision={choice.precision} (config: {choice.requested}; {choice.reason})")
    if hasattr(type(algo), "batch_loss"):
        print(f"minibatch loss: {algo.batch_loss.status}")
    if replay:
        print(f"algorithm={args.algorithm} task={args.task} num_envs={cfg.num_envs} "
              f"updates_per_episode={cfg.updates_per_episode} batch_episodes={cfg.batch_episodes}")
    else:
        print(f"algorithm={args.algorithm} task={args.task} num_envs={cfg.num_envs} rollout={algo.T}x{cfg.num_envs} "
              f"ppo_epochs={cfg.ppo_epochs} chunk={cfg.chunk_length} minibatches={cfg.num_minibatches} "
              f"hidden={cfg.hidden_size}")
    print(f"env only (random actions, {cfg.num_envs} envs): {env_sps:,.0f} joint steps/s")
    groups = getattr(cfg, "collect_groups", 1)
    print(f"env stepped in {groups} group(s); env time = waiting for the env (stepping that overlaps acting is hidden)")
    print(f"per joint env step: env {us(run['env']):.1f} us, acting+storage {us(run['collect'] - run['env']):.1f} us, "
          f"update {us(run['update']):.1f} us")
    print(f"shares: env {run['env'] / total:.0%}, acting {(run['collect'] - run['env']) / total:.0%}, "
          f"update {run['update'] / total:.0%}")
    # the update's matrix products: FLOP/s achieved inside the update vs a bare replay of the same products
    flops = matmul_flops(recorder.calls)
    update_s = run["update"] / steps * steps_recorded  # the median repeat's time of one such update
    bmm_s = plain_bmm_seconds(recorder.calls)
    dtypes = sorted({str(dt).removeprefix("torch.") for _, _, dt in recorder.calls})
    print(f"update matmuls: {len(recorder.calls)} products, {flops / 1e9:.2f} GFLOP per update ({'/'.join(dtypes)}); "
          f"achieved {flops / update_s / 1e9:.1f} GFLOP/s over the whole update; plain bmm of the same products "
          f"{flops / bmm_s / 1e9:.1f} GFLOP/s (matmuls alone would take {bmm_s / update_s:.0%} of the update)")
    print(f"steps/s over {args.repeats} repeats of {args.updates} updates: "
          + ", ".join(f"{r['sps']:,.0f}" for r in runs))
    print(f"steps_per_s={sps:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
