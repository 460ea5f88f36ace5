# Helpers shared by the rules: resolving each run's hyperparameters from the config (the single source of truth).
# Every learner and arm name comes from algorithms/registry.py; nothing here names one.
import json
import sys
from dataclasses import asdict

sys.path.insert(0, workflow.basedir)

from algorithms import registry  # noqa: E402
from algorithms.registry import STYLES, demos_input, expert_input, parse_input  # noqa: E402
from algorithms.common.config import ConfigError, merge_sections, resolve, task_override_values  # noqa: E402

PYTHON = sys.executable
LEARNER_NAMES = tuple(registry.LEARNERS)
EXPERT_NAMES = tuple(registry.expert_learners())

wildcard_constraints:
    backend="smax|mpe|smac",
    task="[A-Za-z0-9_]+",
    seed="[0-9]+",


# Where this config's outputs go: results/<tag>, figures/<tag>, logs/<tag> and benchmarks/<tag> (config
# outputs.tag; the default config has none), so that the quick, default and paper configs never mix their runs. Every
# path below is built from these; figures and tables have fixed names under them, and a rule of each figure's name
# (figures.smk) requests it under any config.
_TAG = config["outputs"]["tag"]
RESULTS, FIGURES, LOGS, BENCHMARKS = (f"{root}/{_TAG}" if _TAG else root
                                      for root in ("results", "figures", "logs", "benchmarks"))


def merged_blocks(names) -> dict:
    """The config blocks ``names`` merged key by key, their task_overrides too (a later block wins)."""
    return merge_sections(config, list(names), "the workflow config")


def resolve_learner(learner: str, task: str, seed, extra: dict, where: str) -> dict:
    """The complete resolved config of one run of ``learner`` (its blocks, then ``extra``, then task and seed); it
    reaches the job through params, so the job reruns when it changes. Settings the run never reads
    (``unused_keys``) are sent at their defaults, so changing them reruns nothing."""
    entry = registry.learner(learner)
    cls = entry.config_cls
    try:
        cfg = resolve(cls, merged_blocks(entry.sections), {**extra, "task": task, "seed": int(seed)})
    except ConfigError as exc:
        raise ValueError(f"{where}: config {learner} for {task} seed {seed}: {exc}") from None
    out = asdict(cfg)
    if hasattr(cfg, "unused_keys"):
        for key in cfg.unused_keys():
            out[key] = cls.__dataclass_fields__[key].default
    return out


def baseline_hparams(algo: str, task: str, seed: int) -> dict:
    return resolve_learner(algo, task, seed, {}, "baseline_runs")


def job_resources(learner: str, hp: dict) -> tuple[int, int]:
    """(memory MB, runtime minutes) of one job: the learner's own estimate (registry -> its config module's
    resources; no torch, and the task's spec from the stored table of envs: no JAX)."""
    import envs

    return registry.learner(learner).resources(hp, envs.task_spec(hp["task"]))


def baseline_run_dirs() -> list[str]:
    runs = config["baseline_runs"]
    return [f"{RESULTS}/{algo}/{task}/seed{seed}" for algo in runs["algorithms"] for task in runs["tasks"]
            for seed in runs["seeds"]]


# Fail at parse time, before any job starts, on any bad name, hyperparameter or task.
for _algo in config["baseline_runs"]["algorithms"]:
    registry.learner(_algo)
    for _task in config["baseline_runs"]["tasks"]:
        baseline_hparams(_algo, _task, config["baseline_runs"]["seeds"][0])


# ---------------------------------------------------------------------------------------------- the experiments
# A run is named by its wildcards: <results>/arms/<task>/<arm>/<input>/seed<N>. Its typed input is one of
#   none                          the arm reads nothing but the env
#   demos-<expert>-<style>-<N>    demonstrations of that expert learner's teams, in that style, at checkpoint N
#   expert-<learner>-<N>          that learner's expert checkpoint at step N (first expert seed)
# Every experiment (figure) lists such runs per task; a run two figures share is one job.
def demo_path(task: str, demo: str) -> str:
    _, expert, style, step = parse_input(demo)
    return f"{RESULTS}/demos/{task}/{expert}/{style}_step{step}.npz"


def expert_run(learner: str, task: str) -> str:
    return f"{RESULTS}/experts/{learner}/{task}/seed{config['experts'][learner]['seeds'][0]}"


