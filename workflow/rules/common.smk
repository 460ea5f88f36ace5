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


# ---------------------------------------------------------------------------------------------- the experiments
# A run is named by its wildcards: results/arms/<task>/<arm>/<demo>/seed<N>, demo = "none" or
# "<expert>_<style>_step<N>" (demonstrations from that expert algorithm's co-trained or independent teams at that
# checkpoint). Every experiment (figure) lists such runs per task; a run two figures share is one job.
from algorithms.demos import STYLES  # noqa: E402
from algorithms.dm2 import ARMS as DM2_ARMS, DM2Config  # noqa: E402

ARM_NAMES = (*BASELINES, *DM2_ARMS)
# the DM² variants that read demonstrations (SIL imitates its own episodes)
DEMO_ARMS = tuple(a for a, keys in DM2_ARMS.items() if keys.get("gail_expert", "demos") == "demos" or
                  keys.get("bc_pretrain"))
EXPERIMENT_NAMES = ("ablation", "main_results", "gail_reward", "bc_pretraining", "demo_quality", "state_action")


def demo_id(expert: str, style: str, step: int) -> str:
    return f"{expert}_{style}_step{step}"


def parse_demo(demo: str) -> tuple[str, str, int]:
    expert, rest = demo.split("_", 1)
    style, step = rest.rsplit("_step", 1)
    return expert, style, int(step)


def demo_path(task: str, demo: str) -> str:
    expert, style, step = parse_demo(demo)
    return f"results/demos/{task}/{expert}/{style}_step{step}.npz"


def expert_hparams(expert: str, task: str, seed: int) -> dict:
    ex = config["experts"][expert]
    return hparams_with(expert, task, seed, {"total_env_steps": ex["total_env_steps"],
                                             "checkpoint_interval": ex["checkpoint_interval"]})


def demo_sampling(expert: str, task: str) -> dict:
    """How ``expert`` acts while sampled on ``task``: its sampling block with that task's override (epsilon only
    where it is used, so it triggers no reruns of stochastic sampling)."""
    block = dict(config["demos"]["sampling"][expert])
    out = {**{k: v for k, v in block.items() if k != "task_overrides"},
           **(block.get("task_overrides") or {}).get(task, {})}
    if out["mode"] == "stochastic":
        out["epsilon"] = 0.0
    return out


DM2_DEFAULTS = {name: f.default for name, f in DM2Config.__dataclass_fields__.items()}


def unused_dm2_keys(cfg: DM2Config) -> list[str]:
    """The DM² settings a run of this arm never reads: they are sent at their defaults, so changing them in the
    config reruns only the arms that use them."""
    keys = []
    if not cfg.uses_discriminator:  # BC + IPPO: no discriminator
        keys += [k for k in DM2_DEFAULTS if k.startswith("gail_") and k not in ("gail_expert", "gail_input")]
    elif cfg.reward == "gail":  # GAIL-only: r_D alone, the mixing coefficient plays no part
        keys.append("gail_coef")
    if cfg.gail_expert != "self":
        keys += ["sil_capacity", "sil_gamma"]
    if not cfg.bc_pretrain:
        keys += ["bc_epochs", "bc_lr", "bc_batch_episodes", "bc_holdout"]
    if not cfg.needs_demos:
        keys.append("demo_episodes")
    return keys


def arm_hparams(task: str, arm: str, demo: str, seed: int) -> dict:
    """One run's resolved config: the learner's blocks, the arm's overrides (arms.hyperparameters.<arm>), then the
    run's task, seed, budget and demonstrations."""
    arms = config["arms"]
    extra = {**(arms["hyperparameters"].get(arm) or {}), "total_env_steps": arms["total_env_steps"]}
    if arm in BASELINES:
        return hparams_with(arm, task, seed, extra)
    try:
        cfg = resolve(DM2Config, merged_blocks(CONFIG_SECTIONS["dm2"]), {"task": task, "seed": int(seed), **DM2_ARMS[arm],
                                          "demos": "" if demo == "none" else demo_path(task, demo), **extra})
    except ConfigError as exc:
        raise ValueError(f"config dm2 for {task} {arm} {demo} seed {seed}: {exc}") from None
    out = asdict(cfg)
    for key in unused_dm2_keys(cfg):
        out[key] = DM2_DEFAULTS[key]
    return out


