"""rliable aggregation: intervals contain their point estimates, results are reproducible from the seed, and a
clearly better arm gets a probability of improvement near 1."""
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow" / "scripts"))
import aggregate_across_tasks  # noqa: E402
import aggregate_runs  # noqa: E402


def fake_run(root: Path, arm: str, demo: str, seed: int, level: float, task: str = "smax/3m",
             absolute: bool = True) -> Path:
    run = root / task / arm / demo / f"seed{seed}"
    run.mkdir(parents=True)
    rng = np.random.default_rng(seed + int(level * 100))
    steps = np.arange(0, 60_000, 10_000)
    win = np.clip(level * steps / steps[-1] + rng.normal(0, 0.05, len(steps)), 0, 1)
    pd.DataFrame({"env_steps": steps, "test_win_rate": win}).to_csv(run / "metrics.csv", index=False)
    if absolute:  # the final policy on 10x the episodes: near its last evaluations
        (run / "absolute.json").write_text(json.dumps({"test_win_rate": float(win[-2:].mean()), "test_return": 1.0,
                                                       "episodes": 320}))
    meta = {"algorithm": "imitation" if arm.startswith(("dm2", "bc_")) else arm, "arm": arm,
            "config": {"seed": seed, "task": task}, "task_spec": {"has_win": not task.startswith("mpe/")}}
    if arm != "ippo":
        meta["demonstrations"] = {"expert_greedy_win_rate": 0.5, "sampled_win_rate": 0.4}
    (run / "config.yaml").write_text(yaml.safe_dump(meta))
    return run


def test_aggregate_properties(tmp_path):
    runs = [fake_run(tmp_path, "ippo", "none", s, 0.3) for s in range(5)]
    runs += [fake_run(tmp_path, "dm2", "demos-ippo-cotrained_concurrent-100000", s, 0.9) for s in range(5)]
    args = ["--reps", "300", "--seed", "0", "--final-window", "2", "--baseline", "ippo",
            "--score", "smax/3m=test_win_rate:0:1", *map(str, runs)]
    aggregate_runs.main(["--out-dir", str(tmp_path / "a"), *args])
    aggregate_runs.main(["--out-dir", str(tmp_path / "b"), *args])
    a = pd.read_csv(tmp_path / "a" / "summary.csv")
    pd.testing.assert_frame_equal(a, pd.read_csv(tmp_path / "b" / "summary.csv"))  # seeded bootstrap
    for point, lo, hi in [("iqm_final_score", "final_ci_low", "final_ci_high"), ("iqm_auc", "auc_ci_low", "auc_ci_high")]:
        assert (a[lo] <= a[point]).all() and (a[point] <= a[hi]).all()
    assert (a.absolute_ci_low <= a.iqm_absolute_score).all() and (a.iqm_absolute_score <= a.absolute_ci_high).all()
    assert (a.absolute_episodes == 320).all()
    dm2 = a[a.arm == "dm2"].iloc[0]
    assert dm2.iqm_absolute_score > a[a.arm == "ippo"].iloc[0].absolute_ci_high
    assert dm2.label == "DM² (IPPO demos at 100k; co-trained + concurrent)" and "," not in dm2.label
    assert (dm2.demo_expert, dm2.demo_style, dm2.demo_step) == ("ippo", "cotrained_concurrent", 100000)
    assert dm2.poi_vs_baseline > 0.95 and dm2.poi_ci_low <= dm2.poi_vs_baseline <= dm2.poi_ci_high
    assert np.isnan(a[a.arm == "ippo"].iloc[0].poi_vs_baseline) and dm2.baseline == "IPPO"
    assert dm2.execution == "decentralized" and a[a.arm == "ippo"].iloc[0].metric == "test_win_rate"
    curves = pd.read_csv(tmp_path / "a" / "curves.csv")
    assert (curves.ci_low <= curves.iqm_score + 1e-12).all() and (curves.iqm_score <= curves.ci_high + 1e-12).all()
    tex = (tmp_path / "a" / "summary.tex").read_text()
    assert tex.startswith("\\begin{table}")
    assert all(name in tex for name in ("git commit", "torch", "jax", "jaxmarl", "rliable 1.2.0"))  # provenance


