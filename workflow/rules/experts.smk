# Stage 1: learners trained from scratch. Baselines for the learning curves (baseline_runs; one job per
# algorithm, task and seed), and the expert teams whose checkpoints give the demonstrations. A run folder holds
# config.yaml, train.log, checkpoints/step_<N>.pt, while training progress.csv and resume.pt (a killed or SIGTERMed
# job resumes from it), and once done final_model.pt and metrics.csv (the declared outputs appear only then).


rule train_baseline:
    output:
        metrics=RESULTS + "/{algo}/{backend}/{task}/seed{seed}/metrics.csv",
        model=RESULTS + "/{algo}/{backend}/{task}/seed{seed}/final_model.pt",
    params:
        hparams=lambda wc: json.dumps(baseline_hparams(wc.algo, f"{wc.backend}/{wc.task}", wc.seed), sort_keys=True),
        run_dir=lambda wc, output: str(Path(output.metrics).parent),
        module=lambda wc: registry.learner(wc.algo).module,
    wildcard_constraints:
        algo="|".join(LEARNER_NAMES),
    log:
        LOGS + "/{algo}/{backend}/{task}/seed{seed}.log",
    benchmark:
        BENCHMARKS + "/{algo}/{backend}/{task}/seed{seed}.tsv"
    threads: lambda wc: baseline_hparams(wc.algo, f"{wc.backend}/{wc.task}", wc.seed)["torch_threads"]
    resources:
        mem_mb=lambda wc: job_resources(wc.algo, baseline_hparams(wc.algo, f"{wc.backend}/{wc.task}", wc.seed))[0],
        runtime=lambda wc: job_resources(wc.algo, baseline_hparams(wc.algo, f"{wc.backend}/{wc.task}", wc.seed))[1],
    shell:
        "{PYTHON} -m {params.module} --run-dir {params.run_dir} --restart-if-changed --no-progress "
        "--set-json '{params.hparams}' > {log} 2>&1"


rule train_expert:
    output:
        metrics=RESULTS + "/experts/{expert}/{backend}/{task}/seed{seed}/metrics.csv",
        model=RESULTS + "/experts/{expert}/{backend}/{task}/seed{seed}/final_model.pt",
    params:
        hparams=lambda wc: json.dumps(expert_hparams(wc.expert, f"{wc.backend}/{wc.task}", wc.seed), sort_keys=True),
        run_dir=lambda wc, output: str(Path(output.metrics).parent),
        module=lambda wc: registry.learner(wc.expert).module,
    wildcard_constraints:
        expert="|".join(EXPERT_NAMES),
    log:
        LOGS + "/experts/{expert}/{backend}/{task}/seed{seed}.log",
    benchmark:
        BENCHMARKS + "/experts/{expert}/{backend}/{task}/seed{seed}.tsv"
    threads: lambda wc: expert_hparams(wc.expert, f"{wc.backend}/{wc.task}", wc.seed)["torch_threads"]
    resources:
        mem_mb=lambda wc: job_resources(wc.expert, expert_hparams(wc.expert, f"{wc.backend}/{wc.task}", wc.seed))[0],
        runtime=lambda wc: job_resources(wc.expert, expert_hparams(wc.expert, f"{wc.backend}/{wc.task}", wc.seed))[1],
    shell:
        "{PYTHON} -m {params.module} --run-dir {params.run_dir} --restart-if-changed --no-progress "
        "--set-json '{params.hparams}' > {log} 2>&1"
