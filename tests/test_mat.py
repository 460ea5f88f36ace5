"""MAT (the Multi-Agent Transformer): sequential decoding gives the log-probabilities of teacher forcing, agent m's
distribution reads every observation and the actions of agents before m only, its value normalisation and clipping,
the shared PPO machinery (outputs, exact resume), and a learning test on 3m."""
import pytest
import torch

from algorithms import registry
from algorithms.common.config import ConfigError, resolve
from algorithms.common.runio import load_checkpoint
from algorithms.mat import MAT, MATConfig, MATPolicy, acting_policy, train
from run_helpers import assert_same_run, train_killed_at_update

K, O, A, D = 4, 7, 5, 16
SMALL = dict(task="smax/3m", num_envs=8, rollout_length=32, chunk_length=16, ppo_epochs=2, eval_interval=256,
             eval_episodes=8, checkpoint_interval=512, total_env_steps=768, torch_threads=1, precision="float32",
             compile="never")  # pinned, not auto: the same computation on every machine


def make_net(seed=0, n_block=2, n_head=2):
    """A MAT with its small initial gains (0.01) scaled up, so that every dependence is far above rounding."""
    torch.manual_seed(seed)
    net = MATPolicy(K, O, A, D, n_block, n_head)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return net


def batch(B=6, seed=1):
    g = torch.Generator().manual_seed(seed)
    obs = torch.randn(B, K, O, generator=g)
    avail = torch.rand(B, K, A, generator=g) > 0.3
    avail[..., 0] = True
    return obs, avail


def teacher_forced(net, obs, actions, avail):
    """Logits [B, K, A] of every agent given the joint ``actions`` (one decoder pass, shifted stream)."""
    rep, _ = net.encode(obs)
    return net.decode(net.shifted(actions), rep).masked_fill(~avail, -1e10)


def test_sequential_decoding_gives_the_log_probs_of_teacher_forcing():
    net = make_net()
    obs, avail = batch()
    B = obs.shape[0]
    no_last = torch.full((B, K), -1)
    with torch.no_grad(), net.acting():
        action, logp, value, h = net.act(obs, no_last, avail, net.initial_hidden(B), None,
                                         torch.Generator().manual_seed(2))
        greedy, _ = net.greedy(obs, no_last, avail, net.initial_hidden(B))
    assert action.shape == (B, K) and len(set(action.flatten().tolist())) > 1
    assert avail.gather(-1, action.unsqueeze(-1)).all()  # only available actions are chosen
    logp_tf, entropy, value_tf = net.evaluate(net.inputs(obs[None], no_last[None]), action[None], avail[None], None,
                                              None)
    # float32: exact on the AMD EPYC machine; on Intel CPUs with AMX, MKL's kernels for the prefix passes round up to
    # 7e-7 differently (measured 2026-12-04), so the tolerance is float32 rounding, far below any PPO ratio's clip
    torch.testing.assert_close(logp, logp_tf[0], rtol=0, atol=1e-5)
    torch.testing.assert_close(value, net.value_norm.denormalize(value_tf[0]))
    assert (entropy > 0).all()
    # greedy decoding: each agent's argmax given the greedy actions of the agents before it
    assert torch.equal(greedy, teacher_forced(net, obs, greedy, avail).argmax(-1))


def test_acting_stores_the_log_probs_training_recomputes_in_bfloat16():
    """Under bfloat16 autocast too (matmul rounding depends on the memory layout of its inputs): the log-probs and
    values stored while acting are exactly those of the training pass, so PPO's first ratio is exactly 1."""
    net = make_net()
    obs, avail = batch(B=32)
    no_last = torch.full((32, K), -1)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16), net.acting():
        action, logp, value, _ = net.act(obs, no_last, avail, net.initial_hidden(32), None,
                                         torch.Generator().manual_seed(5))
        logp_tf, _, value_tf = net.evaluate(net.inputs(obs[None], no_last[None]), action[None], avail[None], None,
                                            None)
    torch.testing.assert_close(logp, logp_tf[0], rtol=0, atol=0)
    torch.testing.assert_close(value, net.value_norm.denormalize(value_tf[0]), rtol=0, atol=0)


