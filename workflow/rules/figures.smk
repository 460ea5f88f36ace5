# Last stage: figures, each its own target (snakemake figures/<name>.pdf, or the rule's name).


rule plot_learning_curves:
    input:
        [f"{d}/metrics.csv" for d in baseline_run_dirs()],
    output:
        config["figures"]["learning_curves"],
    log:
        "logs/figures/learning_curves.log",
    shell:
        "{PYTHON} workflow/scripts/plot_learning_curves.py --out {output} {input} > {log} 2>&1"


rule plot_ablation:
    input:
        summary=f"results/experiments/ablation/{config['ablation']['task']}/summary.csv",
        curves=f"results/experiments/ablation/{config['ablation']['task']}/curves.csv",
    output:
        ablation=config["figures"]["ablation"],
        summary=config["figures"]["ablation_summary"],
    params:
        task=config["ablation"]["task"],
        arm=config["ablation"]["arm"],
        baseline=config["ablation"]["baseline"],
    log:
        "logs/figures/ablation.log",
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
            [f"results/experiments/{_name}/{task}/summary.csv" for task in EXPERIMENTS[_name]],
        output:
            config["figures"][_name],
        params:
            title=config["experiments"][_name]["title"],
        log:
            f"logs/figures/{_name}.log",
        shell:
            "{PYTHON} workflow/scripts/plot_experiment.py --title {params.title:q} --out {output} {input} > {log} 2>&1"


rule plot_aggregate:
    input:
        summary="results/experiments/aggregate/summary.csv",
        profiles="results/experiments/aggregate/profiles.csv",
    output:
        config["figures"]["aggregate"],
    params:
        tasks=" ".join(config["aggregate"]["tasks"]),
        baseline=config["aggregate"]["baseline"],
    log:
        "logs/figures/aggregate.log",
    shell:
        "{PYTHON} workflow/scripts/plot_aggregate.py --summary {input.summary} --profiles {input.profiles} "
        "--tasks {params.tasks} --baseline {params.baseline} --out {output} > {log} 2>&1"