def input_files(task: str, run_input: str) -> list[str]:
    parsed = parse_input(run_input)
    if parsed[0] == "demos":
        return [demo_path(task, run_input)]
    if parsed[0] == "expert":
        return [f"{expert_run(parsed[1], task)}/final_model.pt"]
    return []


def input_settings(task: str, run_input: str) -> dict:
    """The config keys through which a run receives its input."""
    parsed = parse_input(run_input)
    if parsed[0] == "demos":
        return {"demos": demo_path(task, run_input)}
    if parsed[0] == "expert":
        return {"expert": f"{expert_run(parsed[1], task)}/checkpoints/step_{parsed[2]}.pt"}
    return {}


def expert_hparams(expert: str, task: str, seed: int) -> dict:
    ex = config["experts"][expert]
    return resolve_learner(expert, task, seed, {"total_env_steps": ex["total_env_steps"],
                                                "checkpoint_interval": ex["checkpoint_interval"]}, f"experts.{expert}")


def demo_sampling(expert: str, task: str) -> dict:
    """How ``expert`` acts while sampled on ``task``: its sampling block with that task's override (epsilon only
    where it is used, so it triggers no reruns of stochastic sampling)."""
    block = dict(config["demos"]["sampling"][expert])
    out = {**{k: v for k, v in block.items() if k != "task_overrides"},
           **task_override_values(block.get("task_overrides") or {}, task)}
    if out["mode"] == "stochastic":
        out["epsilon"] = 0.0
    return out


def arm_hparams(task: str, arm: str, run_input: str, seed) -> dict:
    """One run's resolved config: the arm's learner's blocks, the run's budget (arms.total_env_steps, or the task's
    own in arms.task_overrides), the arm's settings (registry: an arm without env steps, BC, sets its own budget), the
    arm's overrides (arms.hyperparameters.<arm>), then the run's input, task and seed."""
    entry = registry.arm(arm)
    budget = task_override_values(config["arms"].get("task_overrides") or {}, task)
    extra = {"total_env_steps": config["arms"]["total_env_steps"], **budget, **entry.settings,
             **((config["arms"]["hyperparameters"] or {}).get(arm) or {}), **input_settings(task, run_input)}
    return resolve_learner(entry.learner, task, seed, extra, f"arm {arm} on input {run_input}")


def checked_step(where: str, step, block: dict, name: str) -> int:
    if not isinstance(step, int) or step <= 0 or step % block["checkpoint_interval"] or step > block["total_env_steps"]:
        raise ValueError(f"{where}: step {step!r} must be a multiple of experts.{name}.checkpoint_interval "
                         f"({block['checkpoint_interval']}) and <= its total_env_steps ({block['total_env_steps']})")
    return step


def run_of(where: str, spec: dict, task: str) -> tuple[str, str]:
    """(arm, input id) of one run entry of an experiment on ``task``, checked against the registry and the experts."""
    try:
        entry = registry.arm(spec.get("arm"))
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    given = sorted(set(spec) - {"arm"})
    wanted = {"none": [], "demos": ["demos"], "expert": ["expert"]}[entry.consumes]
    if given != wanted:
        form = {"none": "{arm: NAME}", "demos": "{arm: NAME, demos: {expert: LEARNER, style: STYLE, step: N}}",
                "expert": "{arm: NAME, expert: {algorithm: LEARNER, step: N}}"}[entry.consumes]
        raise ValueError(f"{where}: arm {entry.name} consumes {entry.consumes}: give "
                         f"{' and '.join(wanted) or 'nothing but the arm'}, got {given or 'nothing'} (write {form})")
    if entry.consumes == "none":
        return entry.name, "none"
    block = spec[wanted[0]]
    if entry.consumes == "demos":
        keys = {"expert", "style", "step"}
        if not keys <= set(block) <= keys | {"step_overrides"}:
            raise ValueError(f"{where}: demos needs exactly expert, style and step (and optionally step_overrides), "
                             f"got {sorted(block)}")
        expert, style = block["expert"], block["style"]
    else:
        if not {"algorithm", "step"} <= set(block) <= {"algorithm", "step", "step_overrides"}:
            raise ValueError(f"{where}: expert needs exactly algorithm and step (and optionally step_overrides), "
                             f"got {sorted(block)}")
        expert, style = block["algorithm"], None
    if expert not in config["experts"]:
        raise ValueError(f"{where}: expert {expert!r} has no block under experts (have: {', '.join(config['experts'])})")
    ex = config["experts"][expert]
    step = checked_step(where, (block.get("step_overrides") or {}).get(task, block["step"]), ex, expert)
    if entry.consumes == "expert":
        return entry.name, expert_input(expert, step)
    if style not in STYLES:
        raise ValueError(f"{where}: unknown style {style!r}; allowed: {', '.join(STYLES)}")
    if style.startswith("indep") and len(ex["seeds"]) < 2:
        raise ValueError(f"{where}: style {style} needs at least 2 expert teams; experts.{expert}.seeds has one")
    if style == "indep_concurrent" and not registry.learner(expert).per_agent_networks:
        raise ValueError(f"{where}: style indep_concurrent mixes agents of different teams, which needs per-agent "
                         f"networks; {expert} shares one network across agents")
    if entry.joint_demos and not style.endswith("_concurrent"):
        raise ValueError(f"{where}: arm {entry.name} trains a joint discriminator, which needs joint rows: only the "
                         f"concurrent styles supply them, not {style}")
    return entry.name, demos_input(expert, style, step)


