# Stage 1: learners trained from scratch. Baselines for the learning curves (baseline_runs; one job per
# algorithm, task and seed), and the expert teams whose checkpoints give the demonstrations. A run folder holds
# config.yaml, metrics.csv, checkpoints/step_<N>.pt, final_model.pt, train.log and resume.pt (a killed job resumes
# from it).


rule train_baseline:
    output:
        metrics="results/{algo}/{backend}/{task}/seed{seed}/metrics.csv",
        model="results/{algo}/{backend}/{task}/seed{seed}/final_model.pt",
    params:
        hparams=lambda wc: json.dumps(baseline_hparams(wc.algo, f"{wc.backend}/{wc.task}", wc.seed), sort_keys=True),
        run_dir=lambda wc, output: str(Path(output.metrics).parent),
        module=lambda wc: registry.learner(wc.algo).module,
    wildcard_constraints:
        algo="|".join(LEARNER_NAMES),
    log:
        "logs/{algo}/{backend}/{task}/seed{seed}.log",
    benchmark:
        "benchmarks/{algo}/{backend}/{task}/seed{seed}.tsv"
    threads: lambda wc: baseline_hparams(wc.algo, f"{wc.backend}/{wc.task}", wc.seed)["torch_threads"]
    resources:
        mem_mb=lambda wc: job_resources(wc.algo, baseline_hparams(wc.algo, f"{wc.backend}/{wc.task}", wc.seed))[0],
        runtime=lambda wc: job_resources(wc.algo, baseline_hparams(wc.algo, f"{wc.backend}/{wc.task}", wc.seed))[1],
    shell:
        "{PYTHON} -m {params.module} --run-dir {params.run_dir} --restart-if-changed --no-progress "
        "--set-json '{params.hparams}' > {log} 2>&1"


rule train_expert:
    output:
        metrics="results/experts/{expert}/{backend}/{task}/seed{seed}/metrics.csv",
        model="results/experts/{expert}/{backend}/{task}/seed{seed}/final_model.pt",
    params:
        hparams=lambda wc: json.dumps(expert_hparams(wc.expert, f"{wc.backend}/{wc.task}", wc.seed), sort_keys=True),
        run_dir=lambda wc, output: str(Path(output.metrics).parent),
        module=lambda wc: registry.learner(wc.expert).module,
    wildcard_constraints:
        expert="|".join(EXPERT_NAMES),
    log:
        "logs/experts/{expert}/{backend}/{task}/seed{seed}.log",
    benchmark:
        "benchmarks/experts/{expert}/{backend}/{task}/seed{seed}.tsv"
    threads: lambda wc: expert_hparams(wc.expert, f"{wc.backend}/{wc.task}", wc.seed)["torch_threads"]
    resources:
        mem_mb=lambda wc: job_resources(wc.expert, expert_hparams(wc.expert, f"{wc.backend}/{wc.task}", wc.seed))[0],
        runtime=lambda wc: job_resources(wc.expert, expert_hparams(wc.expert, f"{wc.backend}/{wc.task}", wc.seed))[1],
    shell:
        "{PYTHON} -m {params.module} --run-dir {params.run_dir} --restart-if-changed --no-progress "
        "--set-json '{params.hparams}' > {log} 2>&1"
