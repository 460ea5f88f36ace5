"""DM² and GAIL-only: demonstrations are checked before anything runs; the mixed reward is r_env + c * logit on
living steps only; runs resume exactly; discriminator statistics are logged."""
import pandas as pd
import pytest
import torch
import yaml

from algorithms.common.config import ConfigError, resolve
from algorithms.demos import DemoError, sample_demonstrations, save_demos
from algorithms.dm2 import DM2, DM2Config
from algorithms.ippo import IPPOConfig, train

TINY = dict(task="smax/3m", num_envs=16, rollout_length=32, chunk_length=16, ppo_epochs=2, eval_interval=512,
            eval_episodes=8, checkpoint_interval=512, total_env_steps=1024, torch_threads=1)


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("dm2")
    train(resolve(IPPOConfig, {**TINY, "total_env_steps": 512}), root / "expert", progress=False)
    demos = sample_demonstrations([root / "expert"], "final", "cotrained_concurrent", episodes=12, seed=0,
                                  greedy_eval_episodes=8)
    save_demos(root / "demos.npz", demos)
    return root / "demos.npz"


def cfg(demo_file, **kw):
    return resolve(DM2Config, {**TINY, "demos": str(demo_file), "demo_episodes": 12, "gail_epochs": 3,
                               "gail_batch_rows": 64, **kw})


def test_bad_demonstrations_fail_before_anything_runs(demo_file, tmp_path):
    with pytest.raises(ConfigError, match="demos: a demonstration file is required"):
        resolve(DM2Config, TINY)
    with pytest.raises(DemoError, match="task 'smax/3m', but the consumer trains 'smax/8m'"):
        train(cfg(demo_file, task="smax/8m"), tmp_path / "run", progress=False, algo_cls=DM2)
    with pytest.raises(ConfigError, match="demo_episodes 13 exceeds the 12 episodes"):
        train(cfg(demo_file, demo_episodes=13), tmp_path / "run", progress=False, algo_cls=DM2)
    assert not (tmp_path / "run").exists()


def test_mixed_reward_only_on_living_steps(demo_file):
    algo = DM2(cfg(demo_file, gail_coef=0.5))
    algo.collect()
    seen = {}

    def capture(key):
        def ppo_update(rewards):
            seen[key] = rewards.clone()
            return {}
        return ppo_update

    algo.ppo_update = capture("r")
    stats = algo.update()
    buf, r = algo.buf, seen["r"]
    team = buf.rewards.unsqueeze(-1).expand_as(r)
    decided = buf.valid.unsqueeze(-1) & buf.alive
    torch.testing.assert_close(r[~decided], team[~decided])  # dead or padded: the team reward only
    assert (r[decided] != team[decided]).any()
    assert 0.0 <= stats["disc_expert_acc"] <= 1.0
    algo_g = DM2(cfg(demo_file, arm="gail_only"))
    algo_g.collect()
    algo_g.ppo_update = capture("g")
    algo_g.update()
    assert (seen["g"][~(algo_g.buf.valid.unsqueeze(-1) & algo_g.buf.alive)] == 0).all()  # no env reward at all


def test_dm2_run_resumes_exactly(demo_file, tmp_path, monkeypatch):
    c = cfg(demo_file)
    train(c, tmp_path / "a", progress=False, algo_cls=DM2)
    a = pd.read_csv(tmp_path / "a" / "metrics.csv").drop(columns=["wall_time", "steps_per_s"])
    assert {"disc_bce", "disc_expert_acc", "gail_reward_mean"} <= set(a.columns)
    resolved = yaml.safe_load((tmp_path / "a" / "config.yaml").read_text())
    assert resolved["algorithm"] == "dm2" and resolved["demonstrations"]["style"] == "cotrained_concurrent"
    real = DM2.update
    calls = {"n": 0}

    def dying(self):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(self)

    monkeypatch.setattr(DM2, "update", dying)
    with pytest.raises(KeyboardInterrupt):
        train(c, tmp_path / "b", progress=False, algo_cls=DM2)
    monkeypatch.setattr(DM2, "update", real)
    train(c, tmp_path / "b", progress=False, algo_cls=DM2)
    pd.testing.assert_frame_equal(a, pd.read_csv(tmp_path / "b" / "metrics.csv").drop(columns=["wall_time",
                                                                                              "steps_per_s"]))
