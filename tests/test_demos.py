"""Demonstrations: the four styles, the portable format, and validation that fails fast and clearly."""
import numpy as np
import pytest

from algorithms.common.config import resolve
from algorithms.demos import DemoError, compose_team, load_demos, load_expert, sample_demonstrations, save_demos
from algorithms.ippo import IPPOConfig, train

TINY = dict(task="smax/3m", num_envs=16, rollout_length=32, chunk_length=16, ppo_epochs=2, eval_interval=512,
            eval_episodes=8, checkpoint_interval=512, total_env_steps=512, torch_threads=1, precision="float32",
            compile="never")  # pinned, not auto: the same computation on every machine


@pytest.fixture(scope="module")
def experts(tmp_path_factory):
    root = tmp_path_factory.mktemp("experts")
    runs = []
    for seed in (0, 1):
        train(resolve(IPPOConfig, {**TINY, "seed": seed}), root / f"seed{seed}", progress=False)
        runs.append(root / f"seed{seed}")
    return runs


@pytest.mark.parametrize("style", ["cotrained_concurrent", "cotrained_nonconcurrent", "indep_concurrent",
                                   "indep_nonconcurrent"])
def test_styles(experts, style, tmp_path):
    d = sample_demonstrations(experts, 512, style, episodes=6, seed=3, greedy_eval_episodes=8)
    E, T, K, O = d.obs.shape
    assert (E, T, K, O) == (6, 60, 3, 75)
    assert d.metadata["style"] == style and d.metadata["task"] == "smax/3m"
    assert d.metadata["checkpoint_env_steps"][0] == 512 and 0 <= d.metadata["expert_greedy_win_rate"] <= 1
    for k in range(K):
        for e in range(E):
            L = d.length[e, k]
            assert d.alive[e, L:, k].sum() == 0 and (d.obs[e, L:, k] == 0).all()  # padding is marked and zero
            assert d.alive[e, 0, k]
    if d.metadata["concurrent"]:
        assert (d.length == d.length[:, :1]).all()  # same joint episodes for every agent
    if style == "cotrained_nonconcurrent":
        assert not (d.length == d.length[:, :1]).all()  # agents' episodes are disjoint blocks
    path = tmp_path / "demo.npz"
    save_demos(path, d)
    back = load_demos(path, task="smax/3m", n_agents=3, obs_dim=75)
    np.testing.assert_array_equal(back.obs, d.obs)
    assert back.metadata["checksum"] == d.checksum()
    rows = back.agent_rows(1)
    assert rows.shape == (int(d.alive[:, :, 1].sum()), 75)


def test_compose_team_takes_agent_i_from_team_i(experts):
    a, _ = load_expert(experts[0] / "final_model.pt")
    b, _ = load_expert(experts[1] / "final_model.pt")
    team = compose_team([a, b])
    K = team.n_agents
    for name, p in team.named_parameters():
        src = {n: dict(m.named_parameters())[name] for n, m in (("a", a), ("b", b))}
        for i in range(K):
            expected = (src["a"] if i % 2 == 0 else src["b"])
            assert (p[i] == expected[i]).all(), (name, i)


def test_validation_errors(experts, tmp_path):
    d = sample_demonstrations(experts, "final", "cotrained_concurrent", episodes=4, seed=0, greedy_eval_episodes=4)
    path = tmp_path / "demo.npz"
    save_demos(path, d)
    with pytest.raises(DemoError, match="task 'smax/3m', but the consumer trains 'smax/5m_vs_6m'"):
        load_demos(path, task="smax/5m_vs_6m")
    with pytest.raises(DemoError, match="3 agents' demonstrations, but the task has 5 agents"):
        load_demos(path, n_agents=5)
    with pytest.raises(DemoError, match="observations of size 75, but the task's observations have size 140"):
        load_demos(path, obs_dim=140)
    raw = path.read_bytes()
    (tmp_path / "truncated.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DemoError, match="corrupted or truncated"):
        load_demos(tmp_path / "truncated.npz")
    d.obs[0, 0, 0, 0] += 1.0  # tamper after the checksum was taken
    np.savez_compressed(tmp_path / "tampered.npz", obs=d.obs, actions=d.actions, alive=d.alive, length=d.length,
                        returns=d.returns, won=d.won,
                        metadata_json=np.load(path)["metadata_json"])
    with pytest.raises(DemoError, match="checksum mismatch"):
        load_demos(tmp_path / "tampered.npz")
    with pytest.raises(DemoError, match="does not exist"):
        load_demos(tmp_path / "missing.npz")
    with pytest.raises(DemoError, match=r"checkpoints/step_999.pt does not exist; .* has: \['step_512.pt'\]"):
        sample_demonstrations(experts, 999, "cotrained_concurrent", 2, 0)
    with pytest.raises(DemoError, match="needs independently trained teams"):
        sample_demonstrations(experts[:1], "final", "indep_concurrent", 2, 0)


def test_ctde_experts_demonstrate(tmp_path):
    """QMIX experts are sampled epsilon-greedy (never 'stochastic'), MAPPO experts through their shared actor; neither
    can form the mixed team of indep_concurrent."""
    from algorithms import mappo, qmix
    small = dict(task="smax/3m", total_env_steps=600, eval_interval=600, eval_episodes=4, checkpoint_interval=600,
                 torch_threads=1)
    qmix.train(resolve(qmix.QMIXConfig, {**small, "num_envs": 4, "batch_episodes": 4}), tmp_path / "q", progress=False)
    mappo.train(resolve(mappo.MAPPOConfig, {**small, "num_envs": 8, "rollout_length": 32}), tmp_path / "m",
                progress=False)
    demos = sample_demonstrations([tmp_path / "q"], "final", "cotrained_concurrent", episodes=6, seed=0,
                                  mode="epsilon_greedy", epsilon=0.1, greedy_eval_episodes=4)
    assert demos.metadata["expert_algorithm"] == "qmix" and demos.metadata["epsilon"] == 0.1
    assert demos.metadata["expert_network"] == "QMIXPolicy" and demos.obs.shape[:3] == (6, 60, 3)
    with pytest.raises(DemoError, match="QMIX experts have no stochastic policy"):
        sample_demonstrations([tmp_path / "q"], "final", "cotrained_concurrent", episodes=6, seed=0)
    demos = sample_demonstrations([tmp_path / "m"], "final", "cotrained_nonconcurrent", episodes=4, seed=0,
                                  greedy_eval_episodes=4)
    assert demos.metadata["expert_algorithm"] == "mappo" and demos.obs.shape[:3] == (4, 60, 3)
    with pytest.raises(DemoError, match="indep_concurrent mixes agents"):
        sample_demonstrations([tmp_path / "m", tmp_path / "m"], "final", "indep_concurrent", episodes=4, seed=0)
