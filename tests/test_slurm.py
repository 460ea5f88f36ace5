"""The workflow on a real Slurm cluster: a one-node cluster brought up on this machine (tests/slurm/cluster.sh:
Debian's slurm-wlm and munge, no accounting database), a small target run through the shipped profiles as the
README says, every job checked to have run under Slurm, then a training job cancelled mid-run: the rerun resumes it
(ending exactly like an uninterrupted run) and reruns nothing that had finished.

Skipped, with the reason, where the machine cannot host the cluster (not root, no packages); in CI (CI=true) it must
run. Every wait is bounded: the failure mode of a cluster workflow is a hang."""
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from workflow_helpers import copy_workflow, planned_jobs
import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
IN_CI = os.environ.get("CI", "").lower() == "true"
TARGET = "mpe_spread"  # a figure by its name (figures/quick/mpe_spread.pdf under the quick config)
FIGURE = "figures/quick/mpe_spread.pdf"
# the README's cluster command for a cluster without accounting (targets first; --configfile=FILE last)
PROFILES = ["--workflow-profile", "profiles/slurm", "--profile", "profiles/slurm-squeue"]


def cannot(reason: str):
    if IN_CI:
        pytest.fail(f"CI=true, but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        cannot("the Slurm executor plugin is not installed (pip install -e '.[slurm]')")
    if not sys.platform.startswith("linux"):
        cannot("the local Slurm cluster needs Linux")
    folder = tmp_path_factory.mktemp("slurm")
    t0 = time.monotonic()
    up = subprocess.run(["bash", str(ROOT / "tests" / "slurm" / "cluster.sh"), "up", str(folder)],
                        capture_output=True, text=True, timeout=600)
    if up.returncode != 0:
        subprocess.run(["bash", str(ROOT / "tests" / "slurm" / "cluster.sh"), "down", str(folder)], timeout=120)
        if up.returncode == 3:
            cannot(up.stderr.strip())
        pytest.fail(up.stdout + up.stderr)
    bring_up_s = time.monotonic() - t0
    env = {**os.environ, "SLURM_CONF": str(folder / "etc" / "slurm" / "slurm.conf")}
    try:
        yield {"env": env, "bring_up_s": bring_up_s, "folder": folder}
    finally:
        subprocess.run(["bash", str(ROOT / "tests" / "slurm" / "cluster.sh"), "down", str(folder)], timeout=120)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    work = tmp_path_factory.mktemp("wf_slurm")
    copy_workflow(work)
    quick = yaml.safe_load((ROOT / "config" / "quick.yaml").read_text())
    # long enough (about 7 s of training each) that a job can be cancelled mid-run, between two evaluations
    quick["arms"]["total_env_steps"] = 24576
    (work / "config" / "quick.yaml").write_text(yaml.safe_dump(quick, sort_keys=False))
    return work


def snakemake(workdir, env, *args, timeout=900, background=False):
    cmd = [*SNAKEMAKE, TARGET, *PROFILES, *args, "--configfile=config/quick.yaml"]
    if background:
        return subprocess.Popen(cmd, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
    return subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout)


def slurm_jobs(env) -> dict[int, dict]:
    """Every job squeue still knows (MinJobAge): id -> state, start, end."""
    out = subprocess.run(["squeue", "-h", "--states=all", "-o", "%i|%T|%S|%e"], env=env, capture_output=True,
                         text=True, timeout=60, check=True).stdout
    jobs = {}
    for line in out.splitlines():
        jid, state, start, end = line.split("|")
        jobs[int(jid)] = {"state": state, "start": start, "end": end}
    return jobs


def submitted_ids(text: str) -> list[int]:
    return [int(x) for x in re.findall(r"submitted with SLURM jobid (\d+)", text)]




def seconds(stamp: str) -> float:
    return time.mktime(time.strptime(stamp, "%Y-%m-%dT%H:%M:%S"))


def test_workflow_on_slurm_cancel_and_resume(cluster, workdir, report):
    env = cluster["env"]
    results = workdir / "results" / "quick"
    runs = sorted((results / "arms" / "mpe" / "spread_3").glob("*/none/seed*"))
    assert not runs
    t0 = time.monotonic()

    # 1. run the target through the cluster profiles; cancel one training job once it has evaluated twice
    first = snakemake(workdir, env, "--retries", "0", background=True)
    victim_dir = results / "arms" / "mpe" / "spread_3" / "ippo" / "none" / "seed0"
    victim_id = None
    deadline = time.monotonic() + 600
    while victim_id is None:
        assert first.poll() is None, "snakemake ended before the training job could be cancelled:\n" + \
            first.stdout.read()
        assert time.monotonic() < deadline, "the training job never reached its second evaluation"
        progress = victim_dir / "progress.csv"
        if progress.exists() and len(pd.read_csv(progress)) >= 2:
            victim_id = int(re.search(r"Slurm job (\d+)", (victim_dir / "train.log").read_text()).group(1))
            break
        time.sleep(0.5)
    subprocess.run(["scancel", str(victim_id)], env=env, check=True, timeout=60)
    try:
        out1 = first.communicate(timeout=900)[0]
    except subprocess.TimeoutExpired:
        first.kill()
        pytest.fail("snakemake hung after the cancelled job:\n" + first.communicate()[0])
    assert first.returncode != 0, out1  # one job failed (it was cancelled), the others finished (keep-going)
    log = (victim_dir / "train.log").read_text()
    assert f"Slurm job {victim_id}" in log and "stopped by signal 15" in log, log
    assert (victim_dir / "resume.pt").exists() and not (victim_dir / "metrics.csv").exists()
    stopped_at = int(re.search(r"stopped by signal 15 at (\d+) env steps", log).group(1))

    # 2. the rerun plans only the cancelled run and what depends on it ...
    dry = snakemake(workdir, env, "-n")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert planned_jobs(dry.stdout + dry.stderr) == {"train_arm": 1, "aggregate_experiment": 1,
                                                     "plot_mpe_spread": 1, "mpe_spread": 1}, dry.stdout
    # ... and resumes it where it stopped
    # (the README's way to give a partition: on the command line, never in the repository's profile)
    second = snakemake(workdir, env, "--default-resources", "slurm_partition=debug")
    out2 = second.stdout + second.stderr
    assert second.returncode == 0, out2
    total_s = time.monotonic() - t0
    assert (workdir / FIGURE).read_bytes()[:4] == b"%PDF"
    assert f"resumed at {stopped_at} env steps" in (victim_dir / "train.log").read_text()
    again = snakemake(workdir, env, "-n")
    assert "Nothing to be done" in again.stdout + again.stderr

    # every job ran under Slurm: each submission has a Slurm id that squeue reports COMPLETED (the cancelled one
    # CANCELLED), and each training run's log names the Slurm job it ran in
    ids = submitted_ids(out1) + submitted_ids(out2)
    # the 6 runs (3 arms x 2 seeds; their aggregate waits for the cancelled one); then it, the aggregate and the figure
    assert len(submitted_ids(out1)) == 6 and len(submitted_ids(out2)) == 3, (out1, out2)
    jobs = slurm_jobs(env)
    assert {jobs[i]["state"] for i in ids if i != victim_id} == {"COMPLETED"}
    assert jobs[victim_id]["state"] == "CANCELLED"
    runs = sorted((results / "arms" / "mpe" / "spread_3").glob("*/none/seed*"))
    assert len(runs) == 6
    for run in runs:
        named = {int(x) for x in re.findall(r"Slurm job (\d+)", (run / "train.log").read_text())}
        assert named and named <= set(ids), run

    # the resumed run ends exactly like an uninterrupted one (trained here, outside Slurm)
    resolved = yaml.safe_load((victim_dir / "config.yaml").read_text())["config"]
    ref = workdir / "uninterrupted"
    out = subprocess.run([sys.executable, "-m", "algorithms.ippo", "--run-dir", str(ref), "--no-progress",
                          "--set-json", json.dumps(resolved)], cwd=workdir, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    timing = ["wall_time", "steps_per_s"]
    pd.testing.assert_frame_equal(pd.read_csv(ref / "metrics.csv").drop(columns=timing),
                                  pd.read_csv(victim_dir / "metrics.csv").drop(columns=timing))

    # per-job overhead: a training job's time in Slurm minus the time its command took (Snakemake's benchmark)
    overheads = []
    for run in runs:
        for jid in {int(x) for x in re.findall(r"Slurm job (\d+)", (run / "train.log").read_text())} - {victim_id}:
            bench = workdir / "benchmarks" / "quick" / run.relative_to(results).with_suffix(".tsv")
            command_s = float(bench.read_text().splitlines()[1].split("\t")[0])
            overheads.append(seconds(jobs[jid]["end"]) - seconds(jobs[jid]["start"]) - command_s)
    report(f"Slurm: cluster up in {cluster['bring_up_s']:.1f} s; {len(ids)} jobs ran under Slurm (ids "
           f"{min(ids)}-{max(ids)}); training job {victim_id} cancelled at {stopped_at} env steps, resumed there "
           f"by the rerun, which ran only it, its aggregate and its figure; resumed metrics equal an uninterrupted "
           f"run; per-job overhead of the training jobs {sum(overheads) / len(overheads):.1f} s "
           f"(min {min(overheads):.0f}, max {max(overheads):.0f}); total {total_s:.0f} s")
