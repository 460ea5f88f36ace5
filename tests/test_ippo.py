"""IPPO end to end: outputs, reproducibility, resume after a kill, episode-mode accounting, and learning."""
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from algorithms.common.config import resolve
from algorithms.common.runio import load_checkpoint, run_lock
from algorithms.common import trainer
from algorithms.common.trainer import STOPPED_BY_SIGTERM, Stopped
from algorithms.ippo import IPPO, IPPOConfig, train
from run_helpers import train_killed_at_update

SMALL = dict(task="smax/3m", num_envs=16, rollout_length=32, chunk_length=16, ppo_epochs=2, eval_interval=512,
             eval_episodes=8, checkpoint_interval=1024, total_env_steps=1536, torch_threads=1, precision="float32",
             compile="never")
TIMING = ["wall_time", "steps_per_s"]


def small_cfg(**kw):
    return resolve(IPPOConfig, {**SMALL, **kw})


def metrics(run_dir):
    return pd.read_csv(run_dir / "metrics.csv").drop(columns=TIMING)


def test_outputs_reproducibility_and_resume(tmp_path, monkeypatch):
    cfg = small_cfg()
    train(cfg, tmp_path / "a", progress=False)
    a = tmp_path / "a"
    # run folder contents
    resolved = yaml.safe_load((a / "config.yaml").read_text())
    assert resolved["config"]["task"] == "smax/3m" and resolved["algorithm"] == "ippo"
    assert resolved["task_spec"]["n_agents"] == 3 and resolved["config"]["reward_scale"] is None
    m = metrics(a)
    assert m.env_steps.tolist() == [0, 512, 1024, 1536]
    assert {"test_win_rate", "test_return", "train_return", "pg_loss", "value_loss", "entropy"} <= set(m.columns)
    assert sorted(p.name for p in (a / "checkpoints").iterdir()) == ["step_1024.pt"]
    final = load_checkpoint(a / "final_model.pt")
    assert final["env_steps"] == 1536 and final["task"] == "smax/3m"
    assert (a / "train.log").read_text().count("INFO eval ") == 4

    # same seed -> same metrics; another seed -> different
    train(cfg, tmp_path / "b", progress=False)
    pd.testing.assert_frame_equal(m, metrics(tmp_path / "b"))
    train(small_cfg(seed=1), tmp_path / "c", progress=False)
    assert not m.equals(metrics(tmp_path / "c"))

    # killed after its second update, restarted: resumes and ends exactly like the uninterrupted run
    train_killed_at_update(monkeypatch, IPPO, 2, train, cfg, tmp_path / "d", progress=False)
    assert len(pd.read_csv(tmp_path / "d" / "progress.csv")) == 2  # evaluations at 0 and 512 were kept
    assert not (tmp_path / "d" / "metrics.csv").exists()  # the declared output means "done"
    train(cfg, tmp_path / "d", progress=False)
    pd.testing.assert_frame_equal(m, metrics(tmp_path / "d"))
    for k, v in final["model"].items():
        torch.testing.assert_close(load_checkpoint(tmp_path / "d" / "final_model.pt")["model"][k], v)
    assert "resumed at 512 env steps" in (tmp_path / "d" / "train.log").read_text()
    # a finished run keeps no resume state; running it again (e.g. after metrics.csv was deleted) retrains it
    assert not (tmp_path / "d" / "resume.pt").exists() and not (tmp_path / "d" / "progress.csv").exists()
    (tmp_path / "d" / "metrics.csv").unlink()
    train(cfg, tmp_path / "d", progress=False)
    pd.testing.assert_frame_equal(m, metrics(tmp_path / "d"))

    # a different config in the same folder is refused, or restarted on request
    with pytest.raises(RuntimeError, match="different config"):
        train(small_cfg(lr=1e-3), tmp_path / "d", progress=False)
    train(small_cfg(lr=1e-3, total_env_steps=512), tmp_path / "d", progress=False, restart_if_changed=True)
    assert metrics(tmp_path / "d").env_steps.tolist() == [0, 512]


