"""MILD²'s discriminator (algorithms/common/imitation.py): spectral normalisation keeps every linear layer at spectral
norm <= 1 after training, the transformer's logit k reads every agent's observation and action while MILD²-GD's reads
its own only, Eq. 6's Wasserstein loss matches a plain loop, the joint discriminator learns a dependency that
per-agent ones cannot, and bad demonstrations fail before training."""
import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from algorithms.common.imitation import (Discriminators, SpectralNorm, TransformerDiscriminator, gail_reward,
                                         sample_joint, sample_rows, spectral_norm_, wasserstein_loss)
from algorithms.common.networks import StackedLinear

K, O, A = 3, 5, 4


def linear_weights(module: nn.Module):
    """The effective (normalised) weight of every linear layer, as matrices [..., rows, cols]."""
    return [layer.weight for layer in module.modules() if isinstance(layer, (nn.Linear, StackedLinear))]


def joint_rows(n, seed=0, alive_p=1.0):
    g = torch.Generator().manual_seed(seed)
    obs = torch.randn(n, K, O, generator=g)
    actions = torch.nn.functional.one_hot(torch.randint(A, (n, K), generator=g), A).float()
    alive = torch.rand(n, K, generator=g) < alive_p
    alive[:, 0] = True
    return torch.cat([obs, actions], -1) * alive.unsqueeze(-1), alive


def test_spectral_norm_normalises_each_stacked_net_by_its_own_norm():
    torch.manual_seed(0)
    weight = torch.randn(4, 7, 5) * torch.tensor([0.5, 1.0, 3.0, 10.0]).view(4, 1, 1)
    normalised = SpectralNorm()(weight)
    torch.testing.assert_close(torch.linalg.matrix_norm(normalised, ord=2), torch.ones(4))
    for g in range(4):  # each net by its own sigma: the directions are unchanged
        torch.testing.assert_close(normalised[g] * torch.linalg.matrix_norm(weight[g], ord=2), weight[g])


@pytest.mark.parametrize("kind", ["transformer", "per_agent"])
def test_every_linear_layer_has_spectral_norm_one_after_training(kind):
    torch.manual_seed(0)
    disc = (TransformerDiscriminator(K, O, A, width=16) if kind == "transformer"
            else Discriminators(K, O + A, hidden=16))
    spectral_norm_(disc)
    n_linear = len(linear_weights(disc))
    # every one: 2 embeddings, 3 per L2 attention (tied query-key, value, output), 2 per MLP, 2 in the head
    assert n_linear == (17 if kind == "transformer" else 3)
    assert all(hasattr(layer, "parametrizations") for layer in disc.modules()
               if isinstance(layer, (nn.Linear, StackedLinear)))
    opt = torch.optim.Adam(disc.parameters(), lr=1e-2)  # large steps
    expert, policy = joint_rows(64, 0), joint_rows(64, 1)
    if kind == "per_agent":
        expert, policy = expert[0].transpose(0, 1), policy[0].transpose(0, 1)
    for _ in range(50):
        loss, _ = wasserstein_loss(disc, expert, policy, 0.1)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        norms = torch.cat([torch.linalg.matrix_norm(w, ord=2).flatten() for w in linear_weights(disc)])
        raw = torch.cat([torch.linalg.matrix_norm(layer.parametrizations.weight.original, ord=2).flatten()
                         for layer in disc.modules() if isinstance(layer, (nn.Linear, StackedLinear))])
    torch.testing.assert_close(norms, torch.ones_like(norms))  # every layer (every agent's): norm 1
    assert (raw - 1).abs().max() > 0.05  # while the raw weights' norms have moved


def test_transformer_logits_read_every_agent_while_per_agent_ones_read_their_own():
    torch.manual_seed(0)
    joint = spectral_norm_(TransformerDiscriminator(K, O, A, width=16))  # as MILD² builds them
    own = spectral_norm_(Discriminators(K, O + A, hidden=16))
    x, _ = joint_rows(6)
    for agent in range(K):
        for part in (slice(0, O), slice(O, O + A)):  # its observation, then its action
            changed = x.clone()
            changed[:, agent, part] = torch.roll(changed[:, agent, part], 1, -1) + 0.5
            with torch.no_grad():
                delta_joint = (joint(changed) - joint(x)).abs().amax(0)  # [K]
                delta_own = (own(changed.transpose(0, 1)) - own(x.transpose(0, 1))).abs().amax(1)
            assert (delta_joint > 1e-3).all(), (agent, part, delta_joint)  # every logit: joint
            assert delta_own[agent] > 1e-6 and (delta_own[torch.arange(K) != agent] == 0).all()


def plain_wasserstein(d_y, d_x, y_rows, x_rows, y_alive, x_alive, eps, omega, cost_scale=1.0):
    """Eq. 6 for one agent by loops: its mean potential on living expert rows minus on living policy rows, plus the
    regulariser averaged over pairs of living rows (ground cost: the rows' distance times ``cost_scale``)."""
    e = [float(d) for d, a in zip(d_y, y_alive) if a]
    p = [float(d) for d, a in zip(d_x, x_alive) if a]
    reg = []
    for i in range(len(d_x)):
        for j in range(len(d_y)):
            if x_alive[i] and y_alive[j]:
                gap = float(d_y[j]) - float(d_x[i]) - cost_scale * math.dist(x_rows[i].tolist(), y_rows[j].tolist())
                gap = max(gap, 0.0) if omega == "hinge" else gap
                reg.append(-gap ** 2 / (4 * eps))
    return sum(e) / len(e) - sum(p) / len(p) + sum(reg) / len(reg)


