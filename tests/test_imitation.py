"""DM² and GAIL-only: demonstrations are checked before anything runs; the mixed reward is r_env + c * logit on
living steps only; runs resume exactly; discriminator statistics are logged."""
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from algorithms.common.config import ConfigError, resolve
from algorithms.demos import DemoError, load_demos, sample_demonstrations, save_demos
from algorithms import registry
from algorithms.common.imitation import ImitationError, SelfImitationStore, agent_pools, demo_steps, one_hot_features
from algorithms.common.networks import StackedLinear
from algorithms.common.runio import load_checkpoint
from algorithms.imitation import EPISODE_STATS, AdversarialImitation as DM2, ImitationConfig as DM2Config
from algorithms.ippo import IPPOConfig, train

ARMS = {name: arm.settings for name, arm in registry.ARMS.items() if arm.learner == "imitation"}

TINY = dict(task="smax/3m", num_envs=16, rollout_length=32, chunk_length=16, ppo_epochs=2, eval_interval=512,
            eval_episodes=8, checkpoint_interval=512, total_env_steps=1024, torch_threads=1, precision="float32",
            compile="never")  # pinned, not auto: the same computation on every machine


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("dm2")
    train(resolve(IPPOConfig, {**TINY, "total_env_steps": 512}), root / "expert", progress=False)
    demos = sample_demonstrations([root / "expert"], "final", "cotrained_concurrent", episodes=12, seed=0,
                                  greedy_eval_episodes=8)
    save_demos(root / "demos.npz", demos)
    return root / "demos.npz"


def cfg(demo_file, config_cls=DM2Config, **kw):
    return resolve(config_cls, {**TINY, "demos": str(demo_file), "demo_episodes": 12, "gail_epochs": 3,
                               "gail_batch_rows": 64, **kw})


def test_bad_demonstrations_fail_before_anything_runs(demo_file, tmp_path):
    with pytest.raises(ConfigError, match="demos: a demonstration file is required"):
        resolve(DM2Config, TINY)
    with pytest.raises(DemoError, match="task 'smax/3m', but the consumer trains 'smax/8m'"):
        train(cfg(demo_file, task="smax/8m"), tmp_path / "run", progress=False, algo_cls=DM2)
    with pytest.raises(ConfigError, match="demo_episodes 13 exceeds the 12 episodes"):
        train(cfg(demo_file, demo_episodes=13), tmp_path / "run", progress=False, algo_cls=DM2)
    assert not (tmp_path / "run").exists()


def test_mixed_reward_only_on_living_steps(demo_file):
    algo = DM2(cfg(demo_file, gail_coef=0.5))
    algo.collect()
    seen = {}

    def capture(key):
        def ppo_update(rewards):
            seen[key] = rewards.clone()
            return {}
        return ppo_update

    algo.ppo_update = capture("r")
    stats = algo.update()
    buf, r = algo.buf, seen["r"]
    team = buf.rewards.unsqueeze(-1).expand_as(r)
    decided = buf.valid.unsqueeze(-1) & buf.alive
    torch.testing.assert_close(r[~decided], team[~decided])  # dead or padded: the team reward only
    assert (r[decided] != team[decided]).any()
    assert 0.0 <= stats["disc_expert_acc"] <= 1.0
    algo_g = DM2(cfg(demo_file, reward="gail"))
    algo_g.collect()
    algo_g.ppo_update = capture("g")
    algo_g.update()
    assert (seen["g"][~(algo_g.buf.valid.unsqueeze(-1) & algo_g.buf.alive)] == 0).all()  # no env reward at all


@pytest.mark.parametrize("arm,terminal", [("dm2", "none"), ("dm2_sil", "none"), ("magail_cent", "none"),
                                          ("magail_cent_mappo", "none"), ("mild2", "none"), ("dm2", "reference"),
                                          ("mild2", "absorbing")])
