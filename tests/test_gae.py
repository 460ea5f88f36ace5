"""GAE kernel: equals the textbook recursion when everyone lives, never bootstraps past an episode's end, and
credits a dead agent's last action with the Monte-Carlo tail of the team reward."""
import numpy as np
import torch

from algorithms.common.gae import compute_gae


def reference_gae(r, v, done, last_v, gamma, lam):
    """CleanRL's single-agent recursion, one env, one agent."""
    T = len(r)
    adv = np.zeros(T)
    last = 0.0
    for t in reversed(range(T)):
        next_v = last_v if t == T - 1 else v[t + 1]
        nonterminal = 1.0 - done[t]
        delta = r[t] + gamma * next_v * nonterminal - v[t]
        last = delta + gamma * lam * nonterminal * last
        adv[t] = last
    return adv


def test_matches_reference_when_all_alive():
    rng = np.random.default_rng(0)
    T, N, K = 17, 3, 2
    r = rng.normal(size=(T, N, K))
    v = rng.normal(size=(T, N, K))
    done = rng.random((T, N)) < 0.2
    last_v = rng.normal(size=(N, K))
    adv, ret = compute_gae(torch.tensor(r), torch.tensor(v), torch.ones(T, N, K, dtype=torch.bool),
                           torch.tensor(done), torch.tensor(last_v), 0.99, 0.95)
    for n in range(N):
        for k in range(K):
            expected = reference_gae(r[:, n, k], v[:, n, k], done[:, n].astype(float), last_v[n, k], 0.99, 0.95)
            np.testing.assert_allclose(adv[:, n, k].numpy(), expected, rtol=1e-10)
    np.testing.assert_allclose(ret.numpy(), adv.numpy() + v)


def test_dead_agent_gets_monte_carlo_tail_and_no_bootstrap_past_done():
    gamma, lam = 0.9, 0.8
    T = 6
    r = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).view(T, 1, 1)
    v = torch.full((T, 1, 1), 100.0)  # values of dead observations inside an episode must never be used
    alive = torch.tensor([True, True, False, False, True, True]).view(T, 1, 1)
    done = torch.tensor([False, False, False, True, False, False]).view(T, 1)  # episode ends after step 3
    adv, ret = compute_gae(r, v, alive, done, torch.tensor([[7.0]]), gamma, lam)
    # step 1 is the last living step: its return is r1 + g r2 + g^2 r3 (the tail; episode ends after step 3)
    tail = 2.0 + gamma * 3.0 + gamma**2 * 4.0
    assert torch.isclose(adv[1, 0, 0], torch.tensor(tail - 100.0))
    assert torch.isclose(ret[1, 0, 0], torch.tensor(tail))
    # dead steps: no advantage; their value targets are the remaining tails
    assert adv[2, 0, 0] == 0 and adv[3, 0, 0] == 0
    assert torch.isclose(ret[2, 0, 0], torch.tensor(3.0 + gamma * 4.0)) and ret[3, 0, 0] == 4.0
    # step 0 bootstraps from step 1's value as usual
    delta0 = 1.0 + gamma * 100.0 - 100.0
    assert torch.isclose(adv[0, 0, 0], torch.tensor(delta0 + gamma * lam * (tail - 100.0)))
    # a new episode starts at step 4: nothing from it leaks into steps <= 3
    r2 = r.clone()
    r2[4:] += 50
    adv2, _ = compute_gae(r2, v, alive, done, torch.tensor([[7.0]]), gamma, lam)
    torch.testing.assert_close(adv2[:4], adv[:4])


def test_dead_at_rollout_end_bootstraps_with_own_value():
    gamma, lam = 0.9, 0.8
    r = torch.tensor([1.0, 2.0, 3.0]).view(3, 1, 1)
    v = torch.tensor([10.0, 20.0, 30.0]).view(3, 1, 1)
    alive = torch.tensor([True, False, False]).view(3, 1, 1)
    done = torch.zeros(3, 1, dtype=torch.bool)  # the episode goes on past the rollout
    adv, ret = compute_gae(r, v, alive, done, torch.tensor([[5.0]]), gamma, lam)
    tail = 2.0 + gamma * 3.0 + gamma**2 * 5.0  # rewards to the rollout's end + the dead agent's own bootstrap
    assert torch.isclose(adv[0, 0, 0], torch.tensor(1.0 + gamma * tail - 10.0))
    assert torch.isclose(ret[1, 0, 0], torch.tensor(tail))
