# Stage 4: statistics over the ablation's runs (rliable), as tables.


rule aggregate_ablation:
    input:
        [f"{d}/metrics.csv" for d in arm_dirs()],
    output:
        summary="results/ablation/{backend}/{task}/summary.csv",
        tex="results/ablation/{backend}/{task}/summary.tex",
        curves="results/ablation/{backend}/{task}/curves.csv",
        scores="results/ablation/{backend}/{task}/scores.csv",
    params:
        runs=lambda wc, input: " ".join(str(Path(p).parent) for p in input),
        reps=config["stats"]["reps"],
        seed=config["stats"]["bootstrap_seed"],
        window=config["stats"]["final_window_evals"],
        out_dir=lambda wc, output: str(Path(output.summary).parent),
    log:
        "logs/ablation/{backend}/{task}/aggregate.log",
    shell:
        "{PYTHON} workflow/scripts/aggregate_ablation.py --out-dir {params.out_dir} --reps {params.reps} "
        "--seed {params.seed} --final-window {params.window} {params.runs} > {log} 2>&1"


rule hyperparameter_tables:
    output:
        csv=config["tables"]["hyperparameters"].removesuffix(".tex") + ".csv",
        tex=config["tables"]["hyperparameters"],
    params:
        resolved=lambda wc: json.dumps(table_hparams()),  # dicts keep the config's order
    log:
        "logs/tables/hyperparameters.log",
    shell:
        "echo '{params.resolved}' | {PYTHON} workflow/scripts/hyperparameter_tables.py --resolved-json - "
        "--out-csv {output.csv} --out-tex {output.tex} > {log} 2>&1"
