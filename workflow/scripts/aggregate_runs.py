"""Aggregate one experiment's runs on one task with rliable: per arm, IQM of the final score and of the area under
the score curve with stratified-bootstrap 95% CIs, probability of improvement over a baseline arm,
sample-efficiency curves (IQM with CI at every evaluation), and the IQM of the absolute metric (each run's final
policy on 10x the evaluation episodes, ``absolute.json``) with its CI. The score is the task's declared metric
(SMAX: greedy test win rate; MPE: greedy test return) normalised by fixed bounds, (score - random) / (reference -
random), given with ``--score TASK=METRIC:RANDOM:REFERENCE`` (the workflow passes config ``scores``); never by the
arms present.
Writes a tidy long table of every evaluation and the tables as CSV and LaTeX.

    python workflow/scripts/aggregate_runs.py --out-dir results/experiments/ablation/smax/3m --reps 2000 --seed 0 \
        --final-window 3 --baseline ippo --score smax/3m=test_win_rate:0:1 results/arms/smax/3m/*/*/seed*
"""
from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import latex  # noqa: E402
from report_pages import provenance  # noqa: E402
from algorithms import registry  # noqa: E402
from algorithms.common.runio import atomic_write_text  # noqa: E402
from algorithms.demos import STYLE_NAMES  # noqa: E402


def parse_demo(run_input: str) -> tuple[str, str, int]:
    """A run folder's input id (``registry.parse_input``) -> (expert learner, style, checkpoint step); style "" for
    an expert checkpoint."""
    parsed = registry.parse_input(run_input)
    if parsed[0] == "none":
        raise ValueError(f"{run_input!r} is not a demonstrations or expert input id")
    return parsed[1:] if parsed[0] == "demos" else (parsed[1], "", parsed[2])


def parse_score(text: str) -> tuple[str, tuple[str, float, float]]:
    """TASK=METRIC:RANDOM:REFERENCE -> (task, (metric, random, reference))."""
    try:
        task, rest = text.split("=", 1)
        metric, low, high = rest.rsplit(":", 2)
        bounds = (metric, float(low), float(high))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--score {text!r}: expected TASK=METRIC:RANDOM:REFERENCE") from None
    if bounds[1] == bounds[2]:
        raise argparse.ArgumentTypeError(f"--score {text!r}: random and reference must differ")
    return task, bounds


def steps_text(step: int) -> str:
    return f"{step / 1e6:g}M" if step >= 1e6 else f"{step / 1e3:g}k"


def label_of(arm: str, demo: str, at: str | None = None) -> str:
    """An arm's name in tables and figures; ``at`` replaces the input's checkpoint step."""
    name = registry.display(arm)
    if demo == "none":
        return name
    expert, style, step = parse_demo(demo)
    at = at or steps_text(step)
    if not style:
        return f"{name} ({registry.display(expert)} expert at {at})"
    return f"{name} ({registry.display(expert)} demos at {at}; {STYLE_NAMES.get(style, style)})"


# what the imitation arms log of their training episodes (algorithms/imitation.py, EPISODE_STATS) and the weighted
# imitation reward per living agent-step, each summarised over the final window as mean and std over seeds: where
# a reward transform pays agents to live long or to die, it shows here
TRAINING_EPISODE_COLUMNS = ["imitation_per_step", "episode_imitation_reward", "episode_length", "episode_deaths"]


