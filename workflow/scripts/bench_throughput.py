"""Training throughput of a registered learner (IPPO, MAPPO, QMIX, ...; joint env steps per second, learning included) on one task with the
config's hyperparameters, next to env-only stepping speed, with a breakdown of where the time goes.

    python workflow/scripts/bench_throughput.py [--algorithm LEARNER] [--task smax/5m_vs_6m] [--updates 6] \
        [key=value ...]

For a replay learner (QMIX) an "update" is one collect of ``num_envs`` episodes plus its gradient steps, timed once the replay buffer
holds a batch and the epsilon anneal is over (as in the bulk of a run).

The last line is ``steps_per_s=<number>`` (training throughput)."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import envs  # noqa: E402
from algorithms import registry  # noqa: E402
from algorithms.common.config import load_config  # noqa: E402


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
    parser.add_argument("--algorithm", default=next(iter(registry.LEARNERS)), choices=list(registry.LEARNERS), help="a registered learner")
    parser.add_argument("--task", default="smax/5m_vs_6m")
    parser.add_argument("--config", default="config/config.yaml")
    parser.add_argument("--updates", type=int, default=6, help="timed iterations (after warm-up)")
    parser.add_argument("overrides", nargs="*", help="key=value config overrides")
    args = parser.parse_args(argv)
    entry = registry.learner(args.algorithm)
    # the learner's config blocks, merged as the workflow merges them
    cfg = load_config(entry.config_cls, args.config, [*args.overrides, f"task={args.task}"],
                      section=",".join(entry.sections))
    algo = entry.learner_cls(cfg)
    env_time = [0.0]
    real_step = algo.env.step

    def timed_step(actions):
        t = time.perf_counter()
        out = real_step(actions)
        env_time[0] += time.perf_counter() - t
        return out

    algo.env.step = timed_step
    with cfg.autocast():
        algo.collect()
        algo.update()  # warm-up: compiles, allocator
        if hasattr(algo, "buffer"):  # replay learners: fill the buffer past one batch, finish the anneal, no learning
            algo.env_steps = max(algo.env_steps, cfg.epsilon_anneal_steps)
            while algo.buffer.size < cfg.batch_episodes:
                algo.collect()
            algo.update_credit = 0.0
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
    total = t_collect + t_update
    sps = steps / total
    env_sps = env_only(args.task, cfg.num_envs, steps=200)
    us = lambda x: 1e6 * x / steps  # noqa: E731
    if hasattr(algo, "buffer"):
        print(f"algorithm={args.algorithm} task={args.task} num_envs={cfg.num_envs} updates_per_episode={cfg.updates_per_episode} "
              f"batch_episodes={cfg.batch_episodes} torch_threads={cfg.torch_threads}")
    else:
        print(f"algorithm={args.algorithm} task={args.task} num_envs={cfg.num_envs} rollout={algo.T}x{cfg.num_envs} "
              f"ppo_epochs={cfg.ppo_epochs} chunk={cfg.chunk_length} minibatches={cfg.num_minibatches} "
              f"precision={cfg.precision} torch_threads={cfg.torch_threads}")
    print(f"env only (random actions, {cfg.num_envs} envs): {env_sps:,.0f} joint steps/s")
    print(f"per joint env step: env {us(env_time[0]):.1f} us, acting+storage {us(t_collect - env_time[0]):.1f} us, "
          f"update {us(t_update):.1f} us")
    print(f"shares: env {env_time[0] / total:.0%}, acting {(t_collect - env_time[0]) / total:.0%}, "
          f"update {t_update / total:.0%}")
    print(f"steps_per_s={sps:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