def test_across_tasks_stratified_and_complete(tmp_path):
    """Arms on every task enter the aggregate (an arm missing a task is left out); a clearly better arm has the
    higher IQM, the lower optimality gap and a PoI near 1; performance profiles fall from 1 towards 0 with tau."""
    runs = []
    for task, shift in [("smax/3m", 0.0), ("smax/3s_vs_4z", -0.2)]:
        runs += [fake_run(tmp_path, "ippo", "none", s, 0.4 + shift, task) for s in range(4)]
        runs += [fake_run(tmp_path, "dm2", "demos-ippo-cotrained_concurrent-100000", s, 0.95 + shift, task)
                 for s in range(4)]
        # demonstrations from a different expert checkpoint per map (step_overrides): one arm across maps
        step = 100000 if task == "smax/3m" else 300000
        runs += [fake_run(tmp_path, "bc_dm2", f"demos-ippo-cotrained_concurrent-{step}", s, 0.6, task) for s in range(4)]
    runs += [fake_run(tmp_path, "mappo", "none", s, 0.9, "smax/3m") for s in range(4)]  # one task only
    out = tmp_path / "agg"
    aggregate_across_tasks.main(["--out-dir", str(out), "--reps", "300", "--seed", "0", "--final-window", "2",
                                 "--baseline", "ippo", "--score", "smax/3m=test_win_rate:0:1",
                                 "--score", "smax/3s_vs_4z=test_win_rate:0:1", *map(str, runs)])
    summary = pd.read_csv(out / "summary.csv").set_index("arm")
    assert list(summary.index) == ["ippo", "dm2", "bc_dm2"] and (summary.tasks == 2).all()
    assert summary.loc["bc_dm2", "label"] == "BC+DM² (IPPO demos at per-map checkpoints; co-trained + concurrent)"
    assert summary.loc["dm2", "iqm"] > summary.loc["ippo", "iqm"]
    assert summary.loc["dm2", "optimality_gap"] < summary.loc["ippo", "optimality_gap"]
    assert summary.loc["dm2", "poi_vs_baseline"] > 0.95 and np.isnan(summary.loc["ippo", "poi_vs_baseline"])
    for m in ("iqm", "optimality_gap"):
        assert ((summary[f"{m}_ci_low"] <= summary[m]) & (summary[m] <= summary[f"{m}_ci_high"])).all()
    prof = pd.read_csv(out / "profiles.csv")
    for _, g in prof.groupby("label"):
        assert g.fraction.iloc[0] == 1.0 and g.fraction.is_monotonic_decreasing and g.fraction.iloc[-1] == 0.0


def test_a_run_given_twice_is_refused(tmp_path):
    run = fake_run(tmp_path, "ippo", "none", 0, 0.5)
    with pytest.raises(ValueError, match="IPPO seed 0 on smax/3m is given more than once"):
        aggregate_runs.read_runs([run, run], {"smax/3m": ("test_win_rate", 0.0, 1.0)})