def run_of(where: str, spec: dict, task: str) -> tuple[str, str]:
    """(arm, demo id) of one run entry of an experiment on ``task``, checked against the experts and the arms."""
    arm = spec.get("arm")
    if arm not in ARM_NAMES:
        raise ValueError(f"{where}: unknown arm {arm!r}; allowed: {', '.join(ARM_NAMES)}")
    demo_keys = {"expert", "style", "step"}
    if arm not in DEMO_ARMS:
        if set(spec) - {"arm"}:
            raise ValueError(f"{where}: arm {arm} reads no demonstrations; remove {sorted(set(spec) - {'arm'})}")
        return arm, "none"
    if not demo_keys <= set(spec) <= demo_keys | {"arm", "step_overrides"}:
        raise ValueError(f"{where}: arm {arm} needs exactly expert, style and step (its demonstrations) and "
                         f"optionally step_overrides, got {sorted(set(spec) - {'arm'})}")
    expert, style = spec["expert"], spec["style"]
    step = (spec.get("step_overrides") or {}).get(task, spec["step"])
    if expert not in config["experts"]:
        raise ValueError(f"{where}: expert {expert!r} has no block under experts (have: {', '.join(config['experts'])})")
    if style not in STYLES:
        raise ValueError(f"{where}: unknown style {style!r}; allowed: {', '.join(STYLES)}")
    ex = config["experts"][expert]
    if not isinstance(step, int) or step <= 0 or step % ex["checkpoint_interval"] or step > ex["total_env_steps"]:
        raise ValueError(f"{where}: step {step!r} must be a multiple of experts.{expert}.checkpoint_interval "
                         f"({ex['checkpoint_interval']}) and <= its total_env_steps ({ex['total_env_steps']})")
    if style.startswith("indep") and len(ex["seeds"]) < 2:
        raise ValueError(f"{where}: style {style} needs at least 2 expert teams; experts.{expert}.seeds has one")
    if style == "indep_concurrent" and expert != "ippo":
        raise ValueError(f"{where}: style indep_concurrent mixes agents of different teams, which needs per-agent "
                         f"networks (IPPO experts); {expert} shares one network across agents")
    return arm, demo_id(expert, style, step)


def experiment_runs() -> dict[str, dict[str, list[tuple[str, str]]]]:
    """experiment -> {task: its runs there as (arm, demo id)}; the ablation's runs are generated from its block."""
    ab = config["ablation"]
    g = ab["gail_only"]
    spec = lambda arm, style, step: {"arm": arm, "expert": ab["expert"], "style": style, "step": step}  # noqa: E731
    ablation = ([{"arm": "ippo"}] + [spec("dm2", st, step) for step in ab["checkpoint_steps"] for st in ab["styles"]]
                + [spec("gail_only", g["style"], g["step"])])
    out = {"ablation": {ab["task"]: [run_of("ablation", r, ab["task"]) for r in ablation]}}
    for name, exp in config["experiments"].items():
        for i, r in enumerate(exp["runs"]):
            unknown = sorted(set(r.get("step_overrides") or {}) - set(exp["tasks"]))
            if unknown:
                raise ValueError(f"experiments.{name}.runs[{i}]: step_overrides names {unknown}, which are not tasks "
                                 f"of this experiment ({', '.join(exp['tasks'])})")
        out[name] = {task: [run_of(f"experiments.{name}.runs[{i}]", r, task) for i, r in enumerate(exp["runs"])]
                     for task in exp["tasks"]}
    for name, per_task in out.items():
        for task, runs in per_task.items():
            twice = sorted({f"{arm}/{demo}" for arm, demo in runs if runs.count((arm, demo)) > 1})
            if twice:
                raise ValueError(f"{'ablation' if name == 'ablation' else 'experiments.' + name}: on {task} these runs "
                                 f"are listed more than once: {twice}")
    return out


