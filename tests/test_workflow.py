"""The Snakemake workflow on the quick config: dry run, a full run that writes the figure, nothing to redo after,
and a changed hyperparameter replans exactly the jobs that depend on it."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from workflow_helpers import copy_workflow, planned_jobs
import yaml

from algorithms.common.runio import load_checkpoint
from algorithms.demos import load_demos

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow" / "scripts"))
import marl_eval_export  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
OPTIONS = ["--cores", "2", "--configfile=config/quick.yaml"]  # the README's form: it cannot swallow a target


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    work = tmp_path_factory.mktemp("wf")
    copy_workflow(work)
    return work


def snakemake(workdir, *args):
    out = subprocess.run([*SNAKEMAKE, *args, *OPTIONS], cwd=workdir, capture_output=True, text=True, timeout=2400)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout + out.stderr




def quick_config() -> dict:
    return yaml.safe_load((ROOT / "config" / "quick.yaml").read_text())


def write_config(workdir, quick: dict) -> None:
    (workdir / "config" / "quick.yaml").write_text(yaml.safe_dump(quick, sort_keys=False))


FIGURES = ["ablation", "ablation_summary", "main_results", "gail_reward", "bc_pretraining", "demo_quality",
           "state_action", "terminal_handling", "aggregate", "magail", "magail_generator", "mpe_spread",
           "cesma_decentralization", "cesma_buffer", "cesma_smax", "cesma_communication", "mild2", "mild2_reward_hist",
           "mild2_dloss"]


def test_dry_run_full_run_and_rerun_triggers(workdir):
    # the default target (the README's main command): every figure and table of the paper; experts ->
    # demonstrations -> arms -> rliable -> figures
    plan = planned_jobs(snakemake(workdir, "-n"))
    assert plan == {"all": 1, "train_expert": 8, "sample_demonstrations": 11, "train_arm": 90,
                    "aggregate_experiment": 16, "marl_eval_export": 15, "aggregate_across_tasks": 1,
                    "results_table": 1,
                    "hyperparameter_tables": 1, "expert_fraction_table": 1, "mild2_table": 1, "claims": 1,
                    "plot_mild2": 1, "plot_mild2_dloss": 1, "plot_mild2_reward_hist": 1, "results_table_page": 1,
                    "hyperparameters_table_page": 1, "software_versions": 1, "plot_ablation": 1,
                    "plot_main_results": 1, "plot_gail_reward": 1,
                    "plot_bc_pretraining": 1, "plot_demo_quality": 1, "plot_state_action": 1,
                    "plot_terminal_handling": 1, "plot_aggregate": 1,
                    "plot_magail": 1, "plot_magail_generator": 1, "plot_mpe_spread": 1,
                    "plot_cesma_decentralization": 1, "plot_cesma_buffer": 1, "plot_cesma_smax": 1,
                    "plot_cesma_communication": 1}
    snakemake(workdir)
    for fig in FIGURES:
        assert (workdir / "figures" / "quick" / f"{fig}.pdf").read_bytes()[:4] == b"%PDF", fig
    out = workdir / "results" / "quick"  # the quick config's outputs never mix with another config's
    assert sorted(p.name for p in (workdir / "results").iterdir()) == ["quick"]
    experiments = out / "experiments"
    summary = (experiments / "ablation" / "smax" / "3m" / "summary.csv").read_text()
    assert "IPPO" in summary and "GAIL-only" in summary and summary.count("DM² (IPPO demos") == 8
    assert (experiments / "ablation" / "smax" / "3m" / "summary.tex").read_text().startswith("\\begin{table}")
    main = pd.read_csv(experiments / "main_results" / "smax" / "3s_vs_4z" / "summary.csv")
    assert list(main.arm) == ["ippo", "mappo", "qmix", "dm2", "dm2", "dm2_sil"]
    assert sorted(main.demo_expert.dropna()) == ["ippo", "qmix"] and (main.runs == 2).all()
    # the QMIX demonstrations on 3s_vs_4z were sampled with that map's epsilon, and say so
    meta = load_demos(out / "demos/smax/3s_vs_4z/qmix/cotrained_concurrent_step2048.npz").metadata
    assert meta["epsilon"] == 0.1 and meta["sampling_mode"] == "epsilon_greedy" and 0 <= meta["sampled_win_rate"] <= 1
    # the imitation arms' training episodes, summarised with the scores (NaN for arms without an imitation reward)
    terminal = pd.read_csv(experiments / "terminal_handling" / "smax" / "3m" / "summary.csv").set_index("arm")
    assert list(terminal.index) == ["ippo", "dm2", "dm2_reference", "dm2_absorbing", "gail_only",
                                    "gail_only_reference", "gail_only_absorbing"]
    assert terminal.loc["dm2_absorbing", ["train_episode_length_mean", "train_imitation_per_step_mean"]].notna().all()
    assert terminal.loc["gail_only", "train_episode_deaths_mean"] <= 1
    assert np.isnan(terminal.loc["ippo", "train_episode_length_mean"])
    # marl-eval's raw-data format: every run of the experiment, its evaluations and its absolute metric
    exported = json.loads((experiments / "main_results" / "marl_eval.json").read_text())
    assert marl_eval_export.format_problems(exported) == [] and sorted(exported["smax"]) == ["3m", "3s_vs_4z"]
    ippo_runs = exported["smax"]["3m"]["IPPO"]
    assert sorted(ippo_runs) == ["run_0", "run_1"] and ippo_runs["run_0"]["step_0"]["step_count"] == 0
    assert set(ippo_runs["run_0"]["absolute_metrics"]) == {"return", "win_rate"}
    assert "win_rate" not in json.loads((experiments / "mpe_spread" / "marl_eval.json").read_text())["mpe"][
        "spread_3"]["IPPO"]["run_0"]["step_0"]  # no win condition on MPE
    # across tasks: the main arms on both tasks, with the IPPO baseline's PoI left empty
    agg = pd.read_csv(experiments / "aggregate" / "summary.csv")
    assert len(agg) == 6 and (agg.tasks == 2).all() and agg.poi_vs_baseline.isna().sum() == 1
    assert ((agg.iqm_ci_low <= agg.iqm) & (agg.iqm <= agg.iqm_ci_high)).all()
    results = pd.read_csv(out / "tables" / "results.csv")
    assert "magail_cent_mappo" in (out / "report" / "results.html").read_text()
    assert "torch" in (out / "report" / "software_versions.html").read_text()
    # every arm of every experiment on every one of its tasks, each once: on 3m the ablation's 10, then MAPPO, QMIX,
    # DM² with QMIX demonstrations, DM²+SIL, BC+IPPO, BC+DM², the state-action discriminator, the three MAGAIL arms,
    # MAGAIL on MAPPO's generator (the quality sweep's runs are the ablation's), IQL and CESMA taught by the VDN expert
    # (cesma_smax), MAT, BC and the three MAT-generator imitation arms (mild2); on 3s_vs_4z the 6 main arms
    assert len(results[results.task == "smax/3m"]) == 32 and len(results[results.task == "smax/3s_vs_4z"]) == 6
    # the paper's claims, computed: one row per claim and task of its experiment (C1, C6a and C6b on both main tasks)
    claims = pd.read_csv(out / "tables" / "claims.csv")
    assert list(claims.id) == ["C1", "C1", "C2a", "C2b", "C3", "C4", "C5a", "C5b", "C6a", "C6a", "C6b", "C6b"]
    assert set(claims.verdict) <= {"reproduced", "contradicted", "inconclusive"} and (claims.seeds_run == 2).all()
    assert ((claims.poi_ci_low <= claims.poi) & (claims.poi <= claims.poi_ci_high)).all()
    assert claims.versus[claims.id == "C5a"].iloc[0] == "DM² (IPPO demos at 1.024k; co-trained + concurrent)"
    assert "| C3: the GAIL reward alone fails" in (out / "tables" / "claims.md").read_text()
    # MILD²'s table: the expert whose demonstrations the arms read, then every arm of its experiment; its rewards
    mild2 = pd.read_csv(out / "tables" / "mild2.csv")
    assert list(mild2.arm) == ["expert", "demonstrations", "mat", "magail_cent", "magail_mat", "mild2_gd", "mild2",
                               "bc"]
    assert list(mild2.execution.fillna("")) == ["", "", "centralized sequential",
                                                "decentralized; centralized training (joint discriminator)",
                                                "centralized sequential; joint discriminator",
                                                "centralized sequential", "centralized sequential; joint discriminator",
                                                "decentralized"]
    assert np.isfinite(mild2.final_return_mean).all() and (mild2.runs.iloc[2:] == 2).all()
    # the quick config's cap of 200 joint transitions binds, and BC and the MAT arms learn from the same steps
    runs = out / "arms" / "smax" / "3m"
    demos = "demos-ippo-cotrained_concurrent-2048"
    bc_run = yaml.safe_load((runs / "bc" / demos / "seed0" / "config.yaml").read_text())
    assert bc_run["behaviour_cloning"]["bc_transitions"] == 200 and bc_run["config"]["total_env_steps"] == 0
    for arm in ("magail_mat", "mild2_gd", "mild2"):
        run = yaml.safe_load((runs / arm / demos / "seed0" / "config.yaml").read_text())
        assert run["demonstrations"]["expert_transitions"] == 200, arm
    rewards = pd.read_csv(out / "tables" / "mild2_rewards.csv")
    assert sorted(set(rewards.arm)) == ["magail_mat", "mild2", "mild2_gd"] and (rewards.rewards > 0).all()
    assert (rewards.snapshot_env_steps == 2048).all() and (rewards.variance > 0).all()
    # MAGAIL's three discriminators, labelled with their execution mode; MPE scored by its normalised return
    magail = pd.read_csv(experiments / "magail" / "smax" / "3m" / "summary.csv").set_index("arm")
    assert list(magail.index) == ["ippo", "dm2", "magail_dec", "magail_cent", "magail_single"]
    assert magail.loc["magail_cent", "execution"] == "decentralized; centralized training (joint discriminator)"
    assert magail.loc["magail_dec", "execution"] == "decentralized"
    generator = pd.read_csv(experiments / "magail_generator" / "smax" / "3m" / "summary.csv").set_index("arm")
    assert list(generator.index) == ["magail_cent", "magail_cent_mappo"]
    assert generator.loc["magail_cent_mappo", "execution"] == "CTDE; joint discriminator"
    spread = pd.read_csv(experiments / "mpe_spread" / "mpe" / "spread_3" / "summary.csv")
    assert list(spread.arm) == ["ippo", "mappo", "central_ppo"] and (spread.metric == "test_return").all()
    assert spread.set_index("arm").loc["central_ppo", "execution"] == "centralized"
    scores = pd.read_csv(experiments / "mpe_spread" / "mpe" / "spread_3" / "scores.csv")
    bounds = quick_config()["scores"]["tasks"]["mpe/spread_3"]
    expected = (scores.raw_score - bounds["random"]) / (bounds["reference"] - bounds["random"])
    assert np.allclose(scores.score, expected) and len(results[results.task == "mpe/spread_3"]) == 5
    # CESMA: its learners act decentralized on the labels of a centralized expert, its checkpoint their input
    cesma = pd.read_csv(experiments / "cesma_buffer" / "mpe" / "spread_3" / "summary.csv").set_index("arm")
    assert list(cesma.index) == ["cesma", "cesma_per_agent_buffer"] and (cesma.runs == 2).all()
    assert (cesma.execution == "decentralized; labels of a centralized expert").all()
    assert (cesma.demo == "expert-central_ppo-2048").all()
    # the expert's greedy score (its level in the figure): the same for both arms it teaches, none for IPPO
    assert np.isfinite(cesma.expert_score).all() and cesma.expert_raw_score.nunique() == 1
    decentralization = pd.read_csv(experiments / "cesma_decentralization" / "mpe" / "spread_3" / "summary.csv")
    assert decentralization.set_index("arm").expert_score.isna().loc[["ippo", "mappo", "central_ppo"]].all()
    run = yaml.safe_load((out / "arms/mpe/spread_3/cesma_per_agent_buffer/expert-central_ppo-2048/seed1/config.yaml")
                         .read_text())
    assert run["config"]["buffer"] == "per_agent" and run["expert"]["algorithm"] == "central_ppo"
    assert run["config"]["expert"].endswith("experts/central_ppo/mpe/spread_3/seed100/checkpoints/step_2048.pt")
    # CESMA's table: every arm of its experiment against the expert's score (an expert of 2048 steps is usually no
    # better than random: then its fractions are left empty and the table says why)
    # On SMAX (cesma_smax) the expert is the centralized VDN and the learners the shared recurrent network.
    table = pd.read_csv(out / "tables" / "cesma.csv")
    mpe_arms = [("mpe/spread_3", a) for a in ("ippo", "mappo", "central_ppo", "cesma")]
    comm_arms = [("mpe/speaker_listener", a) for a in ("cesma", "cesma_no_comm_loss")]
    assert list(zip(table.task, table.arm)) == mpe_arms + [("smax/3m", "iql"), ("smax/3m", "cesma")] + comm_arms
    assert list(table.expert) == ["central_ppo"] * 4 + ["central_vdn"] * 2 + ["central_ppo"] * 2
    assert (table.expert_training_steps == 2048).all()
    for _, cesma_table in table.groupby("task"):
        if cesma_table.expert_score.iloc[0] > 0:
            assert np.isfinite(cesma_table.fraction_of_expert).all()
        else:
            assert cesma_table.fraction_of_expert.isna().all()
            assert "expert not above random" in (out / "tables" / "cesma.tex").read_text()
    smax_run = yaml.safe_load((out / "arms/smax/3m/cesma/expert-central_vdn-2048/seed0/config.yaml").read_text())
    assert smax_run["config"]["network"] == "shared_rnn" and smax_run["config"]["k"] == 20
    iql = pd.read_csv(experiments / "cesma_smax" / "smax" / "3m" / "summary.csv").set_index("arm").loc["iql"]
    assert iql.execution == "decentralized; one Q-network shared by all agents"
    # the communication variant (Alg. 2): its expert acts on the task's physical view, the ablation trains no message
    talk = pd.read_csv(experiments / "cesma_communication" / "mpe" / "speaker_listener" / "summary.csv")
    assert list(talk.arm) == ["cesma", "cesma_no_comm_loss"] and (talk.metric == "test_return").all()
    silent = yaml.safe_load((out / "arms/mpe/speaker_listener/cesma_no_comm_loss/expert-central_ppo-2048/seed0/"
                             "config.yaml").read_text())
    assert silent["config"]["comm_loss"] is False and silent["expert"]["algorithm"] == "central_ppo"
    expert_spec = load_checkpoint(out / "experts/central_ppo/mpe/speaker_listener/seed100/final_model.pt")["spec"]
    assert expert_spec["obs_dim"] == 8 and expert_spec["comm"] is None  # the physical view
    assert "Nothing to be done" in snakemake(workdir, "-n")
    # the report: every figure and table of the run with its caption from the config, in one offline HTML file
    snakemake(workdir, "--report", "results/quick/report.html")
    page = (out / "report.html").read_text()
    for name in [*FIGURES, "results.html", "hyperparameters.html", "software_versions.html"]:
        assert name in page, name
    assert "MAGAIL, centralized discriminator: IPPO generator against MAPPO generator" in page  # a config title
    # the baselines' learning curves: IPPO, MAPPO, QMIX, MAT x 2 seeds
    curve = "learning_curves"  # a figure by its name, the same under every config
    assert planned_jobs(snakemake(workdir, "-n", curve)) == {"plot_learning_curves": 1, "train_baseline": 8,
                                                             "learning_curves": 1}
    snakemake(workdir, curve)
    assert (workdir / "figures" / "quick" / "learning_curves.pdf").read_bytes()[:4] == b"%PDF"
    for algo in ("ippo", "mappo", "qmix", "mat"):
        for seed in (0, 1):
            run = out / algo / "smax" / "3m" / f"seed{seed}"
            assert (run / "metrics.csv").exists() and (run / "config.yaml").exists()
            resolved = yaml.safe_load((run / "config.yaml").read_text())
            assert resolved["config"]["seed"] == seed and resolved["algorithm"] == algo
    assert "Nothing to be done" in snakemake(workdir, "-n", curve)
    target = "figures/quick/ablation.pdf"  # a figure by its file
    quick = yaml.safe_load((workdir / "config" / "quick.yaml").read_text())
    # QMIX's demonstration epsilon (3m; 3s_vs_4z has its own) -> the QMIX demonstrations on 3m, the DM² runs that
    # learn from them, and what aggregates them; nothing of IPPO's demonstrations, no expert, no other arm
    quick["demos"]["sampling"]["qmix"]["epsilon"] = 0.05
    write_config(workdir, quick)
    assert planned_jobs(snakemake(workdir, "-n")) == {
        "sample_demonstrations": 1, "train_arm": 2, "aggregate_experiment": 1, "marl_eval_export": 1,
        "aggregate_across_tasks": 1,
        "plot_main_results": 1, "plot_aggregate": 1, "results_table": 1, "hyperparameter_tables": 1, "all": 1,
        "results_table_page": 1, "hyperparameters_table_page": 1, "claims": 1}
    quick["demos"]["sampling"]["qmix"]["epsilon"] = 0.0
    # a per-map budget -> that map's arm runs (main_results on 3s_vs_4z) and what aggregates them; nothing on 3m, no
    # expert, no demonstrations
    quick["arms"]["task_overrides"] = {"smax/3s_vs_4z": {"total_env_steps": 4096}}
    write_config(workdir, quick)
    plan = planned_jobs(snakemake(workdir, "-n"))
    assert plan["train_arm"] == 12 and plan["aggregate_experiment"] == 1 and plan["claims"] == 1, plan
    assert "train_expert" not in plan and "sample_demonstrations" not in plan, plan
    quick["arms"]["task_overrides"] = {}
    # one arm's hyperparameter changed -> only that arm's jobs and what aggregates them
    quick["arms"]["hyperparameters"]["gail_only"] = {"gail_lr": 3.0e-4}
    write_config(workdir, quick)
    assert planned_jobs(snakemake(workdir, "-n", target)) == {"train_arm": 2, "aggregate_experiment": 1,
                                                              "plot_ablation": 1}
    # DM²'s mixing coefficient -> the ablation's 16 DM² runs (GAIL-only does not use it)
    quick["arms"]["hyperparameters"]["gail_only"] = {}
    quick["imitation"]["gail_coef"] = 0.7
    write_config(workdir, quick)
    assert planned_jobs(snakemake(workdir, "-n", target)) == {"train_arm": 16, "aggregate_experiment": 1,
                                                              "plot_ablation": 1}
    # a sampling value changed -> demonstrations and everything downstream of them, not the experts
    quick["imitation"]["gail_coef"] = 0.3
    quick["demos"]["seed"] = 1
    write_config(workdir, quick)
    assert planned_jobs(snakemake(workdir, "-n", target)) == {"sample_demonstrations": 8, "train_arm": 18,
                                                              "aggregate_experiment": 1, "plot_ablation": 1}
    # one hyperparameter changed -> the training jobs that read it and the figure, nothing else
    quick["demos"]["seed"] = 92814
    quick["qmix"]["lr"] = 1.0e-3
    write_config(workdir, quick)
    assert planned_jobs(snakemake(workdir, "-n", curve)) == {"plot_learning_curves": 1, "train_baseline": 2,
                                                             "learning_curves": 1}
    quick["ippo"]["lr"] = 1.0e-3  # MAPPO and MAT read the ippo block too
    write_config(workdir, quick)
    assert planned_jobs(snakemake(workdir, "-n", curve)) == {"plot_learning_curves": 1, "train_baseline": 8,
                                                             "learning_curves": 1}
    # the hyperparameter tables come from the resolved configs: a changed value regenerates them
    table = "results/quick/tables/hyperparameters.tex"
    snakemake(workdir, table)
    assert "GAIL reward coefficient c" in (workdir / table).read_text()
    assert "Nothing to be done" in snakemake(workdir, "-n", table)
    quick["imitation"].setdefault("task_overrides", {})["smax/5m_vs_6m"] = {"gail_coef": 0.25}
    write_config(workdir, quick)
    assert planned_jobs(snakemake(workdir, "-n", table)) == {"hyperparameter_tables": 1}
    snakemake(workdir, table)
    assert "& 0.25 " in (workdir / table).read_text()
    # config errors are reported before any job runs, naming the bad value
    for edit, message in [
            (lambda q: q["ippo"].update(lr="1e-4"), "lr: expected a number, got the string '1e-4'"),
            (lambda q: q["experiments"]["gail_reward"]["runs"].append({"arm": "dm2"}),
             "experiments.gail_reward.runs[3]: arm dm2 consumes demos: give demos, got nothing"),
            (lambda q: q["experiments"]["demo_quality"]["runs"].append(
                {"arm": "dm2", "demos": {"expert": "ippo", "style": "cotrained_concurrent", "step": 1000}}),
             "step 1000 must be a multiple of experts.ippo.checkpoint_interval (1024)"),
            (lambda q: q["experiments"]["magail"]["runs"].append(
                {"arm": "magail_cent", "demos": {"expert": "ippo", "style": "indep_nonconcurrent", "step": 2048}}),
             "arm magail_cent trains a joint discriminator, which needs joint rows: only the concurrent styles"),
            (lambda q: q["experiments"]["mild2"]["runs"].append(
                {"arm": "mild2", "demos": {"expert": "ippo", "style": "cotrained_nonconcurrent", "step": 2048}}),
             "arm mild2 trains a joint discriminator, which needs joint rows: only the concurrent styles"),
            (lambda q: q["mild2_outputs"].update(discriminator_arms=["mild2", "mat"]),
             "mild2_outputs.discriminator_arms: 'mat' has no discriminator (learner mat)"),
            (lambda q: q["mild2_outputs"].update(reward_hist_step=1000),
             "mild2_outputs.reward_hist_step: 1000 is no snapshot of arm magail_mat on smax/3m: snapshots are every"),
            (lambda q: q["experiments"]["magail"]["runs"].append({"arm": "magail_sngle"}),
             "unknown arm 'magail_sngle'; registered arms: ippo, mappo, qmix"),
            (lambda q: q["claims"]["list"]["C3"].update(versus={"arm": "mappo"}),
             "claims.list.C3.versus: mappo/none is not a run of experiment gail_reward on smax/3m; its runs there: "
             "ippo/none, dm2/demos-ippo-cotrained_concurrent-2048"),
            (lambda q: q["claims"]["list"].update(C9={"claim": "x", "experiment": "main_result", "statistic": "auc",
                                                      "expect": "better", "run": {"arm": "mappo"},
                                                      "versus": {"arm": "ippo"}}),
             "claims.list.C9: unknown experiment 'main_result'; allowed: ablation, "),
            (lambda q: q["arms"].update(task_overrides={"smax/3s_vs4z": {"total_env_steps": 4096}}),
             "arms.task_overrides: 'smax/3s_vs4z' is no task of any experiment; tasks: "),
            (lambda q: q["scores"]["tasks"]["mpe/spread_3"].update(reference=-52.61),
             "scores: task mpe/spread_3 has equal random and reference scores (-52.61)")]:
        bad = yaml.safe_load(yaml.safe_dump(quick))
        edit(bad)
        write_config(workdir, bad)
        res = subprocess.run([*SNAKEMAKE, "-n", *OPTIONS], cwd=workdir, capture_output=True, text=True)
        assert res.returncode != 0 and message in res.stdout + res.stderr, res.stdout + res.stderr
