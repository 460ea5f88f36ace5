"""MPE tasks (jaxmarl's JAX MPE, which matches the reference mpe step for step) behind the batched interface.

Team reward = mean of the agents' rewards. ``local_ratio`` defaults to 0 (a purely global reward, as in the
CESMA-era MPE); it is an explicit option because jaxmarl's default is 0.5. Agents whose observation or action spaces
are smaller than the largest (speaker-listener) are zero-padded, and padded actions are marked unavailable.

Tasks with communication (speaker-listener, reference, reference_3) declare their channel (``TaskSpec.comm``): each
agent's observation is its physical part, then the messages it heard, each part zero-padded to the widest agent's;
a flat action is physical + n_physical * message, as jaxmarl decodes it. ``reference_3`` is CESMA's cooperative
navigation with communication of 3 agents and 5 landmarks (Lin et al. App. D), jaxmarl's reference game widened.
"""
from __future__ import annotations

from envs.base import CommSpec, TaskSpec
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
    "reference_3": dict(kind="reference_n", n=3, landmarks=5),  # CESMA's 3 agents / 5 landmarks, with communication
}
MESSAGE_DIM = {"speaker_listener": 3, "reference": 10, "reference_n": 10}  # jaxmarl's dim_c (reference_n: as reference)


def _reference_n_class():
    """jaxmarl's reference game for N agents and L landmarks (CESMA's custom task; jaxmarl's own is 2 and 3): each
    agent's goal is a landmark that only the others see (as colours: 0.75 at the goal, 0.25 elsewhere, as jaxmarl's),
    movement and a 10-word message per agent, reward -(distance of each agent to its own goal), averaged (local_ratio
    mixes in the agent's own). Observation: own velocity, landmarks relative to it, the other agents' goal colours
    and their messages, others in agent order."""
    import jax
    import jax.numpy as jnp
    from jaxmarl.environments.mpe.default_params import AGENT_COLOUR
    from jaxmarl.environments.mpe.simple import SimpleMPE, State
    from jaxmarl.environments.mpe.simple_reference import SimpleReferenceMPE
    from jaxmarl.environments.spaces import Box, Discrete

    class ReferenceNMPE(SimpleMPE):
        _decode_discrete_action = SimpleReferenceMPE._decode_discrete_action  # a = move + 5 * word, per agent

        def __init__(self, num_agents: int, num_landmarks: int, local_ratio: float, max_steps: int):
            self.local_ratio, dim_c = local_ratio, MESSAGE_DIM["reference_n"]
            n, L = num_agents, num_landmarks
            agents = [f"agent_{i}" for i in range(n)]
            obs_dim = 2 + 2 * L + (n - 1) * (L + dim_c)
            super().__init__(num_agents=n, agents=agents, num_landmarks=L,
                             landmarks=[f"landmark {i}" for i in range(L)],
                             action_spaces={a: Discrete(5 * dim_c) for a in agents},
                             observation_spaces={a: Box(-jnp.inf, jnp.inf, (obs_dim,)) for a in agents},
                             dim_c=dim_c, colour=[AGENT_COLOUR] * n + [(64, 64, 191)] * L,
                             silent=jnp.full((n,), 0), collide=jnp.full((n + L,), False), max_steps=max_steps)
            # the others of each agent, in agent order: [n, n - 1]
            self.others = jnp.array([[j for j in range(n) if j != i] for i in range(n)])

        def reset(self, key):
            key_a, key_l, key_g = jax.random.split(key, 3)
            p_pos = jnp.concatenate([jax.random.uniform(key_a, (self.num_agents, 2), minval=-1, maxval=1),
                                     jax.random.uniform(key_l, (self.num_landmarks, 2), minval=-1, maxval=1)])
            state = State(p_pos=p_pos, p_vel=jnp.zeros((self.num_entities, self.dim_p)),
                          c=jnp.zeros((self.num_agents, self.dim_c)), done=jnp.array(False), step=jnp.array(0),
                          goal=jax.random.randint(key_g, (self.num_agents,), 0, self.num_landmarks))
            return self.get_obs(state), state

        def get_obs(self, state):
            colours = jnp.full((self.num_agents, self.num_landmarks), 0.25)
            colours = colours.at[jnp.arange(self.num_agents), state.goal].set(0.75)

            def one(i):
                others = self.others[i]
                return jnp.concatenate([state.p_vel[i], (state.p_pos[self.num_agents:] - state.p_pos[i]).flatten(),
                                        colours[others].flatten(), state.c[others].flatten()])

            return {a: one(i) for i, a in enumerate(self.agents)}

        def rewards(self, state):
            goals = state.p_pos[self.num_agents + state.goal]
            own = -jnp.linalg.norm(state.p_pos[:self.num_agents] - goals, axis=-1)
            team = own.mean()
            return {a: team * (1 - self.local_ratio) + own[i] * self.local_ratio for i, a in enumerate(self.agents)}

    return ReferenceNMPE


