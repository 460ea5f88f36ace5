"""One experiment's runs in marl-eval's raw-data JSON (Gorsane et al. 2022, the format of instadeepai/marl-eval's
README, "Data Structure for Raw Experiment data"), so that they load into the tools other MARL benchmarks use:

    {env: {task: {algorithm: {run_<seed>: {step_<i>: {"step_count": int, "return": [..], "win_rate": [..]},
                                           "absolute_metrics": {"return": [..], "win_rate": [..]}}}}}}

env is the backend (``smax``, ``mpe``), task the map, algorithm the run's label in our tables (arm and
demonstrations), one ``step_<i>`` per greedy evaluation. Each metric list holds **one value, the evaluation's mean**
over its episodes: the runs keep no per-episode values, and marl-eval reduces every list to its mean before any
statistic, so its aggregates are the same. ``absolute_metrics`` is the final policy on 10x the evaluation episodes
(``absolute.json``), exported where every run of the experiment has it (otherwise the runs' step counts would
differ). An env whose runs log no win rate (MPE: no win condition) has no ``win_rate``. An arm with one demonstration checkpoint per map
is one algorithm with per-map checkpoints (as in the cross-task aggregate), and arms evaluated once (BC alone, no
env steps) are left out: marl-eval would cut every run to their single step.

marl-eval itself (id-marl-eval 0.0.4) pins pandas 1.4.4 and cannot be installed beside rliable's pandas >= 2.2, so
``format_problems`` checks what its ``DiagnoseData`` checks (per env: the same algorithms on every task, the same
number of runs per algorithm and task, the same number of steps per run, the same metrics at every step), and the
export refuses to write a file that fails them.

    python workflow/scripts/marl_eval_export.py --out results/experiments/main_results/marl_eval.json \\
        results/experiments/main_results/smax/3m/scores.csv results/experiments/main_results/smax/3s_vs_4z/scores.csv
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from algorithms.common.runio import atomic_write_text  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from aggregate_across_tasks import merge_per_map_steps  # noqa: E402

METRICS = {"return": ("test_return", "absolute_return"), "win_rate": ("test_win_rate", "absolute_win_rate")}


def export(scores: pd.DataFrame) -> dict:
    """Every evaluation of ``scores`` (``aggregate_runs.py``'s scores.csv rows, one experiment) in marl-eval's
    nesting."""
    scores = merge_per_map_steps(scores)
    evaluations = scores.groupby(["task", "label", "seed"]).eval_index.max() + 1
    once = sorted(set(evaluations[evaluations == 1].index.get_level_values("label")))
    if once and (evaluations > 1).any():
        print(f"left out (evaluated once, no learning curve): {once}", file=sys.stderr)
        scores = scores[~scores.label.isin(once)]
    with_absolute = bool((scores.absolute_episodes > 0).all()) if "absolute_episodes" in scores else False
    envs = scores.task.str.split("/").str[0]
    # per env, the metrics its runs logged (a task without wins logs no win rate)
    logged = {env: {m: cols for m, cols in METRICS.items() if scores.loc[envs == env, cols[0]].notna().any()}
              for env in envs.unique()}
    data: dict = {}
    for (task, label, seed), run in scores.groupby(["task", "label", "seed"], sort=False):
        env, name = task.split("/", 1)
        metrics = logged[env]
        run = run.sort_values("eval_index")
        steps = {f"step_{i}": {"step_count": int(r.env_steps), **{m: [float(getattr(r, c))] for m, (c, _) in
                                                                    metrics.items()}}
                 for i, r in enumerate(run.itertuples())}
        if with_absolute:
            steps["absolute_metrics"] = {m: [float(run[a].iloc[0])] for m, (_, a) in metrics.items()}
        data.setdefault(env, {}).setdefault(name, {}).setdefault(label, {})[f"run_{int(seed)}"] = steps
    return data


def format_problems(data: dict) -> list[str]:
    """What marl-eval's ``DiagnoseData`` would find wrong (it warns and keeps the common part; we refuse)."""
    problems = []
    for env, tasks in data.items():
        algorithms = {task: sorted(algos) for task, algos in tasks.items()}
        if len({tuple(a) for a in algorithms.values()}) > 1:
            problems.append(f"{env}: the tasks have different algorithms: {algorithms}")
        runs = {(task, algo): len(r) for task, algos in tasks.items() for algo, r in algos.items()}
        if len(set(runs.values())) > 1:
            problems.append(f"{env}: different numbers of runs: {runs}")
        steps = {(task, algo, run): len(s) for task, algos in tasks.items() for algo, r in algos.items()
                 for run, s in r.items()}
        if len(set(steps.values())) > 1:
            problems.append(f"{env}: different numbers of steps: {steps}")
        metric_sets = {tuple(sorted(set(values) - {"step_count"})) for algos in tasks.values() for r in algos.values()
                       for s in r.values() for values in s.values()}
        if len(metric_sets) > 1:
            problems.append(f"{env}: different metrics across steps: {sorted(metric_sets)}")
        for task, algos in tasks.items():
            for algo, r in algos.items():
                for run, s in r.items():
                    for step, values in s.items():
                        bad = [m for m, v in values.items() if m != "step_count" and
                               (not isinstance(v, list) or not all(np.isfinite(v)))]
                        if bad or (step != "absolute_metrics" and not isinstance(values.get("step_count"), int)):
                            problems.append(f"{env}/{task}/{algo}/{run}/{step}: metrics {bad} are not lists of "
                                            f"finite numbers, or step_count is missing")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("scores", type=Path, nargs="+", help="the experiment's per-task scores.csv")
    args = parser.parse_args(argv)
    data = export(pd.concat([pd.read_csv(p) for p in args.scores], ignore_index=True))
    problems = format_problems(data)
    if problems:
        raise SystemExit(f"marl-eval format, {len(problems)} problems: " + "; ".join(problems[:5]))
    atomic_write_text(args.out, json.dumps(data, indent=1) + "\n")
    print(f"{args.out}: {sum(len(r) for t in data.values() for a in t.values() for r in a.values())} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