def test_episode_mode_and_rollout_masks():
    cfg = small_cfg(rollout_mode="episodes", num_envs=8, chunk_length=12)
    algo = IPPO(cfg)
    with algo.autocast():
        out = algo.collect()
    buf = algo.buf
    assert len(out["returns"]) == 8  # exactly one episode per env
    lengths = buf.valid.sum(0)
    assert out["steps"] == int(lengths.sum()) and (lengths <= 60).all()
    for n in range(8):
        L = int(lengths[n])
        assert buf.valid[:L, n].all() and not buf.valid[L:, n].any()
        assert buf.dones[L - 1, n]  # the valid part ends with the episode
    # the last-action input is "none" (-1) at every episode start, in acting as in training (no t=0 leak)
    assert (buf.last_action[buf.starts] == -1).all()
    assert buf.starts[0].all()
    # dead agents are not trained on: their steps are alive=False and only "stop" was available
    dead = ~buf.alive & buf.valid.unsqueeze(-1)
    if dead.any():
        assert (buf.actions[dead] == 4).all()
    with algo.autocast():
        stats = algo.update()
    assert all(math.isfinite(v) for v in stats.values())


def test_ippo_learns_3m(tmp_path):
    """Learning test with a real threshold: random play wins 0% of 3m; IPPO must win >= 50% of 32 greedy test
    episodes at some evaluation in its last 50k of 150k steps (it reaches ~0.6-0.8 there; 0.8+ by 2M steps)."""
    cfg = resolve(IPPOConfig, {"task": "smax/3m", "total_env_steps": 150_000, "eval_interval": 25_000,
                               "checkpoint_interval": 150_000})
    rows = train(cfg, tmp_path / "run", progress=False)
    assert rows[0]["test_win_rate"] <= 0.1
    late = [r["test_win_rate"] for r in rows if r["env_steps"] >= 100_000]
    assert max(late) >= 0.5, f"IPPO did not learn 3m: test win rates {[r['test_win_rate'] for r in rows]}"


# 3 updates of 512 steps between evaluations, so a stop can fall between two evaluations
PREEMPTIBLE = dict(SMALL, eval_interval=1536, total_env_steps=4608)


def test_sigterm_between_evaluations_writes_a_resume_point_and_the_rerun_is_exact(tmp_path, monkeypatch):
    cfg = small_cfg(**PREEMPTIBLE)
    train(cfg, tmp_path / "a", progress=False)
    calls = {"n": 0}
    real_update = IPPO.update

    def update_then_sigterm(self):
        calls["n"] += 1
        if calls["n"] == 5:  # the 2nd update after the evaluation at 1536
            signal.raise_signal(signal.SIGTERM)
        return real_update(self)

    monkeypatch.setattr(IPPO, "update", update_then_sigterm)
    with pytest.raises(Stopped, match="at 2560 env steps"):
        train(cfg, tmp_path / "b", progress=False)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is the trainer's only while it trains
    assert load_checkpoint(tmp_path / "b" / "resume.pt")["last_row_steps"] == 1536
    assert not (tmp_path / "b" / "metrics.csv").exists()
    monkeypatch.setattr(IPPO, "update", real_update)
    train(cfg, tmp_path / "b", progress=False)
    assert "resumed at 2560 env steps" in (tmp_path / "b" / "train.log").read_text()
    pd.testing.assert_frame_equal(metrics(tmp_path / "a"), metrics(tmp_path / "b"))  # train stats included


def test_a_run_folder_has_one_trainer(tmp_path):
    with run_lock(tmp_path / "run", wait_s=0):
        with pytest.raises(RuntimeError, match=rf"being trained by pid {os.getpid()} "):
            trainer.train(small_cfg(), tmp_path / "run", False, False, IPPO, lock_wait_s=0.5)
    assert not (tmp_path / "run" / "metrics.csv").exists()


