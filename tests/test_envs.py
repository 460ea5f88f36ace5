"""Env contract: names, shapes, seeding, auto-reset, episode accounting, win detection, masks, no recompiles."""
import numpy as np
import pytest

import envs

PAPER_MAPS = {  # map: (agents, obs dim, actions, SMAC episode limit) -- SMAX dims from ../shared/reference
    "5m_vs_6m": (5, 140, 11, 70),
    "3s_vs_4z": (3, 88, 9, 200),
    "3s_vs_3z": (3, 75, 8, 150),
    "3s_vs_5z": (3, 101, 10, 250),
    "8m_vs_9m": (8, 218, 14, 120),
}


def random_actions(rng, avail):
    return (rng.random(avail.shape) * avail).argmax(-1)


def test_task_names_and_errors():
    tasks = envs.list_tasks()
    for m in PAPER_MAPS:
        assert f"smax/{m}" in tasks
    assert {"mpe/spread_3", "mpe/spread_6", "mpe/speaker_listener", "mpe/reference"} <= set(tasks)
    with pytest.raises(ValueError, match=r"unknown task 'smax/5m_vs_7m'.*smax/5m_vs_6m"):
        envs.make("smax/5m_vs_7m")
    with pytest.raises(ValueError, match="unknown backend 'sc2'.*smax, mpe, smac"):
        envs.make("sc2/3m")
    with pytest.raises(ValueError, match="must look like"):
        envs.make("3m")
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['local_ratio'\]"):
        envs.make("smax/3m", local_ratio=0.5)


def test_stored_task_specs_are_the_live_ones():
    """envs/task_specs.json, which task_spec() and list_tasks() read without JAX, is what jaxmarl computes now (every
    task of every embedded backend, at the default options): when this fails, run python -m envs.task_specs --write."""
    from envs import task_specs

    live = task_specs.live_specs()  # builds every env without jit: a few seconds
    assert task_specs.TABLE.read_text() == task_specs.render(live), "stale: run python -m envs.task_specs --write"
    assert task_specs.table() == live and list(task_specs.table()) == list(live)
    assert envs.list_tasks() == list(live)
    for name, spec in live.items():
        assert envs.task_spec(name) == spec, name


def test_task_spec_options_are_computed_live():
    """Options change the spec (reward_scale) or the env (local_ratio): such specs never come from the table."""
    from envs.mpe import mpe_spec
    from envs.smax import smax_spec

    assert envs.task_spec("smax/3m", reward_scale=2.0) == smax_spec("3m", reward_scale=2.0)
    assert envs.task_spec("smax/3m", reward_scale=2.0).reward_scale == 2.0
    assert envs.task_spec("mpe/spread_3", reward_scale=3.0, local_ratio=0.5) == mpe_spec("spread_3", 0.5, 3.0)
    assert envs.task_spec("mpe/spread_3").reward_scale == 1.0 and envs.task_spec("smax/3m").reward_scale == 10.0


def test_a_stale_task_table_is_not_used(monkeypatch):
    """The table records what it was computed from (jaxmarl's version, envs/smax.py and envs/mpe.py); where that
    differs it is ignored with a warning and specs are computed live."""
    from envs import task_specs
    from envs.smax import smax_spec

    monkeypatch.setattr(task_specs, "_jaxmarl_version", lambda: "0.0.0")
    task_specs.table.cache_clear()
    try:
        with pytest.warns(UserWarning, match=r"task_specs.json is stale \(jaxmarl changed.*--write"):
            assert task_specs.table() is None
        assert envs.task_spec("smax/3m") == smax_spec("3m")
        assert "smax/3m" in envs.list_tasks()
        with pytest.raises(ValueError, match=r"unknown task 'smax/5m_vs_7m'.*smax/5m_vs_6m"):
            envs.task_spec("smax/5m_vs_7m")
    finally:
        task_specs.table.cache_clear()


@pytest.mark.parametrize("name", sorted(PAPER_MAPS))
def test_paper_map_specs(name):
    spec = envs.task_spec(f"smax/{name}")
    assert (spec.n_agents, spec.obs_dim, spec.n_actions, spec.episode_limit) == PAPER_MAPS[name]
    assert spec.has_win and spec.reward_scale == 10.0


