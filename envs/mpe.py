"""MPE tasks (jaxmarl's JAX MPE, which matches the reference mpe step for step) behind the batched interface.

Team reward = mean of the agents' rewards. ``local_ratio`` defaults to 0 (a purely global reward, as in the
CESMA-era MPE); it is an explicit option because jaxmarl's default is 0.5. Agents whose observation or action spaces
are smaller than the largest (speaker-listener) are zero-padded, and padded actions are marked unavailable.
"""
from __future__ import annotations

from envs.base import TaskSpec
from envs.jax_env import JaxAdapter, JaxBatchedEnv, configure_jax

EPISODE_LIMIT = 25  # MPE's standard episode length (jaxmarl MAX_STEPS)

# Heterogeneous cooperative navigation: agents of different sizes, larger agents slower (CESMA evaluates spread with
# homogeneous and heterogeneous agents). Radii cycle through these; acceleration scales inversely with radius (jaxmarl
# agents have no speed cap, so damping and acceleration set their speed).
HETERO_RADII = (0.10, 0.15, 0.20)
BASE_RADIUS, BASE_ACCEL = 0.15, 5.0

TASKS = {
    "spread_3": dict(kind="spread", n=3, hetero=False),
    "spread_6": dict(kind="spread", n=6, hetero=False),
    "spread_3_hetero": dict(kind="spread", n=3, hetero=True),
    "spread_6_hetero": dict(kind="spread", n=6, hetero=True),
    "speaker_listener": dict(kind="speaker_listener"),
    "reference": dict(kind="reference"),  # cooperative navigation with communication (2 agents, jaxmarl's version)
}


def task_names() -> list[str]:
    return sorted(TASKS)


def _make_jaxmarl_env(task: str, local_ratio: float):
    import jax.numpy as jnp
    import jaxmarl

    t = TASKS[task]
    if t["kind"] == "speaker_listener":
        return jaxmarl.make("MPE_simple_speaker_listener_v4", max_steps=EPISODE_LIMIT)
    if t["kind"] == "reference":
        return jaxmarl.make("MPE_simple_reference_v3", local_ratio=local_ratio, max_steps=EPISODE_LIMIT)
    n = t["n"]
    env = jaxmarl.make("MPE_simple_spread_v3", num_agents=n, num_landmarks=n, local_ratio=local_ratio,
                       max_steps=EPISODE_LIMIT)
    if t["hetero"]:
        radii = jnp.array([HETERO_RADII[i % len(HETERO_RADII)] for i in range(n)])
        # Attributes are read when the step is traced, so replacing them before the first jit is enough.
        env.rad = jnp.concatenate([radii, env.rad[n:]])
        env.accel = BASE_ACCEL * BASE_RADIUS / radii
    return env


def _build(task: str, local_ratio: float, reward_scale: float):
    configure_jax()
    import jax.numpy as jnp

    env = _make_jaxmarl_env(task, local_ratio)
    agents = tuple(env.agents)
    obs_dims = [int(env.observation_spaces[a].shape[0]) for a in agents]
    n_actions_per_agent = [int(env.action_spaces[a].n) for a in agents]
    obs_dim, n_actions = max(obs_dims), max(n_actions_per_agent)
    avail = jnp.array([[j < n for j in range(n_actions)] for n in n_actions_per_agent])

    def stack_obs(obs, state):
        return jnp.stack([jnp.pad(obs[a], (0, obs_dim - d)) for a, d in zip(agents, obs_dims)])

    adapter = JaxAdapter(
        env=env,
        agents=agents,
        obs=stack_obs,
        state=lambda obs, state: stack_obs(obs, state).reshape(-1),  # MPE has no global state: joint obs
        avail_actions=lambda state: avail,
        alive=lambda state: jnp.ones((len(agents),), jnp.bool_),
        team_reward=lambda rewards: jnp.mean(jnp.stack([rewards[a] for a in agents])),
        won=lambda state: jnp.array(False),
        ended_by_outcome=lambda state: jnp.array(False),
    )
    spec = TaskSpec(
        name=f"mpe/{task}",
        backend="mpe",
        n_agents=len(agents),
        obs_dim=obs_dim,
        state_dim=obs_dim * len(agents),
        n_actions=n_actions,
        episode_limit=EPISODE_LIMIT,
        has_win=False,
        reward_scale=float(reward_scale),
    )
    return spec, adapter


def make_mpe(task: str, num_envs: int, seed: int, local_ratio: float = 0.0, reward_scale: float = 1.0) -> JaxBatchedEnv:
    spec, adapter = _build(task, local_ratio, reward_scale)
    return JaxBatchedEnv(spec, adapter, num_envs=num_envs, seed=seed)


def mpe_spec(task: str, local_ratio: float = 0.0, reward_scale: float = 1.0) -> TaskSpec:
    return _build(task, local_ratio, reward_scale)[0]
