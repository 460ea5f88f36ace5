"""Terminal handling of imitation rewards (``gail_terminal``): the absorbing state of DAC is an input of its own,
rewarded on dead steps and bootstrapped at a terminated episode's end as gamma * r_D(s_a) / (1 - gamma); the DM²
reference code's padding is a discounted tail of r_D(0) to the episode limit; both sides of the discriminator see
the terminal rows in the stated numbers; truncated episodes get no tail; the per-episode statistics carry over
rollouts."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from algorithms.common.config import ConfigError, resolve
from algorithms.common.gae import compute_gae
from algorithms.common.imitation import (AdversarialReward, EpisodeEnds, gail_reward, one_hot_features,
                                         tail_weight, terminal_expert, terminal_row)
from algorithms.configs.imitation import ImitationConfig
from algorithms.imitation import EPISODE_STATS, ImitationOnPolicy

GAMMA, LIMIT = 0.9, 10
SPEC = SimpleNamespace(n_agents=2, obs_dim=3, n_actions=2, episode_limit=LIMIT)


def disc_cfg(terminal, discriminator="per_agent", **kw):
    return SimpleNamespace(gail_terminal=terminal, gail_discriminator=discriminator, gail_input="obs",
                           gail_hidden=8, gail_spectral_norm=False, gail_lr=1e-3, gail_loss="bce",
                           gail_gp_lambda=0.0, gail_reward_transform="logit", gail_batch_rows=16, gail_epochs=2,
                           **kw)


def rollout():
    """One env, T = 6: agent 1 dies after step 1; the episode terminates with step 3 (length 4); a new episode runs
    steps 4-5 and goes on past the rollout."""
    T, N, K = 6, 1, 2
    alive = torch.ones(T, N, K, dtype=torch.bool)
    alive[2:4, 0, 1] = False
    dones, terminated = torch.zeros(T, N, dtype=torch.bool), torch.zeros(T, N, dtype=torch.bool)
    dones[3], terminated[3] = True, True
    length = torch.zeros(T, N, dtype=torch.long)
    length[3] = 4
    return SimpleNamespace(alive=alive, dones=dones, terminated=terminated, won=torch.zeros(T, N, dtype=torch.bool),
                           episode_length=length, valid=torch.ones(T, N, dtype=torch.bool))


def test_tail_weights_sum_the_discounted_terminal_steps():
    length = torch.tensor([4, LIMIT])
    expected_reference = [sum(GAMMA ** j for j in range(1, LIMIT - 4 + 1)), 0.0]
    torch.testing.assert_close(tail_weight(length, LIMIT, GAMMA, "reference"), torch.tensor(expected_reference))
    torch.testing.assert_close(tail_weight(length, LIMIT, 1.0, "reference"), torch.tensor([6.0, 0.0]))
    torch.testing.assert_close(tail_weight(length, LIMIT, GAMMA, "absorbing"), torch.full((2,), GAMMA / (1 - GAMMA)))


def test_absorbing_transition_is_rewarded_and_bootstrapped():
    torch.manual_seed(0)
    reward = AdversarialReward(disc_cfg("absorbing"), SPEC, torch.Generator().manual_seed(0))
    features = one_hot_features(SPEC.n_actions, False, absorbing=True)
    buf = rollout()
    obs = torch.randn(6, 1, 2, SPEC.obs_dim)
    x = features(obs, torch.zeros(6, 1, 2))
    assert (x[..., SPEC.obs_dim] == 0).all() and reward.terminal[SPEC.obs_dim] == 1  # the indicator: s_a only
    decided = buf.valid.unsqueeze(-1) & buf.alive
    ends = EpisodeEnds.of(buf, LIMIT, GAMMA, "absorbing")
    assert ends.n_tail == 1  # one absorbing row per terminated episode on the policy's side
    r = reward.rewards(x, decided, ends)
    with torch.no_grad():
        d = reward.disc(x[:, 0].movedim(1, 0)).movedim(0, 1)  # [T, K] logits of the real rows
        r_a = reward.disc(reward.terminal.expand(2, 1, -1))[:, 0]  # [K] r_D(s_a), per agent's discriminator
    v_a = r_a / (1 - GAMMA)  # s_a loops on itself with reward r_D(s_a)
    torch.testing.assert_close(r[:3, 0, 0], d[:3, 0])  # living steps: the real rows
    torch.testing.assert_close(r[3, 0, 0], d[3, 0] + GAMMA * v_a[0])  # the terminal step: + gamma V(s_a)
    torch.testing.assert_close(r[:2, 0, 1], d[:2, 1])
    torch.testing.assert_close(r[2, 0, 1], r_a[1])  # dead: in s_a
    torch.testing.assert_close(r[3, 0, 1], r_a[1] + GAMMA * v_a[1])
    torch.testing.assert_close(r[4:, 0], d[4:])  # the next episode: nothing carried over
    # the bootstrap: no value is read past the end, the tail is the absorbing state's value, exactly
    values = torch.randn(6, 1, 2)
    _, returns = compute_gae(r, values, buf.alive, buf.dones, torch.zeros(1, 2), GAMMA, 1.0)
    torch.testing.assert_close(returns[3, 0, 0], d[3, 0] + GAMMA * v_a[0])
    # agent 1's last action (step 1) is credited with its absorbing steps, discounted
    torch.testing.assert_close(returns[1, 0, 1], d[1, 1] + GAMMA * r_a[1] + GAMMA ** 2 * (r_a[1] + GAMMA * v_a[1]))
    # truncated: the same episode ending at the limit gets no tail
    buf.terminated[3] = False
    torch.testing.assert_close(reward.rewards(x, decided, EpisodeEnds.of(buf, LIMIT, GAMMA, "absorbing"))[3, 0, 0],
                               d[3, 0])


def test_policy_side_counts_dead_steps_and_tails():
    buf = rollout()
    x = torch.randn(6, 1, 2, SPEC.obs_dim)
    decided = buf.valid.unsqueeze(-1) & buf.alive
    per_agent = AdversarialReward(disc_cfg("reference"), SPEC, torch.Generator())
    ends = EpisodeEnds.of(buf, LIMIT, GAMMA, "reference")
    assert ends.n_tail == LIMIT - 4  # the padding of the terminated episode
    pools = per_agent.policy_pools(x, decided, ends)
    assert [len(p.rows) for p in pools] == [6, 4] and [p.n_terminal for p in pools] == [6, 2 + 6]
    batch = pools[1].sample(4000, torch.Generator().manual_seed(1))
    zero = (batch == 0).all(-1).float().mean()
    assert abs(float(zero) - 8 / 12) < 0.03  # terminal rows drawn in proportion
    joint = AdversarialReward(disc_cfg("absorbing", "joint"), SPEC, torch.Generator())
    features = one_hot_features(SPEC.n_actions, False, absorbing=True)
    pool = joint.policy_pools(features(x, torch.zeros(6, 1, 2)), decided, EpisodeEnds.of(buf, LIMIT, GAMMA,
                                                                                          "absorbing"))
    assert pool.rows.shape == (6, 2, SPEC.obs_dim + 1) and pool.n_terminal == 1 and pool.alive.all()
    assert (pool.rows[2:4, 1] == joint.terminal).all()  # dead agent 1: the absorbing row, its logit trained
    assert (pool.rows[:, 0, SPEC.obs_dim] == 0).all()


def fake_demos(concurrent=True):
    """Two episodes of 2 agents, T = LIMIT: one won in 3 steps (agent 1 died after step 0), one truncated."""
    E, T, K = 2, LIMIT, 2
    alive = np.zeros((E, T, K), bool)
    alive[0, :3, 0], alive[0, :1, 1] = True, True
    alive[1, :, :] = True
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(E, T, K, SPEC.obs_dim)).astype(np.float32) * alive[..., None]
    return SimpleNamespace(alive=alive, obs=obs, actions=np.zeros((E, T, K), np.int16),
                           length=np.array([[3, 3], [LIMIT, LIMIT]], np.int32),
                           won=np.array([[True, True], [False, False]]), metadata={"concurrent": concurrent})


@pytest.mark.parametrize("mode,tail", [("reference", LIMIT - 3), ("absorbing", 1)])
def test_expert_side_counts_dead_steps_and_tails(mode, tail):
    demos = fake_demos()
    steps = demos.alive.any(-1)
    cfg = disc_cfg(mode)
    features = one_hot_features(SPEC.n_actions, False, absorbing=mode == "absorbing")
    terminal = terminal_row(cfg, SPEC)
    pools = terminal_expert(demos, steps, features, terminal, False, LIMIT, mode)
    assert [len(p.rows) for p in pools] == [3 + LIMIT, 1 + LIMIT]
    assert [p.n_terminal for p in pools] == [tail, 2 + tail]  # agent 1's two dead steps; the won episode's tail
    joint = terminal_expert(demos, steps, features, terminal, True, LIMIT, mode)
    assert joint.rows.shape[:2] == (3 + LIMIT, 2) and joint.n_terminal == tail and joint.alive.all()
    assert (joint.rows[1:3, 1] == terminal).all()
    # a cap that cuts the won episode drops its tail (it did not end in the kept steps)
    cut = terminal_expert(demos, steps & (np.cumsum(steps.ravel()).reshape(steps.shape) <= 2), features, terminal,
                          False, LIMIT, mode)
    assert [p.n_terminal for p in cut] == [0, 1]
    with pytest.raises(Exception, match="concurrent"):
        terminal_expert(fake_demos(concurrent=False), steps, features, terminal, True, LIMIT, mode)


def test_reference_rewards_padding_as_a_zero_row_tail():
    reward = AdversarialReward(disc_cfg("reference", "joint"), SPEC, torch.Generator())
    buf = rollout()
    x = torch.randn(6, 1, 2, SPEC.obs_dim)
    decided = buf.valid.unsqueeze(-1) & buf.alive
    r = reward.rewards(x, decided, EpisodeEnds.of(buf, LIMIT, GAMMA, "reference"))
    with torch.no_grad():
        zero_row = gail_reward(reward.disc(torch.zeros(1, 2, SPEC.obs_dim)))[0]  # [K]
        dead_row = reward.disc(x[3, :1] * decided[3, 0].unsqueeze(-1))[0]
    padding = sum(GAMMA ** j for j in range(1, LIMIT - 4 + 1))
    torch.testing.assert_close(r[3, 0], dead_row + padding * zero_row)
    torch.testing.assert_close(r[2, 0, 1], reward.disc(x[2, :1] * decided[2, 0].unsqueeze(-1))[0, 1])


def test_episode_statistics_carry_over_rollouts():
    buf = rollout()
    buf.won[3] = True  # agent 1 died before the end; a won battle kills nobody else
    learner = SimpleNamespace(buf=buf, T=6, episode_imitation=torch.tensor([[1.0, 3.0]]))  # from a rollout before
    imitation = torch.ones(6, 1, 2)
    stats = ImitationOnPolicy._episode_stats(learner, imitation)
    assert list(stats) == EPISODE_STATS
    assert stats == {"episode_imitation_reward": (1 + 4 + 3 + 4) / 2, "episode_length": 4.0, "episode_deaths": 0.5}
    torch.testing.assert_close(learner.episode_imitation, torch.tensor([[2.0, 2.0]]))  # the next episode's so far
    buf.won[3] = False  # lost: everyone died
    learner.episode_imitation.zero_()
    assert ImitationOnPolicy._episode_stats(learner, imitation)["episode_deaths"] == 1.0
    buf.dones[3] = False
    assert all(np.isnan(v) for v in ImitationOnPolicy._episode_stats(learner, imitation).values())


def test_terminal_handling_settings_are_checked():
    base = {"task": "smax/3m", "demos": "x.npz"}
    assert resolve(ImitationConfig, base).gail_terminal == "none"
    with pytest.raises(ConfigError, match="gail_terminal"):
        resolve(ImitationConfig, {**base, "gail_terminal": "padded"})
    with pytest.raises(ConfigError, match="needs demonstrations"):
        resolve(ImitationConfig, {**base, "gail_terminal": "absorbing", "gail_expert": "self"})
    with pytest.raises(ConfigError, match="gamma < 1"):
        resolve(ImitationConfig, {**base, "gail_terminal": "absorbing", "gamma": 1.0})