def test_smax_step_contract_and_autoreset():
    env = envs.make("smax/3m", num_envs=16, seed=0)
    spec, n = env.spec, env.num_envs
    o = env.reset()
    assert o.obs.shape == (n, 3, spec.obs_dim) and o.obs.dtype == np.float32
    assert o.state.shape == (n, spec.state_dim)
    assert o.avail_actions.shape == (n, 3, spec.n_actions) and o.avail_actions.dtype == bool
    assert o.alive.shape == (n, 3) and o.alive.all()
    rng = np.random.default_rng(0)
    length = np.zeros(n, int)
    ret = np.zeros(n)
    n_done = 0
    for _ in range(3 * spec.episode_limit):
        r = env.step(random_actions(rng, o.avail_actions))
        length += 1
        ret += r.reward
        assert r.reward.shape == (n,) and r.done.shape == (n,)
        assert not (r.terminated & r.truncated).any()
        assert (r.done == (r.terminated | r.truncated)).all()
        assert not (r.battle_won & ~r.terminated).any()  # a win ends the episode by its outcome
        d = r.done
        np.testing.assert_array_equal(r.episode_length[d], length[d])
        np.testing.assert_allclose(r.episode_return[d], ret[d], rtol=1e-5)
        assert (r.episode_length[d] <= spec.episode_limit).all()
        assert (r.truncated == (r.done & (length == spec.episode_limit))).all()
        # after an auto-reset every agent is alive again
        assert r.alive[d].all()
        # dead agents may only "stop" (SMAX action 4)
        dead = ~r.alive
        assert (r.avail_actions[dead][:, 4]).all() and r.avail_actions[dead].sum() == dead.sum()
        length[d] = 0
        ret[d] = 0
        n_done += d.sum()
        o = r
    assert n_done > 0
    assert env.compiled_step_count() == 1  # reset's weak types were cast: no second compile


def test_seeding_and_state_roundtrip():
    a = envs.make("smax/3m", num_envs=8, seed=3)
    b = envs.make("smax/3m", num_envs=8, seed=3)
    c = envs.make("smax/3m", num_envs=8, seed=4)
    oa, ob, oc = a.reset(), b.reset(), c.reset()
    np.testing.assert_array_equal(oa.obs, ob.obs)
    assert not np.array_equal(oa.obs, oc.obs)
    rng = np.random.default_rng(1)
    for _ in range(5):
        act = random_actions(rng, oa.avail_actions)
        oa, ob = a.step(act), b.step(act)
    saved = a.get_state()
    acts = [random_actions(rng, oa.avail_actions) for _ in range(20)]
    first = [a.step(x).obs for x in acts]
    a.set_state(saved)
    again = [a.step(x).obs for x in acts]
    for x, y in zip(first, again):
        np.testing.assert_array_equal(x, y)
    # the state of envs never reset (a run saved before its first collect) is their key: restored, the envs are
    # never-reset ones again, and their first reset is the original's
    fresh, other = envs.make("smax/3m", num_envs=8, seed=5), envs.make("smax/3m", num_envs=8, seed=6)
    other.reset()
    other.set_state(fresh.get_state())
    with pytest.raises(RuntimeError, match="call reset"):
        other.step(acts[0])
    np.testing.assert_array_equal(other.reset().obs, fresh.reset().obs)


def test_reward_scale_and_win_detection():
    """A scripted focus-fire policy wins 3m sometimes; wins get the bonus, and rewards scale linearly."""
    returns = {}
    for scale in (1.0, 10.0):
        env = envs.make("smax/3m", num_envs=32, seed=0, reward_scale=scale)
        o = env.reset()
        won, ret, ended = [], [], np.zeros(32, bool)
        for _ in range(env.spec.episode_limit):
            attack = o.avail_actions[..., 5:]
            # attack the lowest-index enemy in range, else move east (enemies start on the east side)
            act = np.where(attack.any(-1), 5 + attack.argmax(-1), 1)
            act = np.where(o.alive, act, 4)
            r = env.step(act)
            new = r.done & ~ended
            won += r.battle_won[new].tolist()
            ret += r.episode_return[new].tolist()
            ended |= r.done
            o = r
        returns[scale] = (np.array(ret), np.array(won))
    ret1, won1 = returns[1.0]
    ret10, won10 = returns[10.0]
    np.testing.assert_allclose(ret10, 10 * ret1, rtol=1e-4)
    assert won1.any(), "the focus-fire script should win some 3m episodes"
    assert (ret1[won1] >= 1.99).all()  # all enemy health (1) + win bonus (1)
    assert (ret1[~won1] < 1.99).all()


