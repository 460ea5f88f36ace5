"""Per-agent discriminators: independent, learn to separate expert from policy rows, gradient penalty as defined."""
import torch

from algorithms.common.discriminator import Discriminators, discriminator_loss, gail_reward, sample_rows

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
        loss, stats = discriminator_loss(disc, sample_rows(expert_pools, 64, g), sample_rows(policy_pools, 64, g),
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
        loss, _ = discriminator_loss(disc, expert, p, 10.0, torch.Generator().manual_seed(1))
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
    # zero network: gradient 0 everywhere -> penalty (0 - 1)^2 = 1; BCE = 2 log 2
    _, stats = discriminator_loss(disc, torch.randn(1, 5, 2), torch.randn(1, 5, 2), 10.0,
                                  torch.Generator().manual_seed(0))
    assert abs(stats["disc_gp"] - 1.0) < 1e-6 and abs(stats["disc_bce"] - 2 * 0.6931472) < 1e-5