def test_imitation_run_resumes_exactly(demo_file, tmp_path, monkeypatch, arm, terminal):
    entry = registry.learner(registry.ARMS[arm].learner)  # the generator: IPPO's, MAPPO's or MAT's networks
    DM2 = entry.learner_cls
    c = cfg(demo_file, config_cls=entry.config_cls, **registry.ARMS[arm].settings, gail_terminal=terminal)
    train(c, tmp_path / "a", progress=False, algo_cls=DM2, arm=arm)
    a = pd.read_csv(tmp_path / "a" / "metrics.csv").drop(columns=["wall_time", "steps_per_s"])
    assert {"disc_loss", "gail_reward_mean", "gail_reward_std", *EPISODE_STATS} <= set(a.columns)
    assert a.episode_length.notna().any() and (a.episode_deaths.dropna().between(0, 1)).all()
    loss_columns = {"disc_bce", "disc_expert_acc"} if arm != "mild2" else {"disc_w_distance", "disc_w_omega"}
    assert loss_columns <= set(a.columns)
    resolved = yaml.safe_load((tmp_path / "a" / "config.yaml").read_text())
    assert resolved["algorithm"] == entry.name and resolved["arm"] == arm
    assert resolved["execution"] == registry.ARMS[arm].mode
    # the final model loads as the generator's acting policy
    final = load_checkpoint(tmp_path / "a" / "final_model.pt")
    net = entry.load().acting_policy(final)
    fresh = DM2(c)
    assert type(net) is type(fresh.net)
    fresh.disc.load_state_dict(final["discriminator"])  # the discriminator of the same step, with the model
    if arm != "dm2_sil":
        assert resolved["demonstrations"]["style"] == "cotrained_concurrent"
    else:  # self-imitation reads no demonstration file
        assert "demonstrations" not in resolved and a.sil_episodes.iloc[-1] > 0
    real = DM2.update
    calls = {"n": 0}

    def dying(self):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(self)

    monkeypatch.setattr(DM2, "update", dying)
    with pytest.raises(KeyboardInterrupt):
        train(c, tmp_path / "b", progress=False, algo_cls=DM2, arm=arm)
    monkeypatch.setattr(DM2, "update", real)
    train(c, tmp_path / "b", progress=False, algo_cls=DM2, arm=arm)
    pd.testing.assert_frame_equal(a, pd.read_csv(tmp_path / "b" / "metrics.csv").drop(columns=["wall_time",
                                                                                              "steps_per_s"]))


def test_arms_are_named_settings():
    for learner in ("imitation", "imitation_mat"):
        config_cls = registry.learner(learner).config_cls
        defaults = {f: config_cls.__dataclass_fields__[f].default for f in config_cls.__dataclass_fields__}
        for name, arm in registry.ARMS.items():
            if arm.learner == learner:
                c = resolve(config_cls, {**TINY, "demos": "x.npz", **arm.settings})
                assert registry.arm_for(learner, vars(c), defaults) == name
    defaults = {f: DM2Config.__dataclass_fields__[f].default for f in DM2Config.__dataclass_fields__}
    mixed = vars(resolve(DM2Config, {**TINY, "demos": "x.npz", **ARMS["magail_single"], "reward": "mixed"}))  # + env reward
    assert registry.arm_for("imitation", mixed, defaults) == ("imitation_gail_discriminator-joint_single_"
                                                               "gail_gp_lambda-0.0_gail_input-obs_action_"
                                                               "gail_reward_transform-two_sigmoid_minus_one")
    with pytest.raises(ConfigError, match="reward: env without bc_pretrain is plain IPPO"):
        resolve(DM2Config, {**TINY, "demos": "x.npz", "reward": "env"})
    resolve(DM2Config, {**TINY, **ARMS["dm2_sil"]})  # self-imitation needs no demonstrations
    for generator in ("imitation_ctde", "imitation_mat"):  # MAPPO's shared actor, MAT: no BC
        with pytest.raises(ConfigError, match="bc_pretrain: behaviour cloning is implemented for the IPPO generator"):
            resolve(registry.learner(generator).config_cls, {**TINY, "demos": "x.npz", "bc_pretrain": True})
    with pytest.raises(ConfigError, match="transformer .* needs gail_input: obs_action, got obs"):
        resolve(DM2Config, {**TINY, "demos": "x.npz", "gail_discriminator": "transformer"})