def test_scores_are_normalised_by_fixed_bounds_not_by_the_arms(tmp_path):
    """A task without wins is scored by its return, normalised by its declared random and reference scores: the same
    run gets the same normalised score whichever other arms are in the table."""
    def return_run(arm, seed, level):
        run = fake_run(tmp_path, arm, "none", seed, 0.0, "mpe/spread_3")
        df = pd.read_csv(run / "metrics.csv")
        df["test_return"] = -50.0 + 30.0 * level * df.env_steps / df.env_steps.max()  # -50 .. -50 + 30 level
        df.to_csv(run / "metrics.csv", index=False)
        return run
    ippo = [return_run("ippo", s, 0.5) for s in range(3)]
    mappo = [return_run("mappo", s, 1.0) for s in range(3)]
    score = ["--score", "mpe/spread_3=test_return:-50:-20"]
    common = ["--reps", "200", "--seed", "0", "--final-window", "1", "--baseline", "ippo", *score]
    aggregate_runs.main(["--out-dir", str(tmp_path / "alone"), *common, *map(str, ippo)])
    aggregate_runs.main(["--out-dir", str(tmp_path / "both"), *common, *map(str, ippo + mappo)])
    alone = pd.read_csv(tmp_path / "alone" / "summary.csv").set_index("arm")
    both = pd.read_csv(tmp_path / "both" / "summary.csv").set_index("arm")
    assert alone.loc["ippo", "iqm_final_score"] == pytest.approx(0.5)  # (-35 + 50) / 30
    assert both.loc["ippo", "iqm_final_score"] == pytest.approx(0.5) and both.loc["mappo", "iqm_final_score"] == 1.0
    assert (both.metric == "test_return").all()
    assert both.loc["ippo", "iqm_final_raw"] == pytest.approx(-35.0) and both.loc["mappo", "iqm_final_raw"] == -20.0
    assert (both.score_random == -50.0).all() and (both.score_reference == -20.0).all()
    with pytest.raises(ValueError, match="task mpe/spread_3 has no --score"):
        aggregate_runs.read_runs(ippo, {"smax/3m": ("test_win_rate", 0.0, 1.0)})
    # the runs log a test_win_rate column, but MPE has no win condition: no win rate is reported, none can score
    assert both.final_win_rate_mean.isna().all() and both.final_win_rate_std.isna().all()
    with pytest.raises(ValueError, match="mpe/spread_3 has no win condition, so its score cannot be test_win_rate"):
        aggregate_runs.read_runs(ippo, {"mpe/spread_3": ("test_win_rate", 0.0, 1.0)})


def test_cesma_table_fractions_of_the_expert_and_steps_to_reach_it(tmp_path):
    """Arms taught by an expert record its greedy score (CESMA); the table divides every arm's final score by it and
    finds the first evaluation where an arm's IQM curve reaches 95% of it; LaTeX specials are escaped."""
    import expert_fraction_table

    runs = [fake_run(tmp_path, "ippo", "none", s, 0.3) for s in range(5)]
    for s in range(5):
        run = fake_run(tmp_path, "cesma", "expert-central_ppo-100000", s, 0.9)
        meta = yaml.safe_load((run / "config.yaml").read_text())
        meta["expert"] = {"algorithm": "central_ppo", "greedy": {"test_win_rate": 0.8, "test_return": 5.0}}
        (run / "config.yaml").write_text(yaml.safe_dump(meta))
        runs.append(run)
    aggregate_runs.main(["--out-dir", str(tmp_path / "agg"), "--reps", "300", "--seed", "0", "--final-window", "2",
                         "--baseline", "ippo", "--score", "smax/3m=test_win_rate:0:1", *map(str, runs)])
    summary = pd.read_csv(tmp_path / "agg" / "summary.csv").set_index("arm")
    assert summary.loc["cesma", "expert_score"] == 0.8 and np.isnan(summary.loc["ippo", "expert_score"])
    expert_fraction_table.main(["--reach", "0.95", "--out-csv", str(tmp_path / "c.csv"), "--out-tex", str(tmp_path / "c.tex"),
                      str(tmp_path / "agg" / "summary.csv")])
    table = pd.read_csv(tmp_path / "c.csv").set_index("arm")
    assert (table.expert_score == 0.8).all() and (table.expert_training_steps == 100000).all()
    np.testing.assert_allclose(table.fraction_of_expert, summary.loc[table.index, "iqm_final_score"] / 0.8)
    assert (table.fraction_ci_low <= table.fraction_of_expert).all()
    curves = pd.read_csv(tmp_path / "agg" / "curves.csv")
    taught = curves[curves.label == summary.loc["cesma", "label"]]
    first = taught[taught.iqm_score >= 0.95 * 0.8].env_steps.min()
    assert table.loc["cesma", "steps_to_reach"] == first <= 50_000  # it reaches 0.9 by the last evaluation
    assert np.isnan(table.loc["ippo", "steps_to_reach"])  # IPPO (0.3) never reaches 0.76
    tex = (tmp_path / "c.tex").read_text()
    assert "95\\%" in tex and "smax/3m" in tex and " 95%" not in tex


