# Helpers shared by the rules: resolving each run's hyperparameters from the config (the single source of truth).
import json
import sys
from dataclasses import asdict

sys.path.insert(0, workflow.basedir)

from algorithms.common.config import ConfigError, resolve  # noqa: E402
from algorithms.ippo import IPPOConfig  # noqa: E402

PYTHON = sys.executable

wildcard_constraints:
    backend="smax|mpe|smac",
    task="[A-Za-z0-9_]+",
    seed="[0-9]+",


def ippo_hparams(task: str, seed: int) -> dict:
    """The complete resolved IPPO config of one run; it reaches the job through params (reruns when it changes)."""
    try:
        return asdict(resolve(IPPOConfig, config["ippo"], {"task": task, "seed": int(seed)}))
    except ConfigError as exc:
        raise ValueError(f"config/ippo for {task} seed {seed}: {exc}") from None


def ippo_mem_mb(hp: dict) -> int:
    """Memory request: ~1.5 GB of process (torch + JAX) plus the rollout and its activations, generously."""
    import envs

    spec = envs.task_spec(hp["task"])
    steps = hp["num_envs"] * (spec.episode_limit if hp["rollout_mode"] == "episodes" else hp["rollout_length"])
    per_step = 4 * spec.n_agents * (3 * (spec.obs_dim + spec.n_actions) + 2 * 12 * hp["hidden_size"])
    return int(1500 + 3 * steps * per_step / 2**20)


def ippo_runtime_min(hp: dict) -> int:
    """Wall-time request at a conservative 1,000 env steps/s on 2 cores (bigger maps train slower)."""
    return max(30, int(hp["total_env_steps"] / 1000 / 60 * 1.5))


def ippo_run_dirs() -> list[str]:
    return [f"results/ippo/{task}/seed{seed}" for task in config["ippo_runs"]["tasks"]
            for seed in config["ippo_runs"]["seeds"]]


# Fail at parse time, before any job starts, on any bad hyperparameter or task name.
for _task in config["ippo_runs"]["tasks"]:
    ippo_hparams(_task, config["ippo_runs"]["seeds"][0])