def test_self_imitation_store_keeps_the_best_episodes():
    store = SelfImitationStore(capacity=3)
    rows = lambda v: [torch.full((2, 4), float(v)), torch.full((1, 4), float(v))]  # noqa: E731
    for ret in [1.0, 5.0, 3.0, 0.5, 4.0, 3.0]:
        store.push(ret, rows(ret))
    assert sorted(r for r, _, _ in store.heap) == [3.0, 4.0, 5.0]  # 1.0 and 0.5 dropped; the later 3.0 tie lost
    pools = store.pools()
    assert pools[0].shape == (6, 4) and pools[1].shape == (3, 4) and set(pools[1][:, 0].tolist()) == {3.0, 4.0, 5.0}
    again = SelfImitationStore(capacity=3)
    again.load_state_dict(store.state_dict())
    assert [h[:2] for h in sorted(again.heap)] == [h[:2] for h in sorted(store.heap)]


def test_self_imitation_stores_own_finished_episodes():
    algo = DM2(cfg("", **ARMS["dm2_sil"]))
    algo.collect()
    buf = algo.buf
    algo.ppo_update = lambda rewards: {}
    stats = algo.update()
    finished = int((buf.dones & buf.valid).sum())
    assert stats["sil_episodes"] == len(algo.sil) == min(finished, algo.cfg.sil_capacity) > 0
    # env 0's first episode: its discounted return ranks it, its living rows are agent k's expert rows
    end = int(torch.nonzero(buf.dones[:, 0]).flatten()[0])
    expected = float((buf.rewards[: end + 1, 0] * 0.99 ** torch.arange(end + 1)).sum())
    entry = next(e for e in algo.sil.heap if abs(e[0] - expected) < 1e-5)
    for k in range(algo.spec.n_agents):
        torch.testing.assert_close(entry[2][k], buf.obs[: end + 1, 0, k][buf.alive[: end + 1, 0, k]])
    # the unfinished tail of every env is carried into the next rollout
    assert all(len(p) <= 1 for p in algo.partial)
    assert sum(len(p) for p in algo.partial) == int((~buf.dones[-1]).sum())


def test_bc_pretraining_fits_the_actors_and_leaves_the_critics(demo_file, tmp_path):
    # a demonstrator whose action is a function of the observation (the tiny expert's actions are near random)
    demos = load_demos(demo_file)
    score = demos.obs[..., :8].sum(-1) + 0.5 * demos.obs[..., 8:16].sum(-1)
    demos.actions = np.where(score > np.median(score[demos.alive]), 1, 2).astype(np.int16)
    save_demos(tmp_path / "rule.npz", demos)
    plain = DM2(cfg(tmp_path / "rule.npz", **ARMS["dm2"]))
    bc = DM2(cfg(tmp_path / "rule.npz", **ARMS["bc_ippo"], bc_epochs=40, bc_lr=3e-3, bc_batch_episodes=2,
                 bc_holdout=0.25))
    meta = bc.run_metadata["behaviour_cloning"]
    assert bc.name == "imitation" and meta["bc_epochs"] == 40
    # held-out demonstration episodes: well above the 0.5 of guessing between the two actions
    assert meta["bc_holdout_accuracy"] > 0.8, meta
    K = bc.spec.n_agents
    for (name, p0), p1 in zip(plain.net.named_parameters(), bc.net.parameters()):  # same seed -> same init
        if name.startswith("trunk."):
            assert torch.equal(p0[K:], p1[K:]), name  # critics untouched
            assert not torch.equal(p0[:K], p1[:K]), name
        elif name.startswith("critic_head"):
            assert torch.equal(p0, p1)
    assert bc.update_stats == ["pg_loss", "value_loss", "entropy", "approx_kl", "clip_frac"]  # no discriminator


