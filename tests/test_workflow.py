"""The Snakemake workflow on the quick config: dry run, a full run that writes the figure, nothing to redo after,
and a changed hyperparameter replans exactly the jobs that depend on it."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
OPTIONS = ["--cores", "2", "--configfile", "config/quick.yaml"]  # last: --configfile takes every word after it


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    work = tmp_path_factory.mktemp("wf")
    for item in ["Snakefile", "workflow", "config", "algorithms", "envs"]:
        src = ROOT / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, work / item)
    return work


def snakemake(workdir, *args):
    out = subprocess.run([*SNAKEMAKE, *args, *OPTIONS], cwd=workdir, capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout + out.stderr


def planned_jobs(text: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run: rule -> count."""
    jobs, in_table = {}, False
    for line in text.splitlines():
        parts = line.split()
        if parts[:2] == ["job", "count"]:
            in_table = True
            continue
        if in_table and len(parts) == 2 and parts[1].isdigit():
            if parts[0] == "total":
                break
            jobs[parts[0]] = int(parts[1])
    return jobs


def test_dry_run_full_run_and_rerun_triggers(workdir):
    # the default target (the README's main command): the DM² ablation, experts -> demonstrations -> arms ->
    # rliable -> figures
    plan = planned_jobs(snakemake(workdir, "-n"))
    assert plan == {"all": 1, "train_expert": 2, "sample_demonstrations": 8, "train_arm": 20,
                    "aggregate_ablation": 1, "plot_ablation": 1}
    snakemake(workdir)
    for fig in ("ablation_quick.pdf", "ablation_summary_quick.pdf"):
        assert (workdir / "figures" / fig).read_bytes()[:4] == b"%PDF"
    summary = (workdir / "results" / "ablation" / "smax" / "3m" / "summary.csv").read_text()
    assert "IPPO" in summary and "GAIL-only" in summary and summary.count("DM²") == 8
    assert (workdir / "results" / "ablation" / "smax" / "3m" / "summary.tex").read_text().startswith("\\begin{table}")
    assert "Nothing to be done" in snakemake(workdir, "-n")
    # the baselines' learning curves: IPPO, MAPPO, QMIX x 2 seeds
    curve = "figures/learning_curves_quick.pdf"
    assert planned_jobs(snakemake(workdir, "-n", curve)) == {"plot_learning_curves": 1, "train_baseline": 6}
    snakemake(workdir, curve)
    assert (workdir / curve).read_bytes()[:4] == b"%PDF"
    for algo in ("ippo", "mappo", "qmix"):
        for seed in (0, 1):
            run = workdir / "results" / algo / "smax" / "3m" / f"seed{seed}"
            assert (run / "metrics.csv").exists() and (run / "config.yaml").exists()
            resolved = yaml.safe_load((run / "config.yaml").read_text())
            assert resolved["config"]["seed"] == seed and resolved["algorithm"] == algo
    assert "Nothing to be done" in snakemake(workdir, "-n", curve)
    target = "figures/ablation_quick.pdf"
    # one arm's hyperparameter changed -> only that arm's jobs and what aggregates them
    quick = yaml.safe_load((workdir / "config" / "quick.yaml").read_text())
    quick["ablation"]["arms"]["hyperparameters"]["gail_only"] = {"gail_lr": 3.0e-4}
    (workdir / "config" / "quick.yaml").write_text(yaml.safe_dump(quick))
    assert planned_jobs(snakemake(workdir, "-n", target)) == {"train_arm": 2, "aggregate_ablation": 1,
                                                              "plot_ablation": 1}
    # DM²'s mixing coefficient -> the 16 DM² runs (GAIL-only does not use it)
    quick["ablation"]["arms"]["hyperparameters"]["gail_only"] = {}
    quick["dm2"]["gail_coef"] = 0.7
    (workdir / "config" / "quick.yaml").write_text(yaml.safe_dump(quick))
    assert planned_jobs(snakemake(workdir, "-n", target)) == {"train_arm": 16, "aggregate_ablation": 1,
                                                              "plot_ablation": 1}
    # a sampling value changed -> demonstrations and everything downstream of them, not the experts
    quick["dm2"]["gail_coef"] = 0.3
    quick["ablation"]["demos"]["seed"] = 1
    (workdir / "config" / "quick.yaml").write_text(yaml.safe_dump(quick))
    assert planned_jobs(snakemake(workdir, "-n", target)) == {"sample_demonstrations": 8, "train_arm": 18,
                                                              "aggregate_ablation": 1, "plot_ablation": 1}
    # one hyperparameter changed -> the training jobs that read it and the figure, nothing else
    quick = yaml.safe_load((workdir / "config" / "quick.yaml").read_text())
    quick["ablation"]["demos"]["seed"] = 92814
    quick["qmix"]["lr"] = 1.0e-3
    (workdir / "config" / "quick.yaml").write_text(yaml.safe_dump(quick))
    assert planned_jobs(snakemake(workdir, "-n", curve)) == {"plot_learning_curves": 1, "train_baseline": 2}
    quick["ippo"]["lr"] = 1.0e-3  # MAPPO reads the ippo block too
    (workdir / "config" / "quick.yaml").write_text(yaml.safe_dump(quick))
    assert planned_jobs(snakemake(workdir, "-n", curve)) == {"plot_learning_curves": 1, "train_baseline": 6}
    # the hyperparameter tables come from the resolved configs: a changed value regenerates them
    table = "results/tables/hyperparameters_quick.tex"
    snakemake(workdir, table)
    assert "GAIL reward coefficient c" in (workdir / table).read_text()
    assert "Nothing to be done" in snakemake(workdir, "-n", table)
    quick["dm2"].setdefault("task_overrides", {})["smax/5m_vs_6m"] = {"gail_coef": 0.25}
    (workdir / "config" / "quick.yaml").write_text(yaml.safe_dump(quick))
    assert planned_jobs(snakemake(workdir, "-n", table)) == {"hyperparameter_tables": 1}
    snakemake(workdir, table)
    assert "& 0.25 " in (workdir / table).read_text()
    # a config error is reported before any job runs
    quick["ippo"]["lr"] = "1e-4"
    (workdir / "config" / "quick.yaml").write_text(yaml.safe_dump(quick))
    out = subprocess.run([*SNAKEMAKE, "-n", *OPTIONS], cwd=workdir, capture_output=True, text=True)
    assert out.returncode != 0 and "lr: expected a number, got the string '1e-4'" in out.stdout + out.stderr