FIXED_FIGURES = ("ablation", "ablation_summary", "aggregate", "learning_curves")
# names that rules of this workflow already have (a figure's rule is named after it)
TAKEN_NAMES = ("all", "tables", "report", "results_table", "hyperparameter_tables", "software_versions",
               "expert_fraction_table", "mild2_table", "claims")


def experiment_runs() -> dict[str, dict[str, list[tuple[str, str]]]]:
    """experiment -> {task: its runs there as (arm, input id)}; the ablation's runs are generated from its block."""
    ab = config["ablation"]
    demos = lambda style, step: {"expert": ab["expert"], "style": style, "step": step}  # noqa: E731
    ablation = ([("ablation.baseline", {"arm": ab["baseline"]})]
                + [("ablation.arm", {"arm": ab["arm"], "demos": demos(st, step)})
                   for step in ab["checkpoint_steps"] for st in ab["styles"]]
                + [(f"ablation.extra_runs[{i}]", r) for i, r in enumerate(ab.get("extra_runs") or [])])
    out = {"ablation": {ab["task"]: [run_of(where, r, ab["task"]) for where, r in ablation]}}
    for name, exp in config["experiments"].items():
        if name in FIXED_FIGURES or name in TAKEN_NAMES or not name.isidentifier():
            raise ValueError(f"experiments.{name}: the name must be a Python identifier and not one of the fixed "
                             f"figures or targets ({', '.join(FIXED_FIGURES + TAKEN_NAMES)}); choose another")
        for i, r in enumerate(exp["runs"]):
            overrides = next((v.get("step_overrides") for v in r.values() if isinstance(v, dict)), None) or {}
            unknown = sorted(set(overrides) - set(exp["tasks"]))
            if unknown:
                raise ValueError(f"experiments.{name}.runs[{i}]: step_overrides names {unknown}, which are not tasks "
                                 f"of this experiment ({', '.join(exp['tasks'])})")
        out[name] = {task: [run_of(f"experiments.{name}.runs[{i}]", r, task) for i, r in enumerate(exp["runs"])]
                     for task in exp["tasks"]}
    for name, per_task in out.items():
        for task, runs in per_task.items():
            twice = sorted({f"{arm}/{inp}" for arm, inp in runs if runs.count((arm, inp)) > 1})
            if twice:
                raise ValueError(f"{'ablation' if name == 'ablation' else 'experiments.' + name}: on {task} these runs "
                                 f"are listed more than once: {twice}")
    return out


EXPERIMENTS = experiment_runs()
EXPERIMENT_NAMES = tuple(EXPERIMENTS)
USED_ARMS = tuple(dict.fromkeys(arm for per_task in EXPERIMENTS.values() for runs in per_task.values()
                                for arm, _ in runs))


def check_arm_budgets() -> None:
    """A per-task budget must name a task (or backend) that some experiment runs: a misspelt map would be ignored."""
    tasks = sorted({task for per_task in EXPERIMENTS.values() for task in per_task})
    for key in config["arms"].get("task_overrides") or {}:
        if key not in tasks and not (key.endswith("/*") and any(t.startswith(key[:-1]) for t in tasks)):
            raise ValueError(f"arms.task_overrides: {key!r} is no task of any experiment; tasks: {', '.join(tasks)}")