def read_runs(run_dirs: list[Path], scores: dict[str, tuple[str, float, float]]) -> tuple[pd.DataFrame, dict]:
    """Every evaluation of every run (task, arm, input, label, execution mode, seed, env steps, raw and normalised
    score), and the demonstrations' metadata per input id. ``scores``: task -> (metric, random, reference)."""
    rows, demo_meta = [], {}
    for run in run_dirs:
        meta = yaml.safe_load((run / "config.yaml").read_text())
        arm = meta.get("arm") or meta["algorithm"]
        demo = run.parent.name
        task = meta["config"]["task"]
        if task not in scores:
            raise ValueError(f"{run}: task {task} has no --score (its metric and bounds); given: {sorted(scores)}")
        metric, low, high = scores[task]
        # a task without a win condition (MPE) logs a win rate of 0 that means nothing: it is blanked, not reported
        has_win = bool(meta.get("task_spec", {}).get("has_win", True))
        if metric == "test_win_rate" and not has_win:
            raise ValueError(f"{run}: task {task} has no win condition, so its score cannot be test_win_rate "
                             f"(use test_return)")
        df = pd.read_csv(run / "metrics.csv")
        # the absolute metric (the final policy on 10x the evaluation episodes), where the run recorded it
        absolute = json.loads((run / "absolute.json").read_text()) if (run / "absolute.json").exists() else {}
        absolute_raw = np.nan if absolute.get(metric) is None else absolute[metric]
        if "demonstrations" in meta:
            demo_meta[demo] = meta["demonstrations"]
        if "greedy" in (meta.get("expert") or {}):  # a run taught by an expert (CESMA) records the expert's score
            demo_meta[demo] = {"expert_greedy": meta["expert"]["greedy"]}
        execution = registry.ARMS[arm].mode if arm in registry.ARMS else ""
        cfg = meta["config"]  # the imitation reward's weight in the agents' reward: c (mixed) or 1 (imitation alone)
        weight = cfg.get("gail_coef", 1.0) if cfg.get("reward") == "mixed" else 1.0
        for i, r in enumerate(df.itertuples()):
            raw = getattr(r, metric)
            rows.append({"task": task, "arm": arm, "demo": demo, "label": label_of(arm, demo),
                         "execution": execution, "seed": meta["config"]["seed"], "eval_index": i,
                         "env_steps": r.env_steps, "metric": metric, "raw_score": raw,
                         "score": (raw - low) / (high - low),  # and the raw return and win rate, where logged
                         "test_return": getattr(r, "test_return", np.nan),
                         "test_win_rate": getattr(r, "test_win_rate", np.nan) if has_win else np.nan,
                         "has_win": has_win, "absolute_score": (absolute_raw - low) / (high - low),
                         "absolute_episodes": absolute.get("episodes", 0),
                         "absolute_return": np.nan if absolute.get("test_return") is None else absolute["test_return"],
                         "absolute_win_rate": (np.nan if absolute.get("test_win_rate") is None or not has_win
                                               else absolute["test_win_rate"]),
                         # imitation arms: the last update's training episodes (TRAINING_EPISODE_COLUMNS)
                         "imitation_per_step": weight * getattr(r, "gail_reward_mean", np.nan),
                         **{c: getattr(r, c, np.nan) for c in TRAINING_EPISODE_COLUMNS[1:]}})
    table = pd.DataFrame(rows)
    twice = table[table.eval_index == 0].duplicated(["task", "label", "seed"])
    if twice.any():
        dup = table[table.eval_index == 0][twice].iloc[0]
        raise ValueError(f"run {dup.label} seed {dup.seed} on {dup.task} is given more than once")
    return table, demo_meta


def seeded_intervals(data: dict, func, reps: int, seed: int) -> tuple[dict, dict]:
    """rliable's point estimates and stratified-bootstrap CIs, one label at a time with numpy's global RNG seeded
    before each (rliable ignores random_state), so a label's interval does not depend on the other labels."""
    from rliable import library as rly

    points, cis = {}, {}
    for key, value in data.items():
        np.random.seed(seed)
        p, c = rly.get_interval_estimates({key: value}, func, reps=reps)
        points[key], cis[key] = p[key], c[key]
    return points, cis


def score_arrays(table: pd.DataFrame, final_window: int):
    """label -> (final scores [runs, 1], AUC scores [runs, 1], curves [runs, 1, points], env steps [points]). Each
    arm on the evaluation grid its runs share (learners evaluate at slightly different steps: PPO per update, QMIX
    per collect)."""
    out = {}
    for label, g in table.groupby("label", sort=False):
        n_points = g.groupby("seed").eval_index.max().min() + 1
        g = g[g.eval_index < n_points]
        curves = np.stack([s.sort_values("eval_index").score.to_numpy() for _, s in g.groupby("seed")])
        final = curves[:, -final_window:].mean(1)
        auc = curves.mean(1)  # area under the normalised score curve, per unit of training
        steps = g.groupby("eval_index").env_steps.median().to_numpy()
        out[label] = (final[:, None], auc[:, None], curves[:, None, :], steps)
    return out


