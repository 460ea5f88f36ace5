"""Per-agent discriminators: independent, learn to separate expert from policy rows, gradient penalty as defined."""
import torch

from algorithms.common.imitation import (Discriminators, JointDiscriminator, bce_loss, gail_reward,
                                         sample_joint, sample_rows)

K, D = 3, 4


def test_learns_to_separate_and_stays_per_agent():
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    disc = Discriminators(K, D, hidden=32)
    opt = torch.optim.Adam(disc.parameters(), lr=1e-3)
    # agent k's expert rows sit at +k+1 on feature k, policy rows at 0 (different signals per agent)
    expert_pools = [torch.randn(500, D) * 0.3 + torch.nn.functional.one_hot(torch.tensor(k), D) * (k + 1)
                    for k in range(K)]
    policy_pools = [torch.randn(300 + 100 * k, D) * 0.3 for k in range(K)]
    for _ in range(300):
        loss, stats = bce_loss(disc, sample_rows(expert_pools, 64, g), sample_rows(policy_pools, 64, g),
                                         10.0, g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert stats["disc_expert_acc"] > 0.95 and stats["disc_policy_acc"] > 0.95
    with torch.no_grad():
        r_e = gail_reward(disc(torch.stack([p[:100] for p in expert_pools])))
        r_p = gail_reward(disc(torch.stack([p[:100] for p in policy_pools])))
    assert (r_e.mean(1) > r_p.mean(1)).all()


def test_no_gradient_crosses_agents():
    disc = Discriminators(K, D)
    expert, policy = torch.randn(K, 8, D), torch.randn(K, 8, D)
    policy_changed = policy.clone()
    policy_changed[2] += 5.0  # only agent 2's data differs
    grads = []
    for p in (policy, policy_changed):
        disc.zero_grad()
        loss, _ = bce_loss(disc, expert, p, 10.0, torch.Generator().manual_seed(1))
        loss.backward()
        grads.append([q.grad.clone() for q in disc.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(a[:2], b[:2])  # agents 0 and 1 unaffected
        assert not torch.equal(a[2], b[2])


def test_gradient_penalty_and_transforms():
    disc = Discriminators(1, 2)
    with torch.no_grad():  # D(x) = w.x: gradient norm |w| everywhere
        for layer in (disc.l1, disc.l2, disc.out):
            layer.weight.zero_()
            layer.bias.zero_()
    logits = torch.tensor([[-2.0, 0.0, 3.0]])
    d = torch.sigmoid(logits)
    torch.testing.assert_close(gail_reward(logits, "logit"), torch.log(d) - torch.log(1 - d))
    torch.testing.assert_close(gail_reward(logits, "softplus"), -torch.log(1 - d))
    torch.testing.assert_close(gail_reward(logits, "log_d"), torch.log(d))
    torch.testing.assert_close(gail_reward(logits, "two_sigmoid_minus_one"), 2 * d - 1)
    # zero network: gradient 0 everywhere -> penalty (0 - 1)^2 = 1; BCE = 2 log 2
    _, stats = bce_loss(disc, torch.randn(1, 5, 2), torch.randn(1, 5, 2), 10.0,
                                  torch.Generator().manual_seed(0))
    assert abs(stats["disc_gp"] - 1.0) < 1e-6 and abs(stats["disc_bce"] - 2 * 0.6931472) < 1e-5


def _joint_data(n, alive_p=0.8, expert=True, seed=0):
    g = torch.Generator().manual_seed(seed)
    alive = torch.rand(n, K, generator=g) < alive_p
    alive[:, 0] = True
    x = torch.randn(n, K, D, generator=g) * 0.3
    # feature 0 of agents 0 and 1 is +-1 with equal probability for both sources (same marginals); the expert's agents
    # agree in sign, the policy's disagree
    s = torch.sign(torch.randn(n, 1, generator=g))
    x[:, :2, 0] = torch.cat([s, s if expert else -s], 1) + 0.1 * torch.randn(n, 2, generator=g)
    return x * alive.unsqueeze(-1), alive


def test_joint_discriminators_learn_a_dependency_per_agent_ones_cannot():
    """Expert and policy rows have the same per-agent marginals but different joint structure (agents 0 and 1
    coordinated): only a joint discriminator can separate them."""
    expert, policy = _joint_data(4000), _joint_data(4000, expert=False, seed=1)
    results = {}
    for per_agent_logits in (True, False):
        torch.manual_seed(0)
        g = torch.Generator().manual_seed(0)
        disc = JointDiscriminator(K, D, hidden=32, per_agent_logits=per_agent_logits)
        opt = torch.optim.Adam(disc.parameters(), lr=3e-3)
        for _ in range(400):
            loss, stats = bce_loss(disc, sample_joint(*expert, 128, g), sample_joint(*policy, 128, g), 0.0, g)
            opt.zero_grad()
            loss.backward()
            opt.step()
        results[per_agent_logits] = stats
        assert stats["disc_expert_acc"] > 0.85 and stats["disc_policy_acc"] > 0.85, stats
        assert stats["disc_gp"] == 0.0  # gp_lambda 0: plain BCE (MAGAIL)
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    per_agent = Discriminators(K, D, hidden=32)
    opt = torch.optim.Adam(per_agent.parameters(), lr=3e-3)
    pools = lambda data: [data[0][data[1][:, k], k] for k in range(K)]  # noqa: E731
    for _ in range(400):
        loss, stats = bce_loss(per_agent, sample_rows(pools(expert), 128, g), sample_rows(pools(policy), 128, g),
                                         0.0, g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert (stats["disc_expert_acc"] + stats["disc_policy_acc"]) / 2 < 0.65, stats  # marginals alone: near chance


def test_joint_discriminator_trains_each_logit_on_living_agents_only():
    disc = JointDiscriminator(K, D, per_agent_logits=True)
    x, alive = torch.randn(16, K, D), torch.ones(16, K, dtype=torch.bool)
    alive[:, 2] = False  # agent 2 dead everywhere: its logit gets no gradient through the loss
    x = x * alive.unsqueeze(-1)
    loss, _ = bce_loss(disc, (x, alive), (x.flip(0), alive), 0.0, torch.Generator().manual_seed(0))
    loss.backward()
    assert torch.all(disc.out.weight.grad[0, :, 2] == 0) and torch.all(disc.out.bias.grad[0, :, 2] == 0)
    assert disc.out.weight.grad[0, :, :2].abs().sum() > 0
