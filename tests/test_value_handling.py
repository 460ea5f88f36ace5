"""The value-handling switch of the PPO family (``value_handling``: clipped, unclipped, normalized): the loss each
computes, per-agent value statistics that stay independent for independent critics, acting values in reward units,
each learner's default, and a normalised IPPO run that saves and reloads its statistics."""
import pytest
import torch
import torch.nn.functional as F

from algorithms.common.config import ConfigError, resolve
from algorithms.common.networks import IndependentActorCritic
from algorithms.common.ppo import ppo_loss
from algorithms.common.runio import load_checkpoint
from algorithms.configs.central_ppo import CentralPPOConfig
from algorithms.configs.imitation import ImitationConfig
from algorithms.configs.imitation_ctde import ImitationCTDEConfig
from algorithms.configs.imitation_mat import ImitationMATConfig
from algorithms.ippo import IPPOConfig, acting_policy, train
from algorithms.configs.mappo import MAPPOConfig
from algorithms.configs.mat import MATConfig

K, O, A, H, L, B = 2, 5, 4, 8, 6, 3


def make_batch(net, seed=0, value_offset=5.0):
    g = torch.Generator().manual_seed(seed)
    obs, last = torch.randn(L, B, K, O, generator=g), torch.randint(-1, A, (L, B, K), generator=g)
    b = {"inputs": net.inputs(obs, last), "actions": torch.randint(0, A, (L, B, K), generator=g),
         "avail": torch.ones(L, B, K, A, dtype=torch.bool), "starts": torch.zeros(L, B, dtype=torch.bool)}
    with torch.no_grad():
        logp, _, value = net.evaluate(b["inputs"], b["actions"], b["avail"], net.initial_hidden(B), b["starts"])
    mask = torch.rand(L, B, K, generator=g) > 0.2
    b.update(logp=logp, adv=torch.randn(L, B, K, generator=g), mask=mask.float(), value_mask=mask.float(),
             values=value + value_offset,  # old values far from the new ones: the clip binds
             ret=value + torch.randn(L, B, K, generator=g) * 3)
    return b


def test_unclipped_loss_is_the_plain_huber_and_the_clip_only_adds():
    torch.manual_seed(0)
    net = IndependentActorCritic(K, O, A, H)
    b = make_batch(net)
    h0 = net.initial_hidden(B)
    _, clipped = ppo_loss(net, b, h0, 0.2, 10.0, 0.5, 0.01, clip_value=True)
    _, plain = ppo_loss(net, b, h0, 0.2, 10.0, 0.5, 0.01, clip_value=False)
    with torch.no_grad():
        value = net.evaluate(b["inputs"], b["actions"], b["avail"], h0, b["starts"])[2]
    huber = F.huber_loss(value, b["ret"], reduction="none", delta=10.0)
    per_agent = (huber * b["value_mask"]).sum((0, 1)) / b["value_mask"].sum((0, 1))
    torch.testing.assert_close(plain[1], per_agent.mean())  # stats[1]: the value loss
    assert clipped[1] > plain[1] * 1.5  # the old values 5 away: the clipped branch dominates
    torch.testing.assert_close(clipped[[0, 2, 3, 4]], plain[[0, 2, 3, 4]])  # nothing else changes


def test_per_agent_value_statistics_are_independent():
    net = IndependentActorCritic(K, O, A, H, value_norm=True)
    g = torch.Generator().manual_seed(1)
    returns = torch.stack([100 + 10 * torch.randn(L, B, generator=g), torch.randn(L, B, generator=g)], -1)
    mask = torch.ones(L, B, K, dtype=torch.bool)
    targets, _ = net.value_targets(returns, returns, mask)
    mean, std = net.value_norm.stats()
    assert mean.shape == (K,) and float(mean[0]) > 90 and abs(float(mean[1])) < 1.0 and float(std[0]) > 5
    assert targets[..., 0].abs().mean() < 3  # agent 0's targets in its own units, not agent 1's
    # another agent's returns never move agent 0's statistics; an agent without a living step keeps its own
    other = IndependentActorCritic(K, O, A, H, value_norm=True)
    changed = returns.clone()
    changed[..., 1] *= 50
    dead = mask.clone()
    dead[..., 1] = False
    other.value_targets(changed, changed, dead)
    assert torch.equal(other.value_norm.mean[0], net.value_norm.mean[0])
    assert float(other.value_norm.debias[1]) == 0.0 and float(other.value_norm.mean[1]) == 0.0


def test_acting_values_are_in_reward_units():
    torch.manual_seed(2)
    net = IndependentActorCritic(K, O, A, H, value_norm=True)
    net.value_norm.update(torch.stack([torch.full((50,), 20.0), torch.full((50,), -3.0)], -1) + torch.randn(50, K))
    obs, last = torch.randn(B, K, O), torch.randint(-1, A, (B, K))
    avail, h = torch.ones(B, K, A, dtype=torch.bool), net.initial_hidden(B)
    with torch.no_grad():
        _, value, _ = net.step(obs, last, avail, h)
        _, raw = net.sequence(net.inputs(obs[None], last[None]), avail[None], h, torch.zeros(1, B, dtype=torch.bool))
        torch.testing.assert_close(value, net.value_norm.denormalize(raw[0]))
    assert float(value[:, 0].mean()) > 10 and float(value[:, 1].mean()) < 0


def test_each_learner_default_and_bad_values():
    task = {"task": "smax/3m"}
    defaults = {IPPOConfig: "clipped", ImitationConfig: "clipped", CentralPPOConfig: "clipped",
                MAPPOConfig: "normalized", ImitationCTDEConfig: "normalized", MATConfig: "normalized",
                ImitationMATConfig: "normalized"}
    for cls, wanted in defaults.items():
        assert cls.__dataclass_fields__["value_handling"].default == wanted, cls.__name__
    assert resolve(MAPPOConfig, task).value_handling == "normalized"
    with pytest.raises(ConfigError, match="value_handling.*clipped.*unclipped.*normalized"):
        resolve(IPPOConfig, {**task, "value_handling": "normalised"})


def test_normalized_ippo_run_saves_and_reloads_its_statistics(tmp_path):
    cfg = resolve(IPPOConfig, dict(task="smax/3m", num_envs=16, rollout_length=32, chunk_length=16, ppo_epochs=2,
                                   eval_interval=512, eval_episodes=8, checkpoint_interval=1024, total_env_steps=1024,
                                   torch_threads=1, precision="float32", compile="never",
                                   value_handling="normalized"))
    rows = train(cfg, tmp_path, progress=False)
    assert [r["env_steps"] for r in rows] == [0, 512, 1024]
    final = load_checkpoint(tmp_path / "final_model.pt")
    assert final["model"]["value_norm.mean"].shape == (3,) and (final["model"]["value_norm.debias"] > 0).all()
    net = acting_policy(final)
    assert torch.equal(net.value_norm.mean, final["model"]["value_norm.mean"])