check_arm_budgets()


def run_dir(task: str, arm: str, run_input: str, seed) -> str:
    return f"{RESULTS}/arms/{task}/{arm}/{run_input}/seed{seed}"


def experiment_run_dirs(experiment: str, task: str) -> list[str]:
    return [run_dir(task, arm, inp, seed) for arm, inp in EXPERIMENTS[experiment][task]
            for seed in config["arms"]["seeds"]]


def aggregate_run_dirs() -> list[str]:
    """The runs of the cross-task aggregate, each once (experiments share runs)."""
    agg = config["aggregate"]
    return list(dict.fromkeys(d for name in agg["experiments"] for task in agg["tasks"]
                              for d in experiment_run_dirs(name, task)))


def task_score(task: str) -> dict:
    """The task's declared score and its fixed normalisation bounds (config ``scores``): {metric, random,
    reference}."""
    scores = config["scores"]
    backend = task.split("/", 1)[0]
    entry = {**(scores["backends"].get(backend) or {}), **((scores.get("tasks") or {}).get(task) or {})}
    missing = [k for k in ("metric", "random", "reference") if k not in entry]
    if missing:
        raise ValueError(f"scores: task {task} has no {missing} (give them under scores.tasks.{task!r} or "
                         f"scores.backends.{backend})")
    if entry["reference"] == entry["random"]:
        raise ValueError(f"scores: task {task} has equal random and reference scores ({entry['random']})")
    return entry


def score_args(tasks: list[str]) -> str:
    """The aggregation scripts' --score arguments: per task, its metric and fixed bounds (random, reference)."""
    return " ".join(f"--score {t}={s['metric']}:{s['random']}:{s['reference']}" for t in tasks
                    for s in [task_score(t)])


def check_experiments() -> None:
    """Resolve every run's config at parse time, so a bad value fails before any job starts."""
    for expert in config["experts"]:
        if expert not in EXPERT_NAMES:
            raise ValueError(f"experts.{expert}: an expert must be one of the registered expert learners "
                             f"({', '.join(EXPERT_NAMES)})")
    for expert in config["demos"]["sampling"]:
        if expert not in config["experts"]:
            raise ValueError(f"demos.sampling.{expert}: no expert block experts.{expert}")
    for name, per_task in EXPERIMENTS.items():
        for task, runs in per_task.items():
            task_score(task)
            for arm, inp in runs:
                arm_hparams(task, arm, inp, config["arms"]["seeds"][0])
                parsed = parse_input(inp)
                if parsed[0] != "none":
                    expert_hparams(parsed[1], task, config["experts"][parsed[1]]["seeds"][0])
                if parsed[0] == "demos" and parsed[1] not in config["demos"]["sampling"]:
                    raise ValueError(f"experiments.{name}: {arm} learns from demonstrations of {parsed[1]}, which "
                                     f"need a demos.sampling.{parsed[1]} block (how the expert acts while sampled)")
    for arm in config["arms"]["hyperparameters"] or {}:
        try:
            registry.arm(arm)
        except ValueError as exc:
            raise ValueError(f"arms.hyperparameters: {exc}") from None
    agg = config["aggregate"]
    for name in agg["experiments"]:
        if name not in EXPERIMENTS:
            raise ValueError(f"aggregate.experiments: unknown experiment {name!r}; allowed: {', '.join(EXPERIMENTS)}")
        missing = [t for t in agg["tasks"] if t not in EXPERIMENTS[name]]
        if missing:
            raise ValueError(f"aggregate.tasks: {missing} are not tasks of experiment {name}")
    registry.arm(agg["baseline"])
    for task in agg["tasks"]:
        if not any((agg["baseline"], "none") in EXPERIMENTS[name][task] for name in agg["experiments"]):
            raise ValueError(f"aggregate.baseline: {agg['baseline']!r} must be an arm without an input that runs on "
                             f"every aggregate task in aggregate.experiments; it does not run on {task}")
    for expert, block in config["demos"]["sampling"].items():
        modes = [block["mode"]] + [o.get("mode", block["mode"]) for o in (block.get("task_overrides") or {}).values()]
        if not registry.learner(expert).stochastic_policy and "stochastic" in modes:
            raise ValueError(f"demos.sampling.{expert}: {expert} has no stochastic policy; use mode epsilon_greedy")
    for taught_by in EXPERT_TABLE["experiments"]:
        if taught_by not in config["experiments"]:
            raise ValueError(f"tables.expert_fraction.experiments: unknown experiment {taught_by!r}; allowed: "
                             f"{', '.join(config['experiments'])}")
        for task, runs in EXPERIMENTS[taught_by].items():
            taught = {inp for _, inp in runs if parse_input(inp)[0] == "expert"}
            if len(taught) != 1:
                raise ValueError(f"tables.expert_fraction.experiments: {taught_by} needs exactly one expert input on "
                                 f"each task (its runs' fractions of the expert's score); on {task} it has "
                                 f"{sorted(taught) or 'none'}")


