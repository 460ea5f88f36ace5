"""Optional real-SMAC backend (oxwhirl/smac + StarCraft II) behind the same batched interface.

Imported lazily: nothing here runs unless a ``smac/<map>`` task is requested. N envs are N SC2 processes stepped one
after another (SC2 is not vectorised). Actions are SMAC's native ones (0 no-op, 1 stop, 2-5 move, 6+ attack), so
policies trained here use SMAC's action set. Untested in CI (StarCraft II cannot be installed there): only the
"not installed" error path is tested.
"""
from __future__ import annotations

import numpy as np

from envs.base import BatchedEnv, Observation, StepResult, TaskSpec

INSTALL_HINT = (
    "The real-SMAC backend needs oxwhirl's SMAC and StarCraft II: "
    "`pip install git+https://github.com/oxwhirl/smac.git` and install SC2 (4.10) with SC2PATH set "
    "(https://github.com/oxwhirl/smac#installing-starcraft-ii). Note: the PyPI package named `smac` is SMAC3, an "
    "unrelated hyperparameter optimiser. Use `smax/<map>` for the embedded JAX re-implementation."
)


def _import_starcraft2env():
    try:
        from smac.env import StarCraft2Env  # oxwhirl/smac
    except ImportError as exc:
        raise ImportError(f"smac backend unavailable ({exc}). {INSTALL_HINT}") from None
    return StarCraft2Env


class SmacBatchedEnv(BatchedEnv):
    def __init__(self, map_name: str, num_envs: int, seed: int, reward_scale: float = 1.0):
        StarCraft2Env = _import_starcraft2env()
        # SMAC's shaped reward is already scaled to max 20 (reward_scale_rate 20); extra scaling defaults to 1.
        self._envs = [StarCraft2Env(map_name=map_name, seed=seed + i) for i in range(num_envs)]
        info = self._envs[0].get_env_info()
        self.num_envs = num_envs
        self.spec = TaskSpec(
            name=f"smac/{map_name}", backend="smac", n_agents=info["n_agents"], obs_dim=info["obs_shape"],
            state_dim=info["state_shape"], n_actions=info["n_actions"], episode_limit=info["episode_limit"],
            has_win=True, reward_scale=float(reward_scale),
        )
        self._returns = np.zeros(num_envs, np.float32)
        self._lengths = np.zeros(num_envs, np.int32)

    def _observe_one(self, env) -> tuple:
        obs = np.asarray(env.get_obs(), np.float32)
        avail = np.asarray(env.get_avail_actions(), bool)
        alive = np.array([env.get_unit_by_id(i).health > 0 for i in range(self.spec.n_agents)])
        return obs, np.asarray(env.get_state(), np.float32), avail, alive

    def _observe(self) -> Observation:
        parts = [self._observe_one(env) for env in self._envs]
        return Observation(*(np.stack(p) for p in zip(*parts)))

    def reset(self) -> Observation:
        for env in self._envs:
            env.reset()
        self._returns[:] = 0
        self._lengths[:] = 0
        return self._observe()

    def step(self, actions: np.ndarray) -> StepResult:
        actions = self._check_actions(actions)
        n = self.num_envs
        reward, done, term, trunc, won = (np.zeros(n, np.float32), *(np.zeros(n, bool) for _ in range(4)))
        ep_ret, ep_len = np.zeros(n, np.float32), np.zeros(n, np.int32)
        for i, env in enumerate(self._envs):
            r, terminated, info = env.step(actions[i].tolist())
            reward[i] = r * self.spec.reward_scale
            self._returns[i] += reward[i]
            self._lengths[i] += 1
            if terminated:
                done[i] = True
                trunc[i] = bool(info.get("episode_limit", False))
                term[i] = not trunc[i]
                won[i] = bool(info.get("battle_won", False))
                ep_ret[i], ep_len[i] = self._returns[i], self._lengths[i]
                self._returns[i], self._lengths[i] = 0.0, 0
                env.reset()
        o = self._observe()
        return StepResult(o.obs, o.state, o.avail_actions, o.alive, reward, done, term, trunc, won, ep_ret, ep_len)

    def close(self) -> None:
        for env in self._envs:
            env.close()


def make_smac(map_name: str, num_envs: int, seed: int, reward_scale: float = 1.0) -> SmacBatchedEnv:
    return SmacBatchedEnv(map_name, num_envs=num_envs, seed=seed, reward_scale=reward_scale)