def test_agent_m_reads_every_observation_and_only_earlier_agents_actions():
    net = make_net()
    obs, avail = batch()
    actions = torch.randint(0, A, (obs.shape[0], K), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        base = teacher_forced(net, obs, actions, avail)
        for j in range(K):  # change agent j's action: agents 0..j keep their distributions, agents after j do not
            changed = actions.clone()
            changed[:, j] = (changed[:, j] + 1) % A
            logits = teacher_forced(net, obs, changed, avail)
            torch.testing.assert_close(logits[:, :j + 1], base[:, :j + 1], rtol=0, atol=0)
            for m in range(j + 1, K):
                assert not torch.allclose(logits[:, m], base[:, m], atol=1e-4), (j, m)
        obs2 = obs.clone()
        # only the last agent's observation (not a constant shift: MAT's input LayerNorm removes it): every agent's
        # distribution and value move
        obs2[:, K - 1] += torch.randn(obs.shape[0], O, generator=torch.Generator().manual_seed(4))
        logits = teacher_forced(net, obs2, actions, avail)
        values = net.encode(obs2)[1]
        for m in range(K):
            assert not torch.allclose(logits[:, m], base[:, m], atol=1e-4)
            assert not torch.allclose(values[:, m], net.encode(obs)[1][:, m], atol=1e-4)


def test_value_norm_and_one_clip_for_the_whole_model():
    net = make_net()
    mask = torch.ones(8, 6, K)
    returns = 5.0 + 2.0 * torch.randn(8, 6, K)
    targets, _ = net.value_targets(returns, torch.zeros(8, 6, K), mask)
    assert float(net.value_norm.debias) > 0 and abs(float(targets.mean())) < 1.0  # normalised targets
    # the old values of the next rollout are normalised with the statistics they were de-normalised with
    old = 3.0 + torch.randn(8, 6, K)
    expected_old = net.value_norm.normalize(old)
    targets2, old_norm = net.value_targets(returns + 1.0, old, mask)
    torch.testing.assert_close(old_norm, expected_old)
    torch.testing.assert_close(targets2, net.value_norm.normalize(returns + 1.0))
    assert not torch.allclose(old_norm, old)
    for p in net.parameters():
        p.grad = torch.ones_like(p)
    total = float(net.clip_grad_norm(1.0))
    assert total > 1.0
    clipped = torch.cat([p.grad.flatten() for p in net.parameters()]).norm()
    assert abs(float(clipped) - 1.0) < 1e-4  # all parameters clipped together, not per part


def test_registry_labels_and_bad_shape():
    assert registry.learner("mat").execution == "centralized sequential"
    assert registry.arm("mat").mode == "centralized sequential"
    with pytest.raises(ConfigError, match="n_head 3 must divide hidden_size 64"):
        resolve(MATConfig, {**SMALL, "n_head": 3})


def test_run_outputs_and_exact_resume(tmp_path, monkeypatch):
    cfg = resolve(MATConfig, SMALL)
    rows = train(cfg, tmp_path / "a", progress=False)
    assert [r["env_steps"] for r in rows] == [0, 256, 512, 768]
    final = load_checkpoint(tmp_path / "a" / "final_model.pt")
    assert final["algorithm"] == "mat" and float(final["model"]["value_norm.debias"]) > 0
    net = acting_policy(final)
    assert isinstance(net, MATPolicy) and net.n_agents == 3
    train_killed_at_update(monkeypatch, MAT, 2, train, cfg, tmp_path / "b", progress=False)
    train(cfg, tmp_path / "b", progress=False)
    assert_same_run(tmp_path / "a", tmp_path / "b")


def test_minibatches_select_whole_samples(tmp_path):
    """With several minibatches per epoch the core selects sequences behind the agents axis (MAT's ``inputs`` puts
    agents first): each minibatch's loss equals the loss of the same samples evaluated alone."""
    algo = MAT(resolve(MATConfig, {**SMALL, "num_minibatches": 4, "ppo_epochs": 1}))
    algo.collect()
    stats = algo.update()
    assert all(torch.isfinite(torch.tensor(v)) for v in stats.values())
    buf = algo.buf
    inputs = algo.net.inputs(buf.obs, buf.last_action)
    assert inputs.shape == (3, algo.T, 8, buf.obs.shape[-1])
    logp, _, _ = algo.net.evaluate(inputs[:, :, 2:5], buf.actions[:, 2:5], buf.avail[:, 2:5], None, None)
    whole, _, _ = algo.net.evaluate(inputs, buf.actions, buf.avail, None, None)
    torch.testing.assert_close(logp, whole[:, 2:5])


def test_mat_learns_3m(tmp_path):
    """Random play wins 0% of 3m; MAT must win >= 50% of 32 greedy test episodes at some evaluation in its last
    50k of 150k steps (as MAPPO's test)."""
    cfg = resolve(MATConfig, {"task": "smax/3m", "total_env_steps": 150_000, "eval_interval": 25_000,
                              "checkpoint_interval": 150_000, "ppo_epochs": 15, "clip": 0.05, "value_coef": 1.0})
    rows = train(cfg, tmp_path / "run", progress=False)
    late = [r["test_win_rate"] for r in rows if r["env_steps"] >= 100_000]
    assert max(late) >= 0.5, f"MAT did not learn 3m: test win rates {[r['test_win_rate'] for r in rows]}"
