# Last stage: figures.


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
        summary=f"results/ablation/{ABL_TASK}/summary.csv",
        curves=f"results/ablation/{ABL_TASK}/curves.csv",
    output:
        ablation=config["figures"]["ablation"],
        summary=config["figures"]["ablation_summary"],
    params:
        task=ABL_TASK,
    log:
        "logs/figures/ablation.log",
    shell:
        "{PYTHON} workflow/scripts/plot_ablation.py --tables $(dirname {input.summary}) --task {params.task} "
        "--out {output.ablation} --summary-out {output.summary} > {log} 2>&1"