EXPERIMENTS = experiment_runs()


def run_dir(task: str, arm: str, demo: str, seed) -> str:
    return f"results/arms/{task}/{arm}/{demo}/seed{seed}"


def experiment_run_dirs(experiment: str, task: str) -> list[str]:
    return [run_dir(task, arm, demo, seed) for arm, demo in EXPERIMENTS[experiment][task]
            for seed in config["arms"]["seeds"]]


def aggregate_run_dirs() -> list[str]:
    """The runs of the cross-task aggregate, each once (experiments share runs)."""
    agg = config["aggregate"]
    return list(dict.fromkeys(d for name in agg["experiments"] for task in agg["tasks"]
                              for d in experiment_run_dirs(name, task)))


def check_experiments() -> None:
    """Resolve every run's config at parse time, so a bad value fails before any job starts."""
    for expert in config["experts"]:
        if expert not in BASELINES or expert not in config["demos"]["sampling"]:
            raise ValueError(f"experts.{expert}: an expert must be one of {', '.join(BASELINES)} and have a "
                             "demos.sampling block")
    for expert in config["demos"]["sampling"]:
        if expert not in config["experts"]:
            raise ValueError(f"demos.sampling.{expert}: no expert block experts.{expert}")
    for name, per_task in EXPERIMENTS.items():
        for task, runs in per_task.items():
            for arm, demo in runs:
                arm_hparams(task, arm, demo, config["arms"]["seeds"][0])
                if demo != "none":
                    expert = parse_demo(demo)[0]
                    expert_hparams(expert, task, config["experts"][expert]["seeds"][0])
    for arm in config["arms"]["hyperparameters"]:
        if arm not in ARM_NAMES:
            raise ValueError(f"arms.hyperparameters: unknown arm {arm!r}; allowed: {', '.join(ARM_NAMES)}")
    agg = config["aggregate"]
    for name in agg["experiments"]:
        if name not in EXPERIMENTS:
            raise ValueError(f"aggregate.experiments: unknown experiment {name!r}; allowed: {', '.join(EXPERIMENTS)}")
        missing = [t for t in agg["tasks"] if t not in EXPERIMENTS[name]]
        if missing:
            raise ValueError(f"aggregate.tasks: {missing} are not tasks of experiment {name}")
    for task in agg["tasks"]:
        if not any((agg["baseline"], "none") in EXPERIMENTS[name][task] for name in agg["experiments"]):
            raise ValueError(f"aggregate.baseline: {agg['baseline']!r} must be an arm without demonstrations that "
                             f"runs on every aggregate task in aggregate.experiments; it does not run on {task}")
    for expert, block in config["demos"]["sampling"].items():
        modes = [block["mode"]] + [o.get("mode", block["mode"]) for o in (block.get("task_overrides") or {}).values()]
        if expert == "qmix" and "stochastic" in modes:
            raise ValueError(f"demos.sampling.{expert}: {expert} has no stochastic policy; use mode epsilon_greedy")


check_experiments()


# ---------------------------------------------------------------------------------------------- tables
def table_hparams() -> dict:
    """{algorithm: {task: resolved config}} for the hyperparameter tables: what each job on that task receives."""
    out = {}
    for task in config["tables"]["tasks"]:
        for algo in BASELINES:
            out.setdefault(algo, {})[task] = baseline_hparams(algo, task, 0)
        dm2 = resolve(DM2Config, merged_blocks(CONFIG_SECTIONS["dm2"]), {"task": task, "demos": "(per arm)"})
        out.setdefault("dm2", {})[task] = asdict(dm2)
        if "qmix" in config["demos"]["sampling"]:
            out.setdefault("qmix_demos", {})[task] = demo_sampling("qmix", task)
    return out
