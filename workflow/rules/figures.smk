# Last stage: figures.


rule plot_ippo_learning_curves:
    input:
        [f"{d}/metrics.csv" for d in ippo_run_dirs()],
    output:
        config["figures"]["learning_curve"],
    log:
        "logs/figures/ippo_learning_curve.log",
    shell:
        "{PYTHON} workflow/scripts/plot_learning_curves.py --out {output} {input} > {log} 2>&1"