def test_mpe_tasks():
    env = envs.make("mpe/speaker_listener", num_envs=4, seed=0)
    o = env.reset()
    assert env.spec.n_agents == 2 and not env.spec.has_win
    # the speaker has 3 actions, the listener 5: the speaker's padded actions are unavailable
    assert o.avail_actions[:, 0].sum(-1).tolist() == [3] * 4 and o.avail_actions[:, 1].all()
    assert (o.obs[:, 0, 3:] == 0).all()  # speaker obs (3) zero-padded to the listener's 11
    for name, n in [("mpe/spread_3", 3), ("mpe/spread_6_hetero", 6), ("mpe/reference", 2)]:
        env = envs.make(name, num_envs=4, seed=0)
        o = env.reset()
        assert o.obs.shape[:2] == (4, n)
        for _ in range(env.spec.episode_limit):
            r = env.step(np.zeros((4, n), int))
        assert r.done.all() and r.truncated.all() and not r.battle_won.any()
    hetero = envs.mpe._make_jaxmarl_env("spread_3_hetero", 0.0)
    assert len(set(np.asarray(hetero.rad[:3]).round(3).tolist())) == 3
    assert np.all(np.diff(np.asarray(hetero.accel)) < 0)  # larger agents accelerate less


@pytest.mark.parametrize("task", ["mpe/speaker_listener", "mpe/reference", "mpe/reference_3"])
def test_communication_channel_layout_and_physical_view(task):
    """The declared channel (TaskSpec.comm) is where the env puts it: a flat action splits into (physical, message),
    and the messages sent at t are what the receivers hear at t + 1 (one-hot, the other speakers in agent order;
    nothing at an episode's start). The physical view cuts the heard part and takes physical actions only."""
    env = envs.make(task, num_envs=4, seed=0)
    spec, comm, N = env.spec, env.spec.comm, 4
    K, P = spec.n_agents, comm.physical_obs_dim
    assert spec.obs_dim == P + comm.heard_dim
    o = env.reset()
    assert (o.obs[..., P:] == 0).all()
    rng, ended = np.random.default_rng(0), False
    for _ in range(spec.episode_limit + 5):  # across an episode's end
        physical = np.stack([rng.integers(0, n, size=N) for n in comm.n_physical], 1)
        message = np.stack([rng.integers(0, comm.message_dim if s else 1, size=N) for s in comm.speaks], 1)
        flat = comm.join_action(physical, message)
        assert o.avail_actions[np.arange(N)[:, None], np.arange(K)[None], flat].all()
        assert all(np.array_equal(a, b) for a, b in zip(comm.split_action(flat), (physical, message)))
        r = env.step(flat)
        for k in range(K):
            heard = [np.eye(comm.message_dim)[message[:, i]] for i in comm.senders(k)]
            expected = np.concatenate([*heard, np.zeros((N, comm.heard_dim - len(heard) * comm.message_dim))], 1)
            expected[r.done] = 0  # a new episode: nothing heard yet
            np.testing.assert_array_equal(r.obs[:, k, P:], expected)
        o, ended = r, ended or r.done.any()
    assert ended
    view = envs.make(task, num_envs=N, seed=0, physical_only=True)
    assert view.spec == envs.task_spec(task, physical_only=True) and view.spec.comm is None
    assert view.spec.obs_dim == P and view.spec.n_actions == max(comm.n_physical)
    v, full = view.reset(), envs.make(task, num_envs=N, seed=0).reset()
    np.testing.assert_array_equal(v.obs, full.obs[..., :P])
    assert (v.avail_actions.sum(-1) == np.array(comm.n_physical)).all()
    with pytest.raises(ValueError, match="beyond an agent's physical actions"):
        view.step(np.full((N, K), max(comm.n_physical)))
    r = view.step(np.zeros((N, K), int))
    assert r.obs.shape == (N, K, P) and r.state.shape == (N, K * P)
    grouped = envs.make(task, num_envs=N, seed=0, physical_only=True)  # group steps (the PPO core's) as one step
    grouped.set_groups(2)
    grouped.reset()
    pending = [grouped.step_group(g, np.zeros((N // 2, K), int)) for g in range(2)]
    np.testing.assert_array_equal(np.concatenate([p.result().obs for p in pending]), r.obs)
    if task == "mpe/reference_3":  # CESMA's custom task: 3 agents, 5 landmarks, each goal seen only by the others
        assert (K, comm.message_dim, P) == (3, 10, 2 + 10 + 2 * 5)
        import jax

        game = envs.mpe._make_jaxmarl_env("reference_3", 0.0)
        obs, state = game.reset(jax.random.PRNGKey(3))
        goal, pos = np.asarray(state.goal), np.asarray(state.p_pos)
        for k, agent in enumerate(game.agents):
            others = [j for j in range(K) if j != k]
            colours = np.asarray(obs[agent])[12:22].reshape(2, 5)  # the others' goals: 0.75 at each, 0.25 elsewhere
            np.testing.assert_allclose(colours, np.where(np.eye(5)[goal[others]] > 0, 0.75, 0.25))
            np.testing.assert_allclose(np.asarray(obs[agent])[2:12].reshape(5, 2), pos[3:] - pos[k], rtol=1e-6)
        own_distance = np.linalg.norm(pos[:3] - pos[3 + goal], axis=-1)
        rewards = game.rewards(state)
        np.testing.assert_allclose([float(rewards[a]) for a in game.agents], [-own_distance.mean()] * 3, rtol=1e-5)


def test_bad_actions_rejected():
    env = envs.make("smax/3m", num_envs=2, seed=0)
    env.reset()
    with pytest.raises(ValueError, match=r"actions must have shape \(2, 3\)"):
        env.step(np.zeros((2, 4), int))
    with pytest.raises(TypeError, match="integers"):
        env.step(np.zeros((2, 3), float))


def test_real_smac_backend_explains_how_to_install():
    # the backend is optional; without it, asking for it must say how to get it
    try:
        import smac.env  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match=r"oxwhirl's SMAC and StarCraft II.*oxwhirl/smac.*PyPI package named `smac` is SMAC3"):
            envs.make("smac/3m")
    else:  # pragma: no cover - only where SMAC is installed
        pytest.skip("oxwhirl smac is installed here")


def test_smax_state_is_normalised():
    """The global state is SMAC-like: positions, cooldowns and unit types scaled into [-1, 1] (jaxmarl's raw world
    state has map coordinates up to 32 and cooldowns that fall without bound), so that centralised learners (QMIX's
    hypernetworks) get inputs of order 1."""
    env = envs.make("smax/3s_vs_4z", num_envs=4, seed=0)
    o = env.reset()
    rng = np.random.default_rng(0)
    biggest = np.abs(o.state).max()
    for _ in range(80):
        o = env.step((rng.random(o.avail_actions.shape) * o.avail_actions).argmax(-1))
        biggest = max(biggest, np.abs(o.state).max())
    assert biggest <= 1.0 + 1e-6
    assert np.abs(o.state).max() > 0.3  # not all zeros: positions and health are there


def _outputs_over(env, steps, seed=0):
    """Every StepResult field over ``steps`` random steps (availability-respecting), and the final env state."""
    rng = np.random.default_rng(seed)
    o = env.reset()
    out = []
    for _ in range(steps):
        r = env.step(random_actions(rng, o.avail_actions))
        out.append([getattr(r, f) for f in r.__dataclass_fields__])
        o = r
    return out, env.get_state()


@pytest.mark.parametrize("task", ["smax/3m", "mpe/spread_3"])
def test_groups_and_partial_resets_leave_every_env_unchanged(task):
    """Stepping the envs in groups, and resetting only the finished envs (up to max_resets at once, else all), are
    speed devices: every env's trajectory and the saved state are identical to stepping all envs at once with every
    finished env reset."""
    reference = envs.make(task, num_envs=8, seed=5)
    reference.max_resets = 8  # never the reset-everything branch
    tight = envs.make(task, num_envs=8, seed=5)
    tight.max_resets = 1  # the reset-everything branch whenever two envs finish in one step
    grouped = envs.make(task, num_envs=8, seed=5)
    grouped.set_groups(2)
    steps = 3 * reference.spec.episode_limit if task.startswith("mpe") else 200
    ref, ref_state = _outputs_over(reference, steps)
    dones = np.array([step[5] for step in ref])  # StepResult.done
    if task.startswith("smax"):
        assert (dones.sum(1) >= 2).any() and (dones.sum(1) == 1).any()  # both reset branches were exercised
    for env in (tight, grouped):
        outs, state = _outputs_over(env, steps)
        for a, b in zip(ref, outs):
            for x, y in zip(a, b):
                np.testing.assert_array_equal(x, y)
        for x, y in zip(ref_state, state):
            np.testing.assert_array_equal(x, y)
    assert grouped.compiled_step_count() == 1  # both groups share one compiled step


def test_group_steps_overlap_and_restore():
    """step_group returns before the group's step is done (JAX computes it meanwhile); groups restore from a state
    saved by an ungrouped env, and bad group actions are rejected."""
    env = envs.make("smax/3m", num_envs=8, seed=2)
    env.set_groups(2)
    o = env.reset()
    rng = np.random.default_rng(0)
    acts = random_actions(rng, o.avail_actions)
    pending = [env.step_group(g, acts[env.group_slice(g)]) for g in range(2)]
    parts = [p.result() for p in pending]
    whole = envs.make("smax/3m", num_envs=8, seed=2)
    whole.reset()
    r = whole.step(acts)
    np.testing.assert_array_equal(np.concatenate([p.obs for p in parts]), r.obs)
    saved = whole.get_state()
    env.set_state(saved)
    acts = random_actions(rng, r.avail_actions)
    np.testing.assert_array_equal(env.step(acts).obs, whole.step(acts).obs)
    with pytest.raises(ValueError, match=r"group 1's actions must have shape \(4, 3\)"):
        env.step_group(1, acts)
    with pytest.raises(ValueError, match="positive divisor of num_envs=8, got 3"):
        env.set_groups(3)


class _CountingEnv(envs.BatchedEnv):
    """A synchronous backend: env n's observation counts the actions it received."""

    def __init__(self, n):
        self.spec = envs.TaskSpec("test/count", "smac", 1, 1, 1, 3, 10, False, 1.0)
        self.num_envs, self.total, self.steps = n, np.zeros(n), 0

    def step(self, actions):
        actions = self._check_actions(actions)
        self.total += actions[:, 0]
        self.steps += 1
        n = self.num_envs
        return envs.StepResult(self.total.reshape(n, 1, 1).astype(np.float32), np.zeros((n, 1), np.float32),
                               np.ones((n, 1, 3), bool), np.ones((n, 1), bool), np.zeros(n, np.float32),
                               np.zeros(n, bool), np.zeros(n, bool), np.zeros(n, bool), np.zeros(n, bool),
                               np.zeros(n, np.float32), np.zeros(n, np.int32))


def test_generic_group_steps_step_all_envs_once_the_last_group_is_in():
    env = _CountingEnv(4)
    env.set_groups(2)
    first = env.step_group(0, np.array([[1], [2]]))
    with pytest.raises(RuntimeError, match="submit them all before asking for a result"):
        first.result()
    with pytest.raises(RuntimeError, match=r"group 0 was submitted twice before groups \[1\] were"):
        env.step_group(0, np.array([[1], [2]]))
    second = env.step_group(1, np.array([[0], [1]]))
    assert env.steps == 1  # one step of all envs, when the last group arrived
    # the learner's order: group 0's next step is submitted before group 1's last result is read
    third = env.step_group(0, np.array([[1], [1]]))
    assert first.result().obs[:, 0, 0].tolist() == [1, 2] and second.result().obs[:, 0, 0].tolist() == [0, 1]
    fourth = env.step_group(1, np.array([[2], [0]]))
    assert third.result().obs[:, 0, 0].tolist() == [2, 3] and fourth.result().obs[:, 0, 0].tolist() == [2, 1]
