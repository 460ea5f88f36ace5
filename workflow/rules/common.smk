# Helpers shared by the rules: resolving each run's hyperparameters from the config (the single source of truth).
import json
import sys
from dataclasses import asdict

sys.path.insert(0, workflow.basedir)

from algorithms import CONFIG_SECTIONS  # noqa: E402
from algorithms.common.config import ConfigError, merge_sections, resolve  # noqa: E402
from algorithms.ippo import IPPOConfig  # noqa: E402
from algorithms.mappo import MAPPOConfig  # noqa: E402
from algorithms.qmix import EpisodeBuffer, QMIXConfig  # noqa: E402

PYTHON = sys.executable

wildcard_constraints:
    backend="smax|mpe|smac",
    task="[A-Za-z0-9_]+",
    seed="[0-9]+",

# Baseline learners and their typed configs (the blocks each reads: algorithms.CONFIG_SECTIONS).
BASELINES = {"ippo": IPPOConfig, "mappo": MAPPOConfig, "qmix": QMIXConfig}


def merged_blocks(names: list[str]) -> dict:
    """The config blocks ``names`` merged key by key, their task_overrides too (a later block wins)."""
    return merge_sections(config, names, "the workflow config")


def hparams_with(algo: str, task: str, seed: int, extra: dict) -> dict:
    """The complete resolved config of one run of a baseline learner (its blocks, then ``extra``); it reaches the
    job through params, so the job reruns when it changes."""
    cls, blocks = BASELINES[algo], CONFIG_SECTIONS[algo]
    try:
        return asdict(resolve(cls, merged_blocks(blocks), {"task": task, "seed": int(seed), **extra}))
    except ConfigError as exc:
        raise ValueError(f"config {algo} for {task} seed {seed}: {exc}") from None


def ippo_hparams_with(task: str, seed: int, extra: dict) -> dict:
    return hparams_with("ippo", task, seed, extra)


def baseline_hparams(algo: str, task: str, seed: int) -> dict:
    return hparams_with(algo, task, seed, {})


def mem_mb(hp: dict) -> int:
    """Memory request: ~1.5 GB of process (torch + JAX) plus the rollout and its activations (PPO family) or the
    replay buffer (QMIX), generously."""
    import envs

    spec = envs.task_spec(hp["task"])
    if "buffer_episodes" in hp:
        size = EpisodeBuffer.nbytes(hp["buffer_episodes"], spec.episode_limit, spec.n_agents, spec.obs_dim,
                                    spec.state_dim, spec.n_actions)
        return int(1500 + 1.3 * size / 2**20)
    steps = hp["num_envs"] * (spec.episode_limit if hp["rollout_mode"] == "episodes" else hp["rollout_length"])
    per_step = 4 * spec.n_agents * (3 * (spec.obs_dim + spec.n_actions) + 2 * 12 * hp["hidden_size"] + spec.state_dim)
    return int(1500 + 3 * steps * per_step / 2**20)


def runtime_min(hp: dict) -> int:
    """Wall-time request at a conservative 1,000 env steps/s on 2 cores (QMIX: 300; bigger maps train slower)."""
    rate = 300 if "buffer_episodes" in hp else 1000
    return max(30, int(hp["total_env_steps"] / rate / 60 * 1.5))


def baseline_run_dirs() -> list[str]:
    runs = config["baseline_runs"]
    return [f"results/{algo}/{task}/seed{seed}" for algo in runs["algorithms"] for task in runs["tasks"]
            for seed in runs["seeds"]]


# Fail at parse time, before any job starts, on any bad hyperparameter or task name.
for _algo in config["baseline_runs"]["algorithms"]:
    for _task in config["baseline_runs"]["tasks"]:
        baseline_hparams(_algo, _task, config["baseline_runs"]["seeds"][0])


# ---------------------------------------------------------------------------------------------- the DM² ablation
from algorithms.demos import STYLES  # noqa: E402
from algorithms.dm2 import ARMS as DM2_ARMS, DM2Config  # noqa: E402

ABLATION = config["ablation"]
ABL_TASK = ABLATION["task"]
ARMS = ("ippo", "dm2", "gail_only")