def test_bc_alone_evaluates_the_cloned_policy_once_without_env_steps(demo_file, tmp_path):
    # the BC arm: its budget is 0 env steps (the only learner setting that allows it); one greedy evaluation at
    # step 0 of the cloned actors, whose snapshot is the final model
    bc_cfg = cfg(demo_file, **ARMS["bc"], bc_epochs=2)
    assert bc_cfg.total_env_steps == 0
    rows = train(bc_cfg, tmp_path / "bc", progress=False, algo_cls=DM2)
    assert [r["env_steps"] for r in rows] == [0]
    metrics = pd.read_csv(tmp_path / "bc" / "metrics.csv")
    assert len(metrics) == 1 and metrics.env_steps.iloc[0] == 0
    saved = yaml.safe_load((tmp_path / "bc" / "config.yaml").read_text())
    assert saved["config"]["total_env_steps"] == 0 and saved["behaviour_cloning"]["bc_epochs"] == 2
    # the cloned actors are what was saved: the same weights as a fresh BC of the same seed
    fresh = DM2(bc_cfg)
    saved_net = load_checkpoint(tmp_path / "bc" / "final_model.pt")["model"]
    for name, value in fresh.net.state_dict().items():
        assert torch.equal(saved_net[name], value), name
    # every other arm needs env steps: 0 fails with the reason
    for arm in ("dm2", "gail_only"):
        with pytest.raises(ConfigError, match="total_env_steps must be > 0, got 0 \\(0 is allowed only for "
                                              "behavioural cloning alone"):
            cfg(demo_file, **ARMS[arm], total_env_steps=0)
    with pytest.raises(ConfigError, match="total_env_steps must be > 0, got 0$"):
        resolve(IPPOConfig, {**TINY, "total_env_steps": 0})


def test_demo_max_transitions_keeps_the_first_joint_steps_for_every_discriminator(demo_file):
    demos = load_demos(demo_file)
    steps_all = demo_steps(demos, 12)
    total = int(steps_all.sum())
    cap = total // 3
    steps = demo_steps(demos, 12, cap)
    assert steps.sum() == cap and demo_steps(demos, 12, 10 * total).sum() == total  # a cap above the data: all
    flat, flat_all = steps.ravel(), steps_all.ravel()
    kept_at = np.flatnonzero(flat_all)
    assert flat[kept_at[:cap]].all() and not flat[kept_at[cap:]].any()  # the first ones, in episode order
    algos = {arm: DM2(cfg(demo_file, **ARMS[arm], demo_max_transitions=cap)) for arm in ("magail_dec", "magail_cent")}
    x, alive = algos["magail_cent"].expert
    assert len(x) == cap  # joint rows: one per kept time step
    for k, pool in enumerate(algos["magail_dec"].expert):  # per agent: its living steps among the same ones
        assert len(pool) == int((demos.alive[:12, :, k] & steps).sum()) == int(alive[:, k].sum())
    for algo in algos.values():
        assert algo.run_metadata["demonstrations"]["expert_transitions"] == cap
    assert DM2(cfg(demo_file, **ARMS["magail_cent"])).run_metadata["demonstrations"]["expert_transitions"] == total
    bc = DM2(cfg(demo_file, **ARMS["bc"], demo_max_transitions=cap, bc_epochs=1)).run_metadata["behaviour_cloning"]
    assert bc["bc_transitions"] == cap and bc["bc_episodes"] == int(steps.any(1).sum()) < 12  # BC: the same steps
    with pytest.raises(ConfigError, match="demo_max_transitions must be > 0 or null, got 0"):
        cfg(demo_file, demo_max_transitions=0)


