"""MAPPO: a shared actor that still acts on local information only, a centralised critic on the state, value
normalisation, and the shared PPO machinery (outputs, exact resume); a learning test on 3m."""
import pytest
import torch

from algorithms.common.config import resolve
from algorithms.common.networks import SharedActorCentralCritic, ValueNorm
from algorithms.common.runio import load_checkpoint
from algorithms.mappo import MAPPO, MAPPOConfig, train
from run_helpers import assert_same_run

K, O, S, A, H = 3, 7, 11, 5, 16
SMALL = dict(task="smax/3m", num_envs=16, rollout_length=32, chunk_length=16, ppo_epochs=2, eval_interval=512,
             eval_episodes=8, checkpoint_interval=1024, total_env_steps=1536, torch_threads=1, precision="float32",
             compile="never")  # pinned, not auto: the same computation on every machine


def make_net(seed=0):
    torch.manual_seed(seed)
    net = SharedActorCentralCritic(K, O, S, A, hidden=H)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return net


def test_actor_is_decentralised_and_critic_reads_the_state():
    net = make_net()
    B = 4
    obs, last, state = torch.randn(B, K, O), torch.randint(-1, A, (B, K)), torch.randn(B, S)
    avail, h = torch.ones(B, K, A, dtype=torch.bool), torch.randn(2 * K, B, H)
    logits, value, h1 = net.step(obs, last, avail, h, state)
    obs2 = obs.clone()
    obs2[:, 0] += 1.0  # agent 0 sees something else
    logits2, value2, _ = net.step(obs2, last, avail, h, state)
    assert not torch.allclose(logits[:, 0], logits2[:, 0])
    torch.testing.assert_close(logits[:, 1:], logits2[:, 1:])  # other agents act on their own obs only
    torch.testing.assert_close(value, value2)  # the critic reads the state, not the observations
    _, value3, _ = net.step(obs, last, avail, h, state + 1.0)
    assert not torch.allclose(value, value3)
    # one set of weights for all agents, told apart by the id: same inputs, different agent -> different logits
    same = obs[:, :1].expand(B, K, O)
    lg, _, _ = net.step(same, last[:, :1].expand(B, K), avail, h[[0, 0, 0, 3, 3, 3]], state)
    assert not torch.allclose(lg[:, 0], lg[:, 1])
    # greedy play needs no state: the critic is skipped and its hidden state kept
    lg_nostate, v_none, h_nostate = net.step(obs, last, avail, h, None)
    assert v_none is None and torch.equal(h_nostate[K:], h[K:])
    torch.testing.assert_close(lg_nostate, logits)


def test_sequence_equals_stepping_with_resets():
    net = make_net()
    net.value_norm.update(torch.randn(100) * 3 + 2)
    L, B = 6, 4
    obs, last, state = torch.randn(L, B, K, O), torch.randint(-1, A, (L, B, K)), torch.randn(L, B, S)
    avail = torch.rand(L, B, K, A) > 0.3
    avail[..., 0] = True
    reset = torch.rand(L, B) < 0.3
    h0 = torch.randn(2 * K, B, H)
    logits_seq, value_seq = net.sequence(net.inputs(obs, last, state), avail, h0, reset)
    h, logits_steps, value_steps = h0, [], []
    for t in range(L):
        h = h * (~reset[t]).float().view(1, -1, 1)
        lg, v, h = net.step(obs[t], last[t], avail[t], h, state[t])
        logits_steps.append(lg)
        value_steps.append(v)
    torch.testing.assert_close(logits_seq, torch.stack(logits_steps), atol=1e-5, rtol=1e-4)
    # the sequence gives normalised values, acting de-normalised ones
    torch.testing.assert_close(net.value_norm.denormalize(value_seq), torch.stack(value_steps), atol=1e-5, rtol=1e-4)


def test_value_clip_is_centred_on_the_critic_output_at_acting_time():
    net = make_net()
    net.value_norm.update(torch.randn(100) * 2 + 1)
    raw = torch.randn(50)
    stored = net.value_norm.denormalize(raw)  # what acting puts in the rollout
    returns = torch.randn(50) * 5 + 5
    targets, old = net.value_targets(returns, stored, torch.ones(50))
    torch.testing.assert_close(old, raw)  # the clip's centre is the raw output, not re-normalised with new stats
    torch.testing.assert_close(targets, net.value_norm.normalize(returns))


def test_value_norm_tracks_target_statistics():
    norm = ValueNorm()
    gen = torch.Generator().manual_seed(0)
    for _ in range(50):
        norm.update(torch.randn(1000, generator=gen) * 4 + 10)
    mean, std = norm.stats()
    assert abs(float(mean) - 10) < 0.1 and abs(float(std) - 4) < 0.1
    x = torch.tensor([2.0, 10.0, 18.0])
    torch.testing.assert_close(norm.denormalize(norm.normalize(x)), x)


def test_mappo_run_outputs_and_exact_resume(tmp_path, monkeypatch):
    cfg = resolve(MAPPOConfig, SMALL)
    rows = train(cfg, tmp_path / "a", progress=False)
    assert [r["env_steps"] for r in rows] == [0, 512, 1024, 1536]
    final = load_checkpoint(tmp_path / "a" / "final_model.pt")
    assert final["algorithm"] == "mappo" and "value_norm.debias" in final["model"]
    assert float(final["model"]["value_norm.debias"]) > 0  # value statistics were learned and are saved
    calls = {"n": 0}
    real_update = MAPPO.update

    def dying_update(self):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed")
        return real_update(self)

    monkeypatch.setattr(MAPPO, "update", dying_update)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "b", progress=False)
    monkeypatch.setattr(MAPPO, "update", real_update)
    train(cfg, tmp_path / "b", progress=False)
    assert_same_run(tmp_path / "a", tmp_path / "b")


def test_mappo_learns_3m(tmp_path):
    """Random play wins 0% of 3m; MAPPO must win >= 50% of 32 greedy test episodes at some evaluation in its last
    50k of 150k steps."""
    cfg = resolve(MAPPOConfig, {"task": "smax/3m", "total_env_steps": 150_000, "eval_interval": 25_000,
                                "checkpoint_interval": 150_000})
    rows = train(cfg, tmp_path / "run", progress=False)
    late = [r["test_win_rate"] for r in rows if r["env_steps"] >= 100_000]
    assert max(late) >= 0.5, f"MAPPO did not learn 3m: test win rates {[r['test_win_rate'] for r in rows]}"
