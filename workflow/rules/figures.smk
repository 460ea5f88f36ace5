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
    log:
        "logs/figures/ablation.log",
    shell:
        "{PYTHON} workflow/scripts/plot_ablation.py --tables $(dirname {input.summary}) --task {params.task} "
        "--out {output.ablation} --summary-out {output.summary} > {log} 2>&1"


# Per-task learning curves of one experiment (paper Figs. 2/4, 5, 6, 7 and the state-action ablation).
FIGURE_TITLES = {
    "main_results": "DM² against the baselines",
    "gail_reward": "the GAIL reward alone (GAIL-only), the environment reward alone (IPPO), both (DM²)",
    "bc_pretraining": "behavioural-cloning pretraining",
    "demo_quality": "DM² with demonstrations of different quality",
    "state_action": "discriminator on observations vs observations + actions",
}
for _name, _title in FIGURE_TITLES.items():

    rule:
        name:
            f"plot_{_name}"
        input:
            [f"results/experiments/{_name}/{task}/summary.csv" for task in EXPERIMENTS[_name]],
        output:
            config["figures"][_name],
        params:
            title=_title,
        log:
            f"logs/figures/{_name}.log",
        shell:
            "{PYTHON} workflow/scripts/plot_experiment.py --title '{params.title}' --out {output} {input} > {log} 2>&1"


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