def test_cli_trainer_whose_job_shell_is_killed_stops_and_resumes_exactly(tmp_path):
    """A job's shell killed (its trainer orphaned): the trainer gets SIGTERM from the kernel, writes its resume
    point and exits 143 without metrics.csv; the rerun resumes and ends like an uninterrupted run."""
    import json

    cfg = small_cfg(**dict(PREEMPTIBLE, total_env_steps=30720))
    root = Path(__file__).resolve().parents[1]
    run = tmp_path / "cli"
    cli = [sys.executable, "-m", "algorithms.ippo", "--run-dir", str(run), "--no-progress",
           "--set-json", json.dumps(PREEMPTIBLE | {"total_env_steps": 30720})]
    # the job's shell (not exec'd: it waits for the trainer, as Snakemake's `cmd > log` shell does)
    shell = subprocess.Popen(["bash", "-c", " ".join(f"'{a}'" for a in cli) + "; echo trainer exited $?"],
                             cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 240
    while not ((run / "progress.csv").exists() and len(pd.read_csv(run / "progress.csv")) >= 3):
        assert shell.poll() is None and time.monotonic() < deadline, "the trainer ended or hung before 3 evaluations"
        time.sleep(0.2)
    trainer = int(subprocess.run(["pgrep", "-P", str(shell.pid)], capture_output=True, text=True).stdout.split()[0])
    shell.kill()
    shell.wait()
    deadline = time.monotonic() + 60
    while Path(f"/proc/{trainer}").exists() and "zombie" not in Path(f"/proc/{trainer}/status").read_text():
        assert time.monotonic() < deadline, "the orphaned trainer did not stop"
        time.sleep(0.2)
    log = (run / "train.log").read_text()
    assert "stopped by signal 15" in log and (run / "resume.pt").exists() and not (run / "metrics.csv").exists()
    out = subprocess.run(cli, cwd=root, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "resumed at" in (run / "train.log").read_text()
    train(cfg, tmp_path / "uninterrupted", progress=False)
    pd.testing.assert_frame_equal(metrics(tmp_path / "uninterrupted"), metrics(run))


def test_cli_exits_143_on_sigterm(tmp_path):
    import json

    run = tmp_path / "cli"
    proc = subprocess.Popen([sys.executable, "-m", "algorithms.ippo", "--run-dir", str(run), "--no-progress",
                             "--set-json", json.dumps(PREEMPTIBLE | {"total_env_steps": 30720})],
                            cwd=Path(__file__).resolve().parents[1], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    deadline = time.monotonic() + 240
    while not (run / "progress.csv").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read() if proc.poll() else "hung"
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == STOPPED_BY_SIGTERM
    assert "run again to resume" in proc.stdout.read()


@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("learner", ["ippo", "mappo", "central_ppo"])
def test_grouped_collection_stores_what_the_envs_and_the_policy_did(groups, learner):
    """Stepping the envs in groups (acting on one group while the other steps) stores every step where it belongs:
    replaying the stored actions in fresh, ungrouped envs gives the stored observations, rewards and dones; the
    stored log-probs, values and next hidden states are the policy's at the stored inputs."""
    import envs
    from algorithms import registry

    cls, cfg_cls = registry.learner(learner).learner_cls, registry.learner(learner).config_cls
    algo = cls(resolve(cfg_cls, {**SMALL, "collect_groups": groups, "num_envs": 8}))
    assert algo.env.groups == groups
    with algo.autocast():
        algo.collect()
        buf = algo.buf
        replay = envs.make("smax/3m", num_envs=8, seed=algo.cfg.seed)
        o = replay.reset()
        net = algo.net
        for t in range(algo.T):
            torch.testing.assert_close(buf.obs[t], torch.from_numpy(o.obs), rtol=0, atol=0)
            assert torch.equal(buf.avail[t], torch.from_numpy(o.avail_actions))
            assert torch.equal(buf.alive[t], torch.from_numpy(o.alive))
            if algo.uses_state:
                assert torch.equal(buf.state[t], torch.from_numpy(o.state))
            expected_last = buf.actions[t - 1] if t else torch.full_like(buf.actions[0], -1)
            expected_last = torch.where(buf.starts[t].view(-1, 1), -1, expected_last)
            assert torch.equal(buf.last_action[t], expected_last)
            with torch.no_grad():
                logits, value, h = net.step(buf.obs[t], buf.last_action[t], buf.avail[t], buf.hidden[t],
                                            buf.state[t] if algo.uses_state else None)
            logp = torch.log_softmax(logits, -1).gather(-1, buf.actions[t].unsqueeze(-1)).squeeze(-1)
            torch.testing.assert_close(buf.logp[t], logp)
            torch.testing.assert_close(buf.values[t], value)
            if t + 1 < algo.T:
                torch.testing.assert_close(buf.hidden[t + 1], h * (~buf.dones[t]).view(1, -1, 1).float())
            r = replay.step(buf.actions[t].numpy())
            assert torch.equal(buf.rewards[t], torch.from_numpy(r.reward))
            assert torch.equal(buf.dones[t], torch.from_numpy(r.done))
            assert torch.equal(buf.starts[t + 1] if t + 1 < algo.T else algo.episode_start, torch.from_numpy(r.done))
            o = r
        assert buf.dones.any()
        np.testing.assert_array_equal(algo.obs.obs, o.obs)  # the next rollout starts where the envs are