# The table of an expert-taught family (CESMA's): its file name, the experiments it summarises (those of this config)
# and the fraction of the expert's score whose first crossing it reports
EXPERT_TABLE = config["tables"].get("expert_fraction") or {"name": "", "experiments": [], "reach_fraction": 0.95}
check_experiments()
EXPERT_TABLE_INPUTS = [f"{RESULTS}/experiments/{name}/{task}/summary.csv" for name in EXPERT_TABLE["experiments"]
                       for task in EXPERIMENTS.get(name, [])]


# The paper's claims (config ``claims``; absent: none), each resolved on every task of its experiment to its two runs.
CLAIMS = config.get("claims") or {"equal_margin": 0.14, "list": {}}


def claim_specs() -> list[dict]:
    """One row per claim and task of its experiment: the claim, its two runs as [arm, input id] (each checked to be a
    run of that experiment there) and the experiment's per-evaluation scores they are read from."""
    rows = []
    for cid, claim in (CLAIMS["list"] or {}).items():
        where, name = f"claims.list.{cid}", claim["experiment"]
        if name not in EXPERIMENTS:
            raise ValueError(f"{where}: unknown experiment {name!r}; allowed: {', '.join(EXPERIMENTS)}")
        for task, runs in EXPERIMENTS[name].items():
            pair = [run_of(f"{where}.{key}", claim[key], task) for key in ("run", "versus")]
            for key, run in zip(("run", "versus"), pair):
                if run not in runs:
                    raise ValueError(f"{where}.{key}: {run[0]}/{run[1]} is not a run of experiment {name} on {task}; "
                                     f"its runs there: {', '.join(f'{a}/{i}' for a, i in runs)}")
            if pair[0] == pair[1]:
                raise ValueError(f"{where}: run and versus are the same run ({pair[0][0]}/{pair[0][1]})")
            rows.append({"id": cid, "claim": claim["claim"], "experiment": name, "task": task,
                         "statistic": claim["statistic"], "expect": claim["expect"], "run": list(pair[0]),
                         "versus": list(pair[1]), "scores": f"{RESULTS}/experiments/{name}/{task}/scores.csv"})
    return rows


CLAIM_SPECS = claim_specs()


# MILD²'s outputs (config ``mild2_outputs``; absent: none): its table (results/tables/<table>) from the summaries of its
# experiments, and two figures of the discriminator arms' runs there: the reward histograms of one snapshot with the
# rewards' spread over training (mild2_reward_hist), and the discriminator losses (mild2_dloss).
MILD2 = config.get("mild2_outputs") or {"table": "", "experiments": [], "discriminator_arms": [],
                                         "reward_hist_step": "final"}
MILD2_FIGURES = ("mild2_reward_hist", "mild2_dloss") if MILD2["experiments"] else ()


def mild2_discriminator_runs() -> list[tuple[str, str, str]]:
    """(task, arm, input) of every run of a discriminator arm in MILD²'s experiments, each once."""
    return list(dict.fromkeys((task, arm, run_input) for name in MILD2["experiments"]
                              for task, runs in EXPERIMENTS[name].items() for arm, run_input in runs
                              if arm in MILD2["discriminator_arms"]))