def comm_layout(task: str) -> tuple[list[int], list[int], int, list[bool]]:
    """Where a task's channel sits in jaxmarl's observations: per agent its physical observation's size and what it
    hears, the message size, who speaks (checked against the env by tests/test_envs)."""
    t = TASKS[task]
    if t["kind"] == "speaker_listener":  # speaker: goal colour; listener: velocity, 3 landmarks, then the message
        return [3, 8], [0, 3], MESSAGE_DIM["speaker_listener"], [True, False]
    m = MESSAGE_DIM[t["kind"]]
    if t["kind"] == "reference":  # velocity, 3 landmarks, the other's goal colour, then its message
        return [11, 11], [m, m], m, [True, True]
    n, L = t["n"], t["landmarks"]
    return [2 + 2 * L + (n - 1) * L] * n, [(n - 1) * m] * n, m, [True] * n


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
    if t["kind"] == "reference_n":
        return _reference_n_class()(t["n"], t["landmarks"], local_ratio, EPISODE_LIMIT)
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
    n_actions = max(n_actions_per_agent)
    avail = jnp.array([[j < n for j in range(n_actions)] for n in n_actions_per_agent])
    comm = None
    if TASKS[task]["kind"] != "spread":
        physical, heard, message_dim, speaks = comm_layout(task)
        comm = CommSpec(message_dim=message_dim, physical_obs_dim=max(physical),
                        n_physical=tuple(n // (message_dim if s else 1) for n, s in zip(n_actions_per_agent, speaks)),
                        speaks=tuple(speaks))
        if [p + h for p, h in zip(physical, heard)] != obs_dims:
            raise RuntimeError(f"mpe/{task}: jaxmarl's observations ({obs_dims}) are not physical + heard "
                               f"({physical}, {heard}): its layout changed, update envs/mpe.comm_layout")
        # (from, to, padded width) of each agent's parts: each padded to the widest agent's
        pieces = [[(0, p, comm.physical_obs_dim), (p, p + h, comm.heard_dim)] for p, h in zip(physical, heard)]
        obs_dim = comm.physical_obs_dim + comm.heard_dim
    else:
        obs_dim = max(obs_dims)
        pieces = [[(0, d, obs_dim)] for d in obs_dims]

    def stack_obs(obs, state):
        return jnp.stack([jnp.concatenate([jnp.pad(obs[a][lo:hi], (0, width - (hi - lo))) for lo, hi, width in cuts])
                          for a, cuts in zip(agents, pieces)])

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
        comm=comm,
    )
    return spec, adapter


def make_mpe(task: str, num_envs: int, seed: int, local_ratio: float = 0.0, reward_scale: float = 1.0) -> JaxBatchedEnv:
    spec, adapter = _build(task, local_ratio, reward_scale)
    return JaxBatchedEnv(spec, adapter, num_envs=num_envs, seed=seed)


def mpe_spec(task: str, local_ratio: float = 0.0, reward_scale: float = 1.0) -> TaskSpec:
    return _build(task, local_ratio, reward_scale)[0]