def test_an_agent_without_living_expert_steps_is_refused():
    # 2 episodes x 3 steps, 2 agents; agent 1 lives only in the second episode: a cap of 3 joint steps keeps the
    # first episode only, where agent 1 has no row for its discriminator to learn from
    alive = np.ones((2, 3, 2), bool)
    alive[0, :, 1] = False
    demos = SimpleNamespace(obs=np.zeros((2, 3, 2, 4), np.float32), actions=np.zeros((2, 3, 2), np.int64),
                            alive=alive)
    features = one_hot_features(5, True)
    assert [len(p) for p in agent_pools(demos, demo_steps(demos, 2), features)] == [6, 3]
    with pytest.raises(ImitationError, match=r"agents \[1\] have no living step among the first 3 joint"):
        agent_pools(demos, demo_steps(demos, 2, max_transitions=3), features)


def test_state_action_discriminator_reads_actions(demo_file):
    algo = DM2(cfg(demo_file, **ARMS["dm2_state_action"]))
    assert algo.disc.in_dim == algo.spec.obs_dim + algo.spec.n_actions
    assert algo.expert[0].shape[1] == algo.disc.in_dim
    assert ((algo.expert[0][:, algo.spec.obs_dim:].sum(1)) == 1).all()  # one-hot actions


def rewards_of_one_update(algo):
    """Collect a rollout and run the update's reward hook, capturing the rewards the PPO update would receive: (the
    rewards [T, N, K], where agents acted [T, N, K], the discriminator's statistics)."""
    algo.collect()
    seen = {}

    def capture(rewards):
        seen["r"] = rewards
        return {}
    algo.ppo_update = capture
    stats = algo.update()
    return seen["r"], algo.buf.valid.unsqueeze(-1) & algo.buf.alive, stats


def test_magail_arms_reward_in_range_and_joint_ones_need_concurrent_demos(demo_file, tmp_path):
    for arm in ("magail_dec", "magail_cent", "magail_single", "magail_cent_mappo"):
        entry = registry.learner(registry.ARMS[arm].learner)  # the same hook on IPPO's and on MAPPO's generator
        algo = entry.learner_cls(cfg(demo_file, config_cls=entry.config_cls, **registry.ARMS[arm].settings))
        assert algo.disc.joint == (arm != "magail_dec") and algo.uses_state == (arm == "magail_cent_mappo")
        r, decided, stats = rewards_of_one_update(algo)
        assert ((r[decided] > -1) & (r[decided] < 1)).all()  # 2σ(logit) - 1, pure imitation: no team reward
        assert (r[~decided] == 0).all() and 0 <= stats["disc_policy_acc"] <= 1
        if arm == "magail_single":  # one team logit: every living agent of a step gets the same reward
            high = torch.where(decided, r, torch.full_like(r, -9.0)).amax(-1)
            low = torch.where(decided, r, torch.full_like(r, 9.0)).amin(-1)
            steps = decided.any(-1)
            torch.testing.assert_close(high[steps], low[steps])
    # expert joint rows keep the agents of one time step together, dead agents zeroed
    algo = DM2(cfg(demo_file, **ARMS["magail_cent"]))
    x, alive = algo.expert
    demos = load_demos(demo_file)
    E = 12
    any_alive = demos.alive[:E].any(-1)
    assert x.shape == (int(any_alive.sum()), demos.obs.shape[2], demos.obs.shape[3] + algo.spec.n_actions)
    torch.testing.assert_close(x[0, :, : demos.obs.shape[3]],
                               torch.as_tensor(demos.obs[:E][any_alive][0] * demos.alive[:E][any_alive][0, :, None]))
    # non-concurrent demonstrations have no joint rows: a clear error before training
    nonconc = load_demos(demo_file)
    nonconc.metadata = {**nonconc.metadata, "style": "cotrained_nonconcurrent", "concurrent": False}
    save_demos(tmp_path / "nonconc.npz", nonconc)
    with pytest.raises(ConfigError, match="joint discriminator needs joint rows.*cotrained_nonconcurrent"):
        DM2(cfg(tmp_path / "nonconc.npz", **ARMS["magail_cent"]))
    DM2(cfg(tmp_path / "nonconc.npz", **ARMS["magail_dec"]))  # per-agent rows: any style


