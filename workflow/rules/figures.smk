# Last stage: figures. Each is a target under any config by its name, `snakemake --cores 2 ablation` (the rules at
# the end), or by its file, <figures>/<name>.pdf (figures/ablation.pdf under the default config).


def figure_output(name: str, caption: str = "figure.rst"):
    """A figure's file, in the report (``snakemake --report``) under Figures with its caption."""
    return report(figure(name), caption=f"../report/{caption}", category="Figures", labels={"figure": name})


rule plot_learning_curves:
    input:
        [f"{d}/metrics.csv" for d in baseline_run_dirs()],
    output:
        figure_output("learning_curves", "learning_curves.rst"),
    params:
        title="IPPO, MAPPO and QMIX from scratch: greedy test win rate per seed and their mean",
    log:
        f"{LOGS}/figures/learning_curves.log",
    resources:
        runtime=10,
    shell:
        "{PYTHON} workflow/scripts/plot_learning_curves.py --out {output} {input} > {log} 2>&1"


rule plot_ablation:
    input:
        summary=f"{RESULTS}/experiments/ablation/{config['ablation']['task']}/summary.csv",
        curves=f"{RESULTS}/experiments/ablation/{config['ablation']['task']}/curves.csv",
    output:
        ablation=figure_output("ablation", "ablation.rst"),
        summary=figure_output("ablation_summary", "ablation.rst"),
    params:
        task=config["ablation"]["task"],
        arm=config["ablation"]["arm"],
        baseline=config["ablation"]["baseline"],
        title=f"the DM² ablation on {config['ablation']['task']} (paper Fig. 3)",
    log:
        f"{LOGS}/figures/ablation.log",
    resources:
        runtime=10,
    shell:
        "{PYTHON} workflow/scripts/plot_ablation.py --tables $(dirname {input.summary}) --task {params.task} "
        "--arm {params.arm} --baseline {params.baseline} --out {output.ablation} --summary-out {output.summary} "
        "> {log} 2>&1"


# Per-task learning curves of every other experiment (DM² paper Figs. 2/4, 5, 6, 7, the state-action ablation,
# MAGAIL, ...): one figure per entry of config experiments, titled by its ``title``.
for _name in EXPERIMENT_NAMES[1:]:

    rule:
        name:
            f"plot_{_name}"
        input:
            [f"{RESULTS}/experiments/{_name}/{task}/summary.csv" for task in EXPERIMENTS[_name]],
        output:
            figure_output(_name),
        params:
            title=config["experiments"][_name]["title"],
        log:
            f"{LOGS}/figures/{_name}.log",
        resources:
            runtime=10,
        shell:
            "{PYTHON} workflow/scripts/plot_experiment.py --title {params.title:q} --out {output} {input} > {log} 2>&1"


rule plot_aggregate:
    input:
        summary=f"{RESULTS}/experiments/aggregate/summary.csv",
        profiles=f"{RESULTS}/experiments/aggregate/profiles.csv",
    output:
        figure_output("aggregate", "aggregate.rst"),
    params:
        tasks=" ".join(config["aggregate"]["tasks"]),
        baseline=config["aggregate"]["baseline"],
    log:
        f"{LOGS}/figures/aggregate.log",
    resources:
        runtime=10,
    shell:
        "{PYTHON} workflow/scripts/plot_aggregate.py --summary {input.summary} --profiles {input.profiles} "
        "--tasks {params.tasks} --baseline {params.baseline} --out {output} > {log} 2>&1"


# MILD²'s figures (config mild2_outputs): the discriminator arms' losses, and their rewards at one snapshot
# (recomputed: the snapshot's policy collects one rollout, its discriminator rewards it) with their spread over
# training.
rule plot_mild2_dloss:
    input:
        [f"{d}/metrics.csv" for d in MILD2_RUNS],
    output:
        figure_output("mild2_dloss", "mild2.rst"),
    params:
        runs=lambda wc, input: " ".join(str(Path(p).parent) for p in input),
        caption="Each arm's discriminator loss (BCE, or the negated Eq. 6 objective) over training, mean over seeds "
        "with the seeds' range (MILD² Fig. 5).",
    log:
        f"{LOGS}/figures/mild2_dloss.log",
    resources:
        runtime=10,
    shell:
        "{PYTHON} workflow/scripts/plot_discriminator_loss.py --out {output} {params.runs} > {log} 2>&1"


rule plot_mild2_reward_hist:
    input:
        [f"{d}/metrics.csv" for d in MILD2_RUNS],
    output:
        figure=figure_output("mild2_reward_hist", "mild2.rst"),
        csv=table(f"{MILD2['table']}_rewards", "csv"),
    params:
        runs=lambda wc, input: " ".join(str(Path(p).parent) for p in input),
        step=MILD2["reward_hist_step"],
        caption=f"Top: histograms of the imitation rewards of one rollout per run at snapshot "
        f"{MILD2['reward_hist_step']} (MILD² Figs. 3, 4); bottom: their standard deviation per update over training.",
    log:
        f"{LOGS}/figures/mild2_reward_hist.log",
    threads: 2
    resources:
        runtime=30,  # one rollout per run, each learner built afresh (its env compiled)
        mem_mb=4000,
    shell:
        "{PYTHON} workflow/scripts/reward_histograms.py --step {params.step} --out {output.figure} "
        "--out-csv {output.csv} {params.runs} > {log} 2>&1"


# Targets by name, the same under every config: `snakemake --cores 2 ablation`, `... tables`.
for _name in FIGURE_NAMES:

    rule:
        name:
            _name
        input:
            figure(_name),
        localrule: True


rule tables:
    input:
        table("results", "tex"),
        table("hyperparameters", "tex"),
        [table(EXPERT_TABLE["name"], "tex")] if EXPERT_TABLE_INPUTS else [],
        [table(MILD2["table"], "tex")] if MILD2_SUMMARIES else [],
        [table("claims", "md")] if CLAIM_SPECS else [],
        [f"{RESULTS}/experiments/{name}/marl_eval.json" for name in EXPERIMENT_NAMES],
        f"{RESULTS}/report/results.html",
        f"{RESULTS}/report/hyperparameters.html",
    localrule: True