def test_absolute_metric_needs_every_run(tmp_path):
    """An arm with a run that recorded no absolute metric (absolute_eval_factor 0, or an older run) gets none: the
    IQM of the runs that have one would be another statistic."""
    runs = [fake_run(tmp_path, "ippo", "none", s, 0.3, absolute=s != 1) for s in range(3)]
    runs += [fake_run(tmp_path, "mappo", "none", s, 0.6) for s in range(3)]
    aggregate_runs.main(["--out-dir", str(tmp_path / "a"), "--reps", "200", "--seed", "0", "--final-window", "2",
                         "--baseline", "ippo", "--score", "smax/3m=test_win_rate:0:1", *map(str, runs)])
    a = pd.read_csv(tmp_path / "a" / "summary.csv").set_index("arm")
    assert np.isnan(a.loc["ippo", "iqm_absolute_score"]) and a.loc["ippo", "absolute_episodes"] == 0
    assert 0.3 < a.loc["mappo", "iqm_absolute_score"] <= 1


def test_marl_eval_export_matches_its_documented_schema(tmp_path):
    """marl-eval's raw-data JSON (its README's structure; the library cannot be installed beside rliable's pandas):
    env -> task -> algorithm -> run -> step_i {step_count, metric lists} and absolute_metrics, with what its
    DiagnoseData checks (same algorithms per task, same runs, same steps, same metrics) found clean; a gap is
    named."""
    import marl_eval_export

    scores = []
    for task in ("smax/3m", "smax/3s_vs_4z"):
        runs = [fake_run(tmp_path, arm, demo, s, level, task) for s in range(3)
                for arm, demo, level in (("ippo", "none", 0.3), ("dm2", "demos-ippo-cotrained_concurrent-100000", 0.8))]
        out = tmp_path / "agg" / task
        aggregate_runs.main(["--out-dir", str(out), "--reps", "100", "--seed", "0", "--final-window", "2",
                             "--baseline", "ippo", "--score", f"{task}=test_win_rate:0:1", *map(str, runs)])
        scores.append(out / "scores.csv")
    marl_eval_export.main(["--out", str(tmp_path / "marl_eval.json"), *map(str, scores)])
    data = json.loads((tmp_path / "marl_eval.json").read_text())
    assert list(data) == ["smax"] and sorted(data["smax"]) == ["3m", "3s_vs_4z"]
    dm2 = data["smax"]["3s_vs_4z"]["DM² (IPPO demos at 100k; co-trained + concurrent)"]
    assert sorted(dm2) == ["run_0", "run_1", "run_2"]
    run = dm2["run_1"]
    assert [k for k in run if k != "absolute_metrics"] == [f"step_{i}" for i in range(6)]
    assert run["step_5"]["step_count"] == 50_000 and isinstance(run["step_5"]["win_rate"], list)
    table = pd.read_csv(scores[1])
    last = table[(table.arm == "dm2") & (table.seed == 1)].sort_values("eval_index").iloc[-1]
    assert run["step_5"]["win_rate"] == [last.test_win_rate]  # the evaluation's mean, as its one value
    assert run["absolute_metrics"]["win_rate"] == [last.absolute_win_rate] and "step_count" not in \
        run["absolute_metrics"]
    assert marl_eval_export.format_problems(data) == []
    del data["smax"]["3m"]["IPPO"]  # an algorithm missing on one task
    data["smax"]["3s_vs_4z"]["IPPO"]["run_0"]["step_0"]["return"] = [float("nan")]
    problems = " ".join(marl_eval_export.format_problems(data))
    assert "different algorithms" in problems and "not lists of finite numbers" in problems
