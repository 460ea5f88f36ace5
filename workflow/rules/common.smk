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


def ippo_run_dirs() -> list[str]:
    return [f"results/ippo/{task}/seed{seed}" for task in config["ippo_runs"]["tasks"]
            for seed in config["ippo_runs"]["seeds"]]


# Fail at parse time, before any job starts, on any bad hyperparameter or task name.
for _task in config["ippo_runs"]["tasks"]:
    ippo_hparams(_task, config["ippo_runs"]["seeds"][0])