def test_mat_generator_arms_share_the_generator_not_the_discriminator(demo_file, tmp_path):
    """MAGAIL on MAT, MILD²-GD and MILD²: one generator (MAT), pure imitation; rewards 2σ(d) - 1 or softplus(d) on
    living steps only; the joint ones refuse non-concurrent demonstrations, all refuse another task's, before
    training."""
    entry = registry.learner("imitation_mat")
    kinds = {"magail_mat": "JointDiscriminator", "mild2_gd": "Discriminators", "mild2": "TransformerDiscriminator"}
    for arm, kind in kinds.items():
        algo = entry.learner_cls(cfg(demo_file, config_cls=entry.config_cls, **registry.ARMS[arm].settings))
        assert type(algo.disc).__name__ == kind and type(algo.net).__name__ == "MATPolicy"
        assert registry.ARMS[arm].mode.startswith("centralized sequential")
        spectral = [hasattr(m, "parametrizations") for m in algo.disc.modules()
                    if isinstance(m, (torch.nn.Linear, StackedLinear))]
        assert all(spectral) == (arm != "magail_mat") and any(spectral) == (arm != "magail_mat")
        r, decided, stats = rewards_of_one_update(algo)
        assert (r[~decided] == 0).all() and r[decided].std() > 0
        if arm == "magail_mat":
            assert ((r[decided] > -1) & (r[decided] < 1)).all() and "disc_bce" in stats
        else:  # softplus(d) > 0; the Wasserstein statistics
            assert (r[decided] > 0).all() and {"disc_w_distance", "disc_w_omega"} <= set(stats)
            assert abs(stats["gail_reward_std"] - float(r[decided].std())) < 1e-5
    nonconc = load_demos(demo_file)
    nonconc.metadata = {**nonconc.metadata, "style": "cotrained_nonconcurrent", "concurrent": False}
    save_demos(tmp_path / "nonconc.npz", nonconc)
    mild2 = registry.ARMS["mild2"].settings
    with pytest.raises(ConfigError, match="joint discriminator needs joint rows.*cotrained_nonconcurrent"):
        entry.learner_cls(cfg(tmp_path / "nonconc.npz", config_cls=entry.config_cls, **mild2))
    entry.learner_cls(cfg(tmp_path / "nonconc.npz", config_cls=entry.config_cls,
                          **registry.ARMS["mild2_gd"].settings))  # per-agent rows: any style
    with pytest.raises(DemoError, match="task 'smax/3m', but the consumer trains 'smax/8m'"):
        train(cfg(demo_file, config_cls=entry.config_cls, task="smax/8m", **mild2), tmp_path / "run", progress=False,
              algo_cls=entry.learner_cls)
    two = load_demos(demo_file)  # the task's name, two agents' columns
    two.obs, two.actions, two.alive = two.obs[:, :, :2], two.actions[:, :, :2], two.alive[:, :, :2]
    two.length, two.returns, two.won = two.length[:, :2], two.returns[:, :2], two.won[:, :2]
    save_demos(tmp_path / "two.npz", two)
    with pytest.raises(DemoError, match="has 2 agents' demonstrations, but the task has 3 agents"):
        train(cfg(tmp_path / "two.npz", config_cls=entry.config_cls, **mild2), tmp_path / "run", progress=False,
              algo_cls=entry.learner_cls)
    assert not (tmp_path / "run").exists()