def absolute_arrays(table: pd.DataFrame) -> dict:
    """label -> the runs' normalised absolute scores [runs, 1] (NaN for a run that did not record one)."""
    return {label: g.groupby("seed").absolute_score.first().to_numpy()[:, None]
            for label, g in table.groupby("label", sort=False)}


def final_raw(table: pd.DataFrame, label: str, column: str, final_window: int) -> tuple[float, float]:
    """The mean and standard deviation over seeds (ddof 0: these seeds, as the papers' "±") of each seed's mean of
    ``column`` over its last ``final_window`` evaluations, on the grid its seeds share (as ``score_arrays``)."""
    g = table[table.label == label]
    g = g[g.eval_index < g.groupby("seed").eval_index.max().min() + 1]
    per_seed = g.sort_values("eval_index").groupby("seed")[column].apply(lambda x: x.tail(final_window).mean())
    return float(per_seed.mean()), float(per_seed.std(ddof=0))


def stats_parser(doc: str) -> argparse.ArgumentParser:
    """The arguments every aggregation takes: where to write, bootstrap size and seed, final window, run folders."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--reps", type=int, required=True, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, required=True, help="numpy's global seed before every rliable call")
    parser.add_argument("--final-window", type=int, required=True, help="final score = mean of the last N evals")
    parser.add_argument("--baseline", required=True, help="the arm of the probability of improvement, e.g. ippo")
    parser.add_argument("--score", type=parse_score, action="append", required=True,
                        help="TASK=METRIC:RANDOM:REFERENCE, once per task: its score and fixed bounds")
    parser.add_argument("runs", type=Path, nargs="+", help="run folders (config.yaml, metrics.csv)")
    return parser


def main(argv=None) -> int:
    args = stats_parser(__doc__).parse_args(argv)
    from rliable import metrics

    table, demo_meta = read_runs(args.runs, dict(args.score))
    scores = score_arrays(table, args.final_window)
    base = registry.display(args.baseline)
    iqm = lambda x: np.array([metrics.aggregate_iqm(x)])  # noqa: E731

    def interval(data: dict, func):
        return seeded_intervals(data, func, args.reps, args.seed)

    p_final, ci_final = interval({k: v[0] for k, v in scores.items()}, iqm)
    p_auc, ci_auc = interval({k: v[1] for k, v in scores.items()}, iqm)
    absolute = {k: a for k, a in absolute_arrays(table).items() if not np.isnan(a).any()}  # every run has it
    p_abs, ci_abs = interval(absolute, iqm)
    pairs = ({f"{k},{base}": (v[0], scores[base][0]) for k, v in scores.items() if k != base}
             if base in scores else {})  # an experiment without the baseline (the quality sweep) has no PoI column
    p_poi, ci_poi = interval(pairs, metrics.probability_of_improvement) if pairs else ({}, {})
    curve_fn = lambda x: np.array([metrics.aggregate_iqm(x[..., j]) for j in range(x.shape[-1])])  # noqa: E731
    p_curve, ci_curve = interval({k: v[2] for k, v in scores.items()}, curve_fn)

    flat = lambda est: {k: np.ravel(v) for k, v in est.items()}  # noqa: E731  scalar or array -> 1-D
    p_poi = flat(p_poi)
    ci_poi = {k: np.reshape(v, (2, -1)) for k, v in ci_poi.items()}
    summary, curves = [], []
    for label in scores:
        first = table[table.label == label].iloc[0]
        _, low, high = dict(args.score)[first.task]
        # IQM and percentile CIs commute with an increasing affine map: the raw score's IQM is the normalised one
        # mapped back (reference above random; a reversed pair maps back just as well, with the CI ends swapped)
        raw = lambda x: low + x * (high - low)  # noqa: E731
        meta = demo_meta.get(first.demo, {})
        poi_key = f"{label},{base}"
        expert, style, step = parse_demo(first.demo) if first.demo != "none" else ("", "", np.nan)
        summary.append({
            "task": first.task, "label": label, "arm": first.arm, "execution": first.execution, "demo": first.demo,
            "demo_expert": expert, "demo_style": style, "demo_step": step, "runs": len(scores[label][0]),
            "metric": first.metric, "score_random": low, "score_reference": high,
            "iqm_final_score": p_final[label][0], "final_ci_low": ci_final[label][0, 0],
            "final_ci_high": ci_final[label][1, 0], "iqm_final_raw": raw(p_final[label][0]),
            "iqm_auc": p_auc[label][0], "auc_ci_low": ci_auc[label][0, 0], "auc_ci_high": ci_auc[label][1, 0],
            "iqm_absolute_score": p_abs[label][0] if label in p_abs else np.nan,
            "absolute_ci_low": ci_abs[label][0, 0] if label in ci_abs else np.nan,
            "absolute_ci_high": ci_abs[label][1, 0] if label in ci_abs else np.nan,
            "absolute_episodes": int(table[table.label == label].groupby("seed").absolute_episodes.first().min()),
            "baseline": base, "poi_vs_baseline": p_poi[poi_key][0] if poi_key in p_poi else np.nan,
            "poi_ci_low": ci_poi[poi_key][0, 0] if poi_key in ci_poi else np.nan,
            "poi_ci_high": ci_poi[poi_key][1, 0] if poi_key in ci_poi else np.nan,
            "demo_expert_greedy_win_rate": meta.get("expert_greedy_win_rate", np.nan) if first.has_win else np.nan,
            "demo_sampled_win_rate": meta.get("sampled_win_rate", np.nan) if first.has_win else np.nan,
            # the expert that taught the arm (CESMA): its greedy score on the task's metric, raw and normalised
            "expert_raw_score": meta.get("expert_greedy", {}).get(first.metric, np.nan),
            "expert_score": (meta.get("expert_greedy", {}).get(first.metric, np.nan) - low) / (high - low),
            # the raw episode return and win rate over the final window: mean and std over seeds (MILD²'s Table 1)
            **dict(zip(["final_return_mean", "final_return_std"],
                       final_raw(table, label, "test_return", args.final_window))),
            **dict(zip(["final_win_rate_mean", "final_win_rate_std"],
                       final_raw(table, label, "test_win_rate", args.final_window))),
            "demo_expert_greedy_return": meta.get("expert_greedy_return", np.nan),
            "demo_sampled_return": meta.get("sampled_return", np.nan),
            **{f"train_{c}_{s}": v for c in TRAINING_EPISODE_COLUMNS
               for s, v in zip(["mean", "std"], final_raw(table, label, c, args.final_window))},
        })
        for j, step in enumerate(scores[label][3]):
            curves.append({"label": label, "eval_index": j, "env_steps": step, "iqm_score": p_curve[label][j],
                           "ci_low": ci_curve[label][0, j], "ci_high": ci_curve[label][1, j]})
    summary, curves = pd.DataFrame(summary), pd.DataFrame(curves)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out_dir / "scores.csv", table.to_csv(index=False))
    atomic_write_text(args.out_dir / "summary.csv", summary.to_csv(index=False))
    atomic_write_text(args.out_dir / "curves.csv", curves.to_csv(index=False))
    cols = ["label", "execution", "runs", "iqm_final_score", "final_ci_low", "final_ci_high", "iqm_auc", "auc_ci_low",
            "auc_ci_high", "poi_vs_baseline", "poi_ci_low", "poi_ci_high"]
    buf = io.StringIO()
    summary[cols].to_latex(buf, index=False, float_format="%.3f", escape=True,
                           caption=latex.text(
                               f"IQM and 95% stratified-bootstrap CIs ({args.reps} resamples); final score = mean "
                               f"normalised {table.metric.iloc[0]} over the last {args.final_window} evaluations; "
                               f"PoI = probability of improvement over {base}. Computed with {provenance()}."),
                           label="tab:" + str(table.task.iloc[0]).replace("/", "-"))
    atomic_write_text(args.out_dir / "summary.tex", buf.getvalue())
    print(json.dumps(summary[["label", "iqm_final_score", "final_ci_low", "final_ci_high", "poi_vs_baseline"]]
                     .to_dict("records"), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