def expert_dir(seed) -> str:
    return f"results/experts/ippo/{ABL_TASK}/seed{seed}"


def expert_hparams(task: str, seed: int) -> dict:
    ex = ABLATION["experts"]
    return ippo_hparams_with(task, seed, {"total_env_steps": ex["total_env_steps"],
                                          "checkpoint_interval": ex["checkpoint_interval"]})


def demo_id(style: str, step: int) -> str:
    return f"{style}_step{step}"


def demo_path(task: str, demo: str) -> str:
    return f"results/demos/{task}/{demo}.npz"


def arm_demos() -> list[tuple[str, str]]:
    """(arm, demo id) of every arm of the ablation: IPPO (no demos), DM² at every style x quality, GAIL-only once."""
    steps = ABLATION["experts"]["checkpoint_steps"]
    g = ABLATION["arms"]["gail_only"]
    return ([("ippo", "none")] + [("dm2", demo_id(s, st)) for st in steps for s in ABLATION["demos"]["styles"]]
            + [("gail_only", demo_id(g["style"], g["checkpoint_step"]))])


def arm_dirs() -> list[str]:
    return [f"results/arms/{ABL_TASK}/{arm}/{demo}/seed{seed}" for arm, demo in arm_demos()
            for seed in ABLATION["arms"]["seeds"]]


def arm_hparams(task: str, arm: str, demo: str, seed: int) -> dict:
    """One arm's resolved config: the ippo block (+ the dm2 block for DM²/GAIL-only), the arm's own overrides
    (ablation.arms.hyperparameters.<arm>), then the run's task, seed, budget and demonstrations."""
    extra = {**(ABLATION["arms"].get("hyperparameters", {}).get(arm) or {}),
             "total_env_steps": ABLATION["arms"]["total_env_steps"]}
    if arm == "gail_only":
        extra["gail_coef"] = 1.0  # r = r_D alone: the mixing coefficient plays no part (and triggers no reruns)
    if arm == "ippo":
        return ippo_hparams_with(task, seed, extra)
    try:
        cfg = resolve(DM2Config, merged_blocks(CONFIG_SECTIONS["dm2"]), {"task": task, "seed": int(seed), **DM2_ARMS[arm],
                                          "demos": "" if demo == "none" else demo_path(task, demo), **extra})
    except ConfigError as exc:
        raise ValueError(f"config dm2 for {task} {arm} {demo} seed {seed}: {exc}") from None
    return asdict(cfg)


def check_ablation_config() -> None:
    ex, dm = ABLATION["experts"], ABLATION["demos"]
    for step in ex["checkpoint_steps"]:
        if step % ex["checkpoint_interval"] or step > ex["total_env_steps"]:
            raise ValueError(f"ablation.experts.checkpoint_steps: {step} must be a multiple of checkpoint_interval "
                             f"{ex['checkpoint_interval']} and <= total_env_steps {ex['total_env_steps']}")
    bad = [s for s in dm["styles"] if s not in STYLES]
    if bad:
        raise ValueError(f"ablation.demos.styles: unknown {bad}; allowed: {', '.join(STYLES)}")
    g = ABLATION["arms"]["gail_only"]
    if g["style"] not in dm["styles"] or g["checkpoint_step"] not in ex["checkpoint_steps"]:
        raise ValueError(f"ablation.arms.gail_only {g} must name one of the sampled styles and checkpoint steps")
    expert_hparams(ABL_TASK, ex["seeds"][0])
    for arm, demo in arm_demos():
        arm_hparams(ABL_TASK, arm, demo, ABLATION["arms"]["seeds"][0])


check_ablation_config()


# ---------------------------------------------------------------------------------------------- tables
def table_hparams() -> dict:
    """{algorithm: {task: resolved config}} for the hyperparameter tables: what each job on that task receives."""
    out = {}
    for task in config["tables"]["tasks"]:
        for algo in BASELINES:
            out.setdefault(algo, {})[task] = baseline_hparams(algo, task, 0)
        dm2 = resolve(DM2Config, merged_blocks(CONFIG_SECTIONS["dm2"]), {"task": task, "demos": "(per arm)"})
        out.setdefault("dm2", {})[task] = asdict(dm2)
    return out
