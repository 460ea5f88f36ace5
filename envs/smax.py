"""SMAX (jaxmarl's JAX re-implementation of SMAC) as the embedded default backend.

Settings that differ from jaxmarl's defaults, each for SMAC fidelity (see ../shared/reference/smax_notes.md):
- SMAC's episode limits instead of jaxmarl's 100 steps everywhere;
- ``see_enemy_actions=False``: SMAC never shows enemies' last actions (jaxmarl does by default);
- team reward x10 by default, to SMAC's scale (episode max ~20) so the DM² paper's GAIL coefficients carry over;
- ``battle_won`` computed from the post-step state: every enemy dead and at least one ally alive.
"""
from __future__ import annotations

from envs.base import TaskSpec
from envs.jax_env import JaxAdapter, JaxBatchedEnv, configure_jax

# SMAC episode limits (SMAC's map registry); the DM² maps' limits are those of the paper's configs.
EPISODE_LIMITS = {
    "3m": 60, "8m": 120, "25m": 150, "2s3z": 120, "3s5z": 150, "5m_vs_6m": 70, "10m_vs_11m": 150,
    "27m_vs_30m": 180, "3s5z_vs_3s6z": 170, "3s_vs_5z": 250, "6h_vs_8z": 150, "3s_vs_3z": 150, "3s_vs_4z": 200,
    "8m_vs_9m": 120,
}
# Maps the DM² paper uses that jaxmarl lacks: (ally unit types, enemy unit types); 0 marine, 2 stalker, 3 zealot.
EXTRA_MAPS = {
    "3s_vs_3z": ([2] * 3, [3] * 3),
    "3s_vs_4z": ([2] * 3, [3] * 4),
    "8m_vs_9m": ([0] * 8, [0] * 9),
}
# SMACv2-style maps randomise unit types and positions; SMAC has no fixed limit for them, jaxmarl uses 100.
SMACV2_LIMIT = 100
DEFAULT_REWARD_SCALE = 10.0

_registered = False


def _register_extra_maps() -> None:
    global _registered
    if _registered:
        return
    import jax.numpy as jnp
    from jaxmarl.environments.smax.smax_env import MAP_NAME_TO_SCENARIO, Scenario, register_scenario

    for name, (allies, enemies) in EXTRA_MAPS.items():
        if name not in MAP_NAME_TO_SCENARIO:
            unit_types = jnp.array(allies + enemies, dtype=jnp.uint8)
            register_scenario(name, Scenario(unit_types, len(allies), len(enemies), False, False))
    _registered = True


def map_names() -> list[str]:
    configure_jax()
    _register_extra_maps()
    from jaxmarl.environments.smax.smax_env import MAP_NAME_TO_SCENARIO

    return sorted(MAP_NAME_TO_SCENARIO)


def episode_limit(map_name: str) -> int:
    return EPISODE_LIMITS.get(map_name, SMACV2_LIMIT)


def _build(map_name: str, reward_scale: float):
    configure_jax()
    _register_extra_maps()
    import jax.numpy as jnp
    import jaxmarl
    from jaxmarl.environments.smax.smax_env import map_name_to_scenario

    limit = episode_limit(map_name)
    env = jaxmarl.make(
        "HeuristicEnemySMAX",
        scenario=map_name_to_scenario(map_name),
        max_steps=limit,
        see_enemy_actions=False,
        walls_cause_death=True,
        attack_mode="closest",
    )
    agents = tuple(env.agents)
    n_allies = env.num_allies
    n_actions = env.action_spaces[agents[0]].n

    def alive(state):
        return state.state.unit_alive[:n_allies]

    def won(state):
        units = state.state.unit_alive
        return jnp.all(~units[n_allies:]) & jnp.any(units[:n_allies])

    def ended_by_outcome(state):
        units = state.state.unit_alive
        return jnp.all(~units[n_allies:]) | jnp.all(~units[:n_allies])

    # jaxmarl's world state holds raw map coordinates (0..32) and raw weapon cooldowns (which keep falling below 0
    # while a unit does not shoot); SMAC's state is normalised. Normalise it the same way as jaxmarl's own
    # observations (and SMAC's state): positions relative to the map centre over half the map size, the cooldown
    # over the unit type's cooldown clipped to [0, 1], unit-type indices over their maximum, so that centralised
    # learners (QMIX's hypernetworks read the state without input normalisation) see inputs in [-1, 1]. Dead units
    # stay all zero.
    n_feat = len(env.own_features)  # includes the unit-type bits
    n_units = int(env.state_size) // (n_feat + 2)  # allies and enemies: per-unit features, then teams and types
    centre = jnp.array([env.map_width / 2, env.map_height / 2])
    type_cooldown = jnp.asarray(env.unit_type_weapon_cooldowns)
    max_type = max(len(env.unit_type_names) - 1, 1)

    def world_state(obs, state):
        ws = obs["world_state"]
        units = ws[: n_units * n_feat].reshape(n_units, n_feat)
        bits = units[:, 4:]
        present = bits.sum(-1) > 0  # a living unit has its unit-type bit set
        pos = jnp.where(present[:, None], (units[:, 1:3] - centre) / centre, 0.0)
        cooldown = jnp.clip(units[:, 3] / type_cooldown[jnp.argmax(bits, -1)], 0.0, 1.0) * present
        units = units.at[:, 1:3].set(pos).at[:, 3].set(cooldown)
        teams, types = ws[n_units * n_feat: n_units * (n_feat + 1)], ws[n_units * (n_feat + 1):]
        return jnp.concatenate([units.reshape(-1), teams, types / max_type])

    adapter = JaxAdapter(
        env=env,
        agents=agents,
        obs=lambda obs, state: jnp.stack([obs[a] for a in agents]),
        state=world_state,
        avail_actions=lambda state: jnp.stack([m for m in env.get_avail_actions(state).values()]),
        alive=alive,
        team_reward=lambda rewards: rewards[agents[0]],  # identical for all allies (team reward)
        won=won,
        ended_by_outcome=ended_by_outcome,
    )
    spec = TaskSpec(
        name=f"smax/{map_name}",
        backend="smax",
        n_agents=len(agents),
        obs_dim=int(env.observation_spaces[agents[0]].shape[0]),
        state_dim=int(env.state_size),
        n_actions=int(n_actions),
        episode_limit=limit,
        has_win=True,
        reward_scale=float(reward_scale),
    )
    return spec, adapter


def make_smax(map_name: str, num_envs: int, seed: int, reward_scale: float = DEFAULT_REWARD_SCALE) -> JaxBatchedEnv:
    spec, adapter = _build(map_name, reward_scale)
    return JaxBatchedEnv(spec, adapter, num_envs=num_envs, seed=seed)


def smax_spec(map_name: str, reward_scale: float = DEFAULT_REWARD_SCALE) -> TaskSpec:
    return _build(map_name, reward_scale)[0]
