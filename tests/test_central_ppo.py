"""Centralized PPO (CESMA's expert): one controller whose every head reads every agent's observation, per-agent
action heads, and the shared PPO machinery (stepping equals the training pass, outputs, exact resume). Its learning
is measured in the README (mpe/spread_3), not here: the CESMA learning test trains the decentralized learners."""
import math

import torch

from algorithms import registry
from algorithms.central_ppo import CentralPPO, CentralPPOConfig, train
from algorithms.common.config import resolve
from algorithms.common.runio import load_checkpoint
from algorithms.common.networks import CentralizedActorCritic
from run_helpers import assert_same_run, train_killed_at_update

K, O, A, H = 3, 7, 5, 16
SMALL = dict(task="mpe/spread_3", num_envs=8, rollout_length=32, chunk_length=16, ppo_epochs=2, eval_interval=256,
             eval_episodes=8, checkpoint_interval=512, total_env_steps=768, torch_threads=1, precision="float32",
             compile="never")  # pinned, not auto: the same computation on every machine


def make_net(seed=0):
    torch.manual_seed(seed)
    net = CentralizedActorCritic(K, O, A, hidden=H)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return net


def test_every_head_reads_the_joint_observation():
    net = make_net()
    B = 4
    obs, last = torch.randn(B, K, O), torch.randint(-1, A, (B, K))
    avail, h = torch.ones(B, K, A, dtype=torch.bool), torch.randn(2, B, H)
    logits, value, h1 = net.step(obs, last, avail, h)
    assert logits.shape == (B, K, A) and value.shape == (B, K) and h1.shape == (2, B, H)
    obs2 = obs.clone()
    obs2[:, 0] += 1.0  # only agent 0's observation changes
    logits2, value2, _ = net.step(obs2, last, avail, h)
    for k in range(K):  # every agent's action distribution and value move: the controller is centralized
        assert not torch.allclose(logits[:, k], logits2[:, k]) and not torch.allclose(value[:, k], value2[:, k])
    last2 = last.clone()
    last2[:, 2] = (last2[:, 2] + 2) % A  # only agent 2's last action changes
    logits3 = net.step(obs, last2, avail, h)[0]
    for k in range(K):
        assert not torch.allclose(logits3[:, k], logits[:, k])
    # unavailable actions get no probability; the global state is not an input
    avail2 = avail.clone()
    avail2[:, 1, 3] = False
    assert (torch.softmax(net.step(obs, last, avail2, h)[0], -1)[:, 1, 3] == 0).all()
    torch.testing.assert_close(net.step(obs, last, avail, h, torch.randn(B, 9))[0], logits)
    assert registry.learner("central_ppo").execution == "centralized"
    assert registry.arm("central_ppo").mode == "centralized"


def test_sequence_equals_stepping_with_resets():
    net = make_net()
    L, B = 6, 4
    obs, last = torch.randn(L, B, K, O), torch.randint(-1, A, (L, B, K))
    avail = torch.rand(L, B, K, A) > 0.3
    avail[..., 0] = True
    reset = torch.rand(L, B) < 0.3
    h0 = torch.randn(2, B, H)
    logits_seq, value_seq = net.sequence(net.inputs(obs, last), avail, h0, reset)
    h, logits_steps, value_steps = h0, [], []
    for t in range(L):
        h = h * (~reset[t]).float().view(1, -1, 1)
        lg, v, h = net.step(obs[t], last[t], avail[t], h)
        logits_steps.append(lg)
        value_steps.append(v)
    torch.testing.assert_close(logits_seq, torch.stack(logits_steps), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(value_seq, torch.stack(value_steps), atol=1e-5, rtol=1e-4)


def test_actor_and_critic_are_clipped_separately():
    net = make_net()
    for p in net.parameters():
        p.grad = torch.zeros_like(p)
    net.actor_head.weight.grad.fill_(10.0)  # a large actor gradient, a zero critic gradient
    net.trunk.fc1.weight.grad[1].fill_(1e-3)  # net 1 of the trunk is the critic
    norms = net.clip_grad_norm(1.0)
    assert norms.shape == (2,) and norms[0] > 1.0 and norms[1] < 1.0
    assert abs(float(net.actor_head.weight.grad.norm()) - 1.0) < 1e-3  # the actor is clipped to 1
    torch.testing.assert_close(net.trunk.fc1.weight.grad[1], torch.full_like(net.trunk.fc1.weight.grad[1], 1e-3))


def test_run_outputs_and_exact_resume(tmp_path, monkeypatch):
    cfg = resolve(CentralPPOConfig, SMALL)
    rows = train(cfg, tmp_path / "a", progress=False)
    assert [r["env_steps"] for r in rows] == [0, 256, 512, 768]
    # MPE has no win condition: its win rates are NaN, never a 0 that reads like a measured failure
    assert all(math.isnan(r["test_win_rate"]) for r in rows) and all(math.isnan(r["train_win_rate"]) for r in rows)
    assert all(math.isfinite(r["test_return"]) for r in rows)
    final = load_checkpoint(tmp_path / "a" / "final_model.pt")
    assert final["algorithm"] == "central_ppo" and final["model"]["actor_head.weight"].shape == (1, 64, 3 * 5)
    train_killed_at_update(monkeypatch, CentralPPO, 2, train, cfg, tmp_path / "b", progress=False)
    train(cfg, tmp_path / "b", progress=False)
    assert_same_run(tmp_path / "a", tmp_path / "b")
