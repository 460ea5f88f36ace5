# Stage 4: statistics (rliable), as tables: per experiment and task, across tasks, and the results table.


rule aggregate_experiment:
    input:
        lambda wc: [f"{d}/metrics.csv" for d in experiment_run_dirs(wc.experiment, f"{wc.backend}/{wc.task}")],
    output:
        summary=RESULTS + "/experiments/{experiment}/{backend}/{task}/summary.csv",
        tex=RESULTS + "/experiments/{experiment}/{backend}/{task}/summary.tex",
        curves=RESULTS + "/experiments/{experiment}/{backend}/{task}/curves.csv",
        scores=RESULTS + "/experiments/{experiment}/{backend}/{task}/scores.csv",
    params:
        runs=lambda wc, input: " ".join(str(Path(p).parent) for p in input),
        reps=config["stats"]["reps"],
        seed=config["stats"]["bootstrap_seed"],
        window=config["stats"]["final_window_evals"],
        out_dir=lambda wc, output: str(Path(output.summary).parent),
        score=lambda wc: score_args([f"{wc.backend}/{wc.task}"]),
        baseline=lambda wc: (config["ablation"]["baseline"] if wc.experiment == "ablation"
                             else config["aggregate"]["baseline"]),
    wildcard_constraints:
        experiment="|".join(EXPERIMENT_NAMES),
    log:
        LOGS + "/experiments/{experiment}/{backend}/{task}/aggregate.log",
    resources:
        runtime=120,  # 50,000 bootstrap resamples take minutes
        mem_mb=8000,
    shell:
        "{PYTHON} workflow/scripts/aggregate_runs.py --out-dir {params.out_dir} --reps {params.reps} "
        "--seed {params.seed} --final-window {params.window} --baseline {params.baseline} {params.score} "
        "{params.runs} > {log} 2>&1"


# Every run of one experiment in marl-eval's raw-data JSON (the tools other MARL benchmarks use).
rule marl_eval_export:
    input:
        lambda wc: [f"{RESULTS}/experiments/{wc.experiment}/{task}/scores.csv" for task in EXPERIMENTS[wc.experiment]],
    output:
        RESULTS + "/experiments/{experiment}/marl_eval.json",
    wildcard_constraints:
        experiment="|".join(EXPERIMENT_NAMES),
    log:
        LOGS + "/experiments/{experiment}/marl_eval.log",
    localrule: True
    shell:
        "{PYTHON} workflow/scripts/marl_eval_export.py --out {output} {input} > {log} 2>&1"


rule aggregate_across_tasks:
    input:
        [f"{d}/metrics.csv" for d in aggregate_run_dirs()],
    output:
        summary=f"{RESULTS}/experiments/aggregate/summary.csv",
        tex=f"{RESULTS}/experiments/aggregate/summary.tex",
        profiles=f"{RESULTS}/experiments/aggregate/profiles.csv",
    params:
        runs=lambda wc, input: " ".join(str(Path(p).parent) for p in input),
        reps=config["stats"]["reps"],
        seed=config["stats"]["bootstrap_seed"],
        window=config["stats"]["final_window_evals"],
        baseline=config["aggregate"]["baseline"],
        score=score_args(config["aggregate"]["tasks"]),
    log:
        f"{LOGS}/experiments/aggregate.log",
    resources:
        runtime=120,
        mem_mb=8000,
    shell:
        "{PYTHON} workflow/scripts/aggregate_across_tasks.py --out-dir $(dirname {output.summary}) "
        "--reps {params.reps} --seed {params.seed} --final-window {params.window} --baseline {params.baseline} "
        "{params.score} {params.runs} > {log} 2>&1"


rule results_table:
    input:
        [f"{RESULTS}/experiments/{name}/{task}/summary.csv" for name, per_task in EXPERIMENTS.items()
         for task in per_task],
    output:
        csv=table("results", "csv"),
        tex=table("results", "tex"),
    log:
        f"{LOGS}/tables/results.log",
    localrule: True
    shell:
        "{PYTHON} workflow/scripts/results_table.py --out-csv {output.csv} --out-tex {output.tex} {input} > {log} 2>&1"


# An expert-taught family's table (CESMA's: results/tables/cesma.{csv,tex}; config tables.expert_fraction).
rule expert_fraction_table:
    input:
        EXPERT_TABLE_INPUTS,
    output:
        csv=table(EXPERT_TABLE["name"], "csv"),
        tex=table(EXPERT_TABLE["name"], "tex"),
    params:
        reach=EXPERT_TABLE["reach_fraction"],
    log:
        f"{LOGS}/tables/{EXPERT_TABLE['name']}.log",
    localrule: True
    shell:
        "{PYTHON} workflow/scripts/expert_fraction_table.py --reach {params.reach} --out-csv {output.csv} "
        "--out-tex {output.tex} {input} > {log} 2>&1"


# MILD²'s table (results/tables/<mild2_outputs.table>.{csv,tex}): the paper's Table 1 layout with CIs.
rule mild2_table:
    input:
        MILD2_SUMMARIES,
    output:
        csv=table(MILD2["table"], "csv"),
        tex=table(MILD2["table"], "tex"),
    log:
        f"{LOGS}/tables/{MILD2['table']}.log",
    localrule: True
    shell:
        "{PYTHON} workflow/scripts/mild2_table.py --out-csv {output.csv} --out-tex {output.tex} {input} > {log} 2>&1"


# The paper's claims, computed from its experiments' scores (config ``claims``): results/tables/claims.{csv,md}.
rule claims:
    input:
        sorted({spec["scores"] for spec in CLAIM_SPECS}),
    output:
        csv=table("claims", "csv"),
        md=table("claims", "md"),
    params:
        specs=json.dumps(CLAIM_SPECS),
        reps=config["stats"]["reps"],
        seed=config["stats"]["bootstrap_seed"],
        window=config["stats"]["final_window_evals"],
        margin=CLAIMS["equal_margin"],
    log:
        f"{LOGS}/tables/claims.log",
    localrule: True
    shell:
        "echo {params.specs:q} | {PYTHON} workflow/scripts/claims_table.py --claims-json - --reps {params.reps} "
        "--seed {params.seed} --final-window {params.window} --margin {params.margin} --out-csv {output.csv} "
        "--out-md {output.md} > {log} 2>&1"


rule hyperparameter_tables:
    output:
        csv=table("hyperparameters", "csv"),
        tex=table("hyperparameters", "tex"),
    params:
        resolved=lambda wc: json.dumps(table_hparams()),  # dicts keep the config's order
    log:
        f"{LOGS}/tables/hyperparameters.log",
    localrule: True
    shell:
        "echo {params.resolved:q} | {PYTHON} workflow/scripts/hyperparameter_tables.py --resolved-json - "
        "--out-csv {output.csv} --out-tex {output.tex} > {log} 2>&1"