def check_mild2() -> None:
    for name in MILD2["experiments"]:
        if name not in config["experiments"]:
            raise ValueError(f"mild2_outputs.experiments: unknown experiment {name!r}; allowed: "
                             f"{', '.join(config['experiments'])}")
        for task, runs in EXPERIMENTS[name].items():
            demos = {inp for _, inp in runs if parse_input(inp)[0] == "demos"}
            if len(demos) != 1:
                raise ValueError(f"mild2_outputs.experiments: {name} needs exactly one demonstration set on each task "
                                 f"(the table's expert); on {task} it has {sorted(demos) or 'none'}")
    def has_discriminator(entry) -> bool:
        return ("gail_loss" in registry.learner(entry.learner).config_cls.__dataclass_fields__
                and entry.settings.get("reward") != "env")

    for arm in MILD2["discriminator_arms"]:
        entry = registry.arm(arm)
        if not has_discriminator(entry):
            raise ValueError(f"mild2_outputs.discriminator_arms: {arm!r} has no discriminator (learner "
                             f"{entry.learner}); arms with one: "
                             f"{', '.join(a.name for a in registry.ARMS.values() if has_discriminator(a))}")
        if not any(arm == a for name in MILD2["experiments"] for runs in EXPERIMENTS[name].values() for a, _ in runs):
            raise ValueError(f"mild2_outputs.discriminator_arms: {arm!r} runs in none of mild2_outputs.experiments "
                             f"({', '.join(MILD2['experiments'])})")
    step = str(MILD2["reward_hist_step"])
    if step != "final" and not step.isdigit():
        raise ValueError(f"mild2_outputs.reward_hist_step: 'final' or a whole number of env steps, got {step!r}")
    if step != "final":  # the snapshot must exist in every discriminator arm's runs
        for task, arm, run_input in mild2_discriminator_runs():
            hp = arm_hparams(task, arm, run_input, 0)
            if int(step) <= 0 or int(step) % hp["checkpoint_interval"] or int(step) > hp["total_env_steps"]:
                raise ValueError(f"mild2_outputs.reward_hist_step: {step} is no snapshot of arm {arm} on {task}: "
                                 f"snapshots are every {hp['checkpoint_interval']} env steps up to "
                                 f"{hp['total_env_steps']} (or 'final')")
    clash = set(MILD2_FIGURES) & set(config["experiments"])
    if clash:
        raise ValueError(f"experiments: {sorted(clash)} are the names of MILD²'s figures; choose another")


check_mild2()
MILD2_SUMMARIES = [f"{RESULTS}/experiments/{name}/{task}/summary.csv" for name in MILD2["experiments"]
                   for task in EXPERIMENTS[name]]
# the discriminator arms' run directories in MILD²'s experiments, each once
MILD2_RUNS = [run_dir(task, arm, run_input, seed) for task, arm, run_input in mild2_discriminator_runs()
              for seed in config["arms"]["seeds"]]


# ---------------------------------------------------------------------------------------------- tables
def table_hparams() -> list[dict]:
    """The hyperparameter tables' sections, one per learner that a configured run uses (its registry rows, resolved
    from its config blocks per task: what a job on that task receives), then the epsilon of every expert sampled
    epsilon-greedy."""
    learners = dict.fromkeys([*config["baseline_runs"]["algorithms"], *config["experts"],
                              *(registry.arm(a).learner for a in USED_ARMS)])
    sections = []
    for name in sorted(learners, key=list(registry.LEARNERS).index):
        entry = registry.learner(name)
        per_input = {"demos": "(per arm)"} if "demos" in entry.config_cls.__dataclass_fields__ else {}
        values = {task: resolve_learner(name, task, 0, per_input, "tables") for task in config["tables"]["tasks"]}
        sections.append({"name": entry.display, "rows": entry.table_rows, "values": values})
    for expert in config["demos"]["sampling"]:
        values = {task: demo_sampling(expert, task) for task in config["tables"]["tasks"]}
        if any(v["mode"] == "epsilon_greedy" for v in values.values()):
            sections.append({"name": f"{registry.display(expert)} demonstrations",
                             "rows": [["epsilon", "epsilon while sampled (DM² paper Table 1)"]], "values": values})
    return sections


# ---------------------------------------------------------------------------------------------- figures
# Every figure: its name (a target under any config: ``snakemake --cores 2 ablation``) and its file.
FIGURE_NAMES = (*FIXED_FIGURES, *EXPERIMENT_NAMES[1:], *MILD2_FIGURES)


def figure(name: str) -> str:
    return f"{FIGURES}/{name}.pdf"


def table(name: str, suffix: str) -> str:
    """The results table and the hyperparameter tables: <results>/tables/<name>.<csv|tex>."""
    return f"{RESULTS}/tables/{name}.{suffix}"
