"""Bad input gets a clear, specific error naming the bad value and what is allowed."""
import pytest

from algorithms import registry
from algorithms.common.config import ConfigError, load_config, parse_override, resolve
from algorithms.ippo import IPPOConfig, main


def test_defaults_and_task_overrides():
    cfg = resolve(IPPOConfig, {"ppo_epochs": 4, "task_overrides": {"smax/5m_vs_6m": {"ppo_epochs": 10, "clip": 0.05}}},
                  {"task": "smax/5m_vs_6m"})
    assert (cfg.ppo_epochs, cfg.clip) == (10, 0.05)
    cfg = resolve(IPPOConfig, {"ppo_epochs": 4, "task_overrides": {"smax/5m_vs_6m": {"ppo_epochs": 10}}},
                  {"task": "smax/3m", "lr": 1e-3})
    assert (cfg.ppo_epochs, cfg.lr) == (4, 1e-3)
    # a backend's overrides (smax/*) apply to its every task, under the task's own
    family = {"ppo_epochs": 4, "task_overrides": {"smax/*": {"ppo_epochs": 7, "clip": 0.1},
                                                  "smax/5m_vs_6m": {"ppo_epochs": 10}}}
    assert resolve(IPPOConfig, family, {"task": "smax/3m"}).ppo_epochs == 7
    cfg = resolve(IPPOConfig, family, {"task": "smax/5m_vs_6m"})
    assert (cfg.ppo_epochs, cfg.clip) == (10, 0.1)
    assert resolve(IPPOConfig, family, {"task": "mpe/spread_3"}).ppo_epochs == 4


def test_paper_table_in_shipped_config():
    for task, (epochs, clip) in {"smax/5m_vs_6m": (10, 0.05), "smax/3s_vs_4z": (15, 0.2), "smax/3s_vs_3z": (15, 0.2),
                                 "smax/3s_vs_5z": (15, 0.05), "smax/8m_vs_9m": (15, 0.05)}.items():
        for path in ["config/config.yaml", "config/paper.yaml"]:
            cfg = load_config(IPPOConfig, path, {"task": task}, section="ippo")
            assert (cfg.ppo_epochs, cfg.clip) == (epochs, clip), (path, task)
    paper = load_config(IPPOConfig, "config/paper.yaml", {"task": "smax/5m_vs_6m"}, section="ippo")
    assert paper.rollout_mode == "episodes" and paper.num_envs == 1024 and paper.eval_episodes == 32


@pytest.mark.parametrize("values, message", [
    ({"learning_rate": 1e-3}, r"unknown config key\(s\) \['learning_rate'\].*allowed keys: task, seed"),
    ({"lr": "1e-4"}, r"lr: expected a number, got the string '1e-4' \(YAML 1.1"),
    ({"num_envs": 2.5}, r"num_envs: expected an integer, got 2.5"),
    ({"num_envs": 0}, r"num_envs must be > 0, got 0"),
    ({"gamma": 1.5}, r"gamma must be in \[0, 1\], got 1.5"),
    ({"rollout_mode": "episode"}, r"rollout_mode: 'episode' is not allowed; expected one of 'steps', 'episodes'"),
    ({"precision": "fp16"}, r"precision: 'fp16' is not allowed"),
    ({"collect_groups": 3}, r"collect_groups 3 must divide num_envs 64 \(1 turns the overlap off\)"),
    ({"task": "smax/4m"}, r"task: unknown task 'smax/4m'; known tasks: .*smax/3m"),
    ({"use_gae": True}, r"unknown config key"),
])
def test_bad_values(values, message):
    with pytest.raises(ConfigError, match=message):
        resolve(IPPOConfig, values)


def test_overrides_and_files(tmp_path):
    assert parse_override("lr=1e-4") == ("lr", 1e-4)
    assert parse_override("seed=3") == ("seed", 3)
    assert parse_override("task=smax/3m") == ("task", "smax/3m")
    with pytest.raises(ConfigError, match="must look like key=value"):
        parse_override("lr")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(IPPOConfig, bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(IPPOConfig, tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="has no section 'mild2'"):
        load_config(IPPOConfig, "config/config.yaml", section="ippo,mild2")
    # sections merge in order, task_overrides too: MAPPO reads the ippo block, then its own
    merged = load_config(IPPOConfig, "config/config.yaml", ["task=smax/3s_vs_3z"], section="ippo,mappo")
    assert merged.ppo_epochs == 15 and merged.lr == 5e-4


def test_unknown_algorithm():
    with pytest.raises(ValueError, match="unknown learner .ipo.; registered learners: ippo, mappo, qmix, imitation"):
        registry.learner("ipo")


def test_cli_reports_config_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--run-dir", str(tmp_path / "run"), "ppo_epoch=3"])
    assert exc.value.code == 2
    assert "unknown config key(s) ['ppo_epoch']" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # nothing is started on bad input


def test_rollout_shape_checked_with_the_config():
    with pytest.raises(ConfigError, match=r"chunk_length 16 must divide the rollout length 30 \(rollout_length\)"):
        resolve(IPPOConfig, {"rollout_length": 30, "chunk_length": 16})
    with pytest.raises(ConfigError, match="must divide the rollout length 25 .the episode limit of mpe/spread_3"):
        resolve(IPPOConfig, {"task": "mpe/spread_3", "rollout_mode": "episodes", "chunk_length": 10})
    with pytest.raises(ConfigError, match="num_minibatches 9 exceeds the 8 sequences"):
        resolve(IPPOConfig, {"num_envs": 2, "rollout_length": 64, "chunk_length": 16, "num_minibatches": 9})
