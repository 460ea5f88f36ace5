"""Aggregate arms across tasks with rliable (Agarwal et al. 2021), as the paper-style summary of all maps: per arm,
the IQM, mean, median and optimality gap (distance below a normalised score of 1) of the final score with 95%
stratified-bootstrap CIs (runs resampled within each task), the probability of improvement over a baseline arm,
and score distributions (performance profiles: the fraction of runs whose final score exceeds tau). Each task's score
is its declared metric normalised by its fixed bounds (``--score``, as in aggregate_runs.py), so tasks with wins and
tasks without aggregate on one scale that does not depend on the arms present.

An arm enters only if it ran on every task given, with the same number of runs on each. An arm whose
demonstrations come from a different expert checkpoint on each task (``step_overrides``) is one arm here, labelled
"demos at per-map checkpoints".

    python workflow/scripts/aggregate_across_tasks.py --out-dir results/experiments/aggregate --reps 2000 --seed 0 \\
        --final-window 3 --baseline ippo --score smax/3m=test_win_rate:0:1 --score smax/3s_vs_4z=test_win_rate:0:1 \
        results/arms/smax/*/*/*/seed*
"""
from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import latex  # noqa: E402
from report_pages import provenance  # noqa: E402
from aggregate_runs import (label_of, parse_demo, read_runs, score_arrays, seeded_intervals,  # noqa: E402
                            stats_parser)
from algorithms import registry  # noqa: E402
from algorithms.common.runio import atomic_write_text  # noqa: E402

TAUS = np.linspace(0.0, 1.0, 51)
METRICS = ("iqm", "mean", "median", "optimality_gap")


def merge_per_map_steps(table: pd.DataFrame) -> pd.DataFrame:
    """Relabel an arm (arm, expert, style) that has exactly one demonstration checkpoint per task, differing across
    tasks, as one arm with per-map checkpoints."""
    table = table.copy()
    demo_rows = table[table.demo != "none"]
    if demo_rows.empty:
        return table
    parts = demo_rows.demo.map(parse_demo)
    key = demo_rows.arm + "|" + parts.map(lambda p: f"{p[0]}|{p[1]}")
    for _, g in demo_rows.groupby(key):
        steps_per_task = g.groupby("task").demo.nunique()
        if (steps_per_task == 1).all() and g.demo.nunique() > 1 and len(steps_per_task) == table.task.nunique():
            table.loc[g.index, "label"] = [label_of(a, d, at="per-map checkpoints") for a, d in zip(g.arm, g.demo)]
    return table


def task_matrices(table: pd.DataFrame, final_window: int) -> tuple[dict[str, np.ndarray], list[str], list[str]]:
    """label -> final scores [runs, tasks] for the labels on every task with equal run counts; the tasks; the
    labels left out."""
    tasks = sorted(table.task.unique())
    per_task = {t: score_arrays(table[table.task == t], final_window) for t in tasks}
    labels = list(dict.fromkeys(table.label))
    out, left_out = {}, []
    for label in labels:
        cols = [per_task[t][label][0][:, 0] for t in tasks if label in per_task[t]]
        if len(cols) != len(tasks) or len({len(c) for c in cols}) != 1:
            left_out.append(label)
            continue
        out[label] = np.stack(cols, axis=1)
    return out, tasks, left_out


def main(argv=None) -> int:
    parser = stats_parser(__doc__)
    args = parser.parse_args(argv)
    from rliable import library as rly
    from rliable import metrics

    table, _ = read_runs(args.runs, dict(args.score))
    table = merge_per_map_steps(table)
    scores, tasks, left_out = task_matrices(table, args.final_window)
    base = registry.display(args.baseline)
    if base not in scores:
        parser.exit(2, f"error: the baseline arm {args.baseline} did not run on every task {tasks}\n")
    if left_out:
        print(f"left out (not on every task {tasks} with equal runs): {left_out}")

    agg = lambda x: np.array([metrics.aggregate_iqm(x), metrics.aggregate_mean(x), metrics.aggregate_median(x),  # noqa: E731
                              metrics.aggregate_optimality_gap(x, 1.0)])
    point, ci = seeded_intervals(scores, agg, args.reps, args.seed)
    pairs = {f"{k},{base}": (v, scores[base]) for k, v in scores.items() if k != base}
    p_poi, ci_poi = seeded_intervals(pairs, metrics.probability_of_improvement, args.reps, args.seed)
    profiles, profile_cis = {}, {}
    for label, value in scores.items():
        np.random.seed(args.seed)  # rliable ignores random_state: seed numpy's global RNG, per label
        p, c = rly.create_performance_profile({label: value}, TAUS, reps=args.reps)
        profiles[label], profile_cis[label] = p[label], c[label]

    arms = table.drop_duplicates("label").set_index("label")
    rows = []
    for label in scores:
        row = {"label": label, "arm": arms.loc[label, "arm"], "execution": arms.loc[label, "execution"],
               "demo": arms.loc[label, "demo"], "tasks": len(tasks),
               "runs_per_task": scores[label].shape[0]}
        for i, m in enumerate(METRICS):
            row[m], row[f"{m}_ci_low"], row[f"{m}_ci_high"] = point[label][i], ci[label][0, i], ci[label][1, i]
        key = f"{label},{base}"
        poi = (float(np.ravel(p_poi[key])[0]), *np.ravel(ci_poi[key])) if key in p_poi else (np.nan, np.nan, np.nan)
        row["poi_vs_baseline"], row["poi_ci_low"], row["poi_ci_high"] = poi
        rows.append(row)
    summary = pd.DataFrame(rows)
    prof = pd.DataFrame([{"label": label, "tau": tau, "fraction": profiles[label][j],
                          "ci_low": profile_cis[label][0, j], "ci_high": profile_cis[label][1, j]}
                         for label in scores for j, tau in enumerate(TAUS)])
    args.out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out_dir / "summary.csv", summary.to_csv(index=False))
    atomic_write_text(args.out_dir / "profiles.csv", prof.to_csv(index=False))
    buf = io.StringIO()
    cols = ["label", "iqm", "iqm_ci_low", "iqm_ci_high", "optimality_gap", "optimality_gap_ci_low",
            "optimality_gap_ci_high", "poi_vs_baseline", "poi_ci_low", "poi_ci_high"]
    summary[cols].to_latex(buf, index=False, float_format="%.3f", label="tab:aggregate", escape=True,
                           caption=latex.text(
                               f"Final normalised score across {len(tasks)} tasks ({', '.join(tasks)}), "
                               f"{summary.runs_per_task.min()} runs per task: IQM and optimality gap with 95% "
                               f"stratified-bootstrap CIs ({args.reps} resamples); PoI = probability of "
                               f"improvement over {base}. Computed with {provenance()}."))
    atomic_write_text(args.out_dir / "summary.tex", buf.getvalue())
    print(summary[["label", "iqm", "iqm_ci_low", "iqm_ci_high", "optimality_gap", "poi_vs_baseline"]]
          .to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