@pytest.mark.parametrize("omega", ["hinge", "literal"])
def test_wasserstein_loss_matches_a_plain_loop(omega):
    torch.manual_seed(0)
    eps = 0.3
    joint = TransformerDiscriminator(K, O, A, width=16)
    with torch.no_grad():  # logits of a few units, so that the hinge's both sides occur
        joint.head[-1].weight.mul_(300.0)
    expert, policy = joint_rows(7, 0, alive_p=0.6), joint_rows(5, 1, alive_p=0.6)
    loss, stats = wasserstein_loss(joint, expert, policy, eps, omega)
    with torch.no_grad():
        d_y, d_x = joint(expert[0]), joint(policy[0])
    expected = sum(plain_wasserstein(d_y[:, k], d_x[:, k], expert[0].flatten(1), policy[0].flatten(1),
                                     expert[1][:, k], policy[1][:, k], eps, omega, 1 / math.sqrt(K))
                   for k in range(K))  # the joint rows' distance over sqrt(K): the per-agent cost's scale
    assert abs(float(loss.detach()) + expected) < 1e-4 * max(1.0, abs(expected))
    assert stats["disc_loss"] == float(loss.detach())

    own = Discriminators(K, O + A, hidden=16)
    with torch.no_grad():
        own.out.weight.mul_(20.0)
    y, x = torch.randn(K, 6, O + A), torch.randn(K, 4, O + A)
    loss, _ = wasserstein_loss(own, y, x, eps, omega)
    with torch.no_grad():
        d_y, d_x = own(y), own(x)
    expected = sum(plain_wasserstein(d_y[k], d_x[k], y[k], x[k], [True] * 6, [True] * 4, eps, omega)
                   for k in range(K))
    assert abs(float(loss.detach()) + expected) < 1e-4 * max(1.0, abs(expected))
    if omega == "hinge":  # the two readings differ here: some pairs sit below their distance
        literal, _ = wasserstein_loss(own, y, x, eps, "literal")
        assert float(literal) > float(loss.detach())


def coordinated(n, expert, seed):
    """Joint rows with equal per-agent marginals: each agent's action is uniform; the expert's agents all take the
    same action, the policy's independent ones."""
    g = torch.Generator().manual_seed(seed)
    obs = torch.randn(n, K, O, generator=g) * 0.1
    first = torch.randint(A, (n, 1), generator=g)
    actions = first.expand(n, K) if expert else torch.randint(A, (n, K), generator=g)
    x = torch.cat([obs, torch.nn.functional.one_hot(actions, A).float()], -1)
    return x, torch.ones(n, K, dtype=torch.bool)


def test_transformer_critic_learns_a_joint_dependency_per_agent_critics_cannot():
    """With Eq. 6's loss, spectral normalisation and the softplus reward: MILD²'s critic rewards the coordinated
    (expert) joint actions above the independent ones; MILD²-GD's per-agent critics see equal marginals and cannot."""
    expert, policy = coordinated(2000, True, 0), coordinated(2000, False, 1)
    test_e, test_p = coordinated(500, True, 2), coordinated(500, False, 3)
    gaps = {}
    for kind in ("transformer", "per_agent"):
        torch.manual_seed(0)
        g = torch.Generator().manual_seed(0)
        disc = spectral_norm_(TransformerDiscriminator(K, O, A, width=32) if kind == "transformer"
                              else Discriminators(K, O + A, hidden=32))
        opt = torch.optim.Adam(disc.parameters(), lr=5e-4)
        for _ in range(300):
            e, p = sample_joint(*expert, 128, g), sample_joint(*policy, 128, g)
            if kind == "per_agent":
                e, p = sample_rows(list(e[0].unbind(1)), 128, g), sample_rows(list(p[0].unbind(1)), 128, g)
            loss, _ = wasserstein_loss(disc, e, p, 0.1)
            opt.zero_grad()
            loss.backward()
            opt.step()
        disc.eval()
        with torch.no_grad():
            if kind == "transformer":
                r_e, r_p = gail_reward(disc(test_e[0]), "softplus"), gail_reward(disc(test_p[0]), "softplus")
            else:
                r_e = gail_reward(disc(test_e[0].transpose(0, 1)), "softplus")
                r_p = gail_reward(disc(test_p[0].transpose(0, 1)), "softplus")
        gaps[kind] = float(r_e.mean() - r_p.mean()) / float(torch.cat([r_e.flatten(), r_p.flatten()]).std())
    assert gaps["transformer"] > 1.0, gaps  # expert rewarded a standard deviation above the policy
    assert abs(gaps["per_agent"]) < 0.2, gaps  # marginals alone: no separation


def test_reward_transforms_of_mild2():
    d = torch.tensor([-2.0, 0.0, 3.0])
    torch.testing.assert_close(gail_reward(d, "softplus"), -torch.log(torch.sigmoid(-d)))  # MILD²'s coherent reading
    torch.testing.assert_close(gail_reward(d, "neg_log_sigmoid"), -torch.log(torch.sigmoid(d)))  # as printed
    assert torch.all(gail_reward(d, "softplus").diff() > 0) and torch.all(gail_reward(d, "neg_log_sigmoid").diff() < 0)
