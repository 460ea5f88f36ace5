# Stage 1: learners trained from scratch. Baselines for the learning curves (IPPO, MAPPO, QMIX; one job per
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
    wildcard_constraints:
        algo="|".join(BASELINES),
    log:
        "logs/{algo}/{backend}/{task}/seed{seed}.log",
    benchmark:
        "benchmarks/{algo}/{backend}/{task}/seed{seed}.tsv"
    threads: lambda wc: baseline_hparams(wc.algo, f"{wc.backend}/{wc.task}", wc.seed)["torch_threads"]
    resources:
        mem_mb=lambda wc: mem_mb(baseline_hparams(wc.algo, f"{wc.backend}/{wc.task}", wc.seed)),
        runtime=lambda wc: runtime_min(baseline_hparams(wc.algo, f"{wc.backend}/{wc.task}", wc.seed)),
    shell:
        "{PYTHON} -m algorithms.{wildcards.algo} --run-dir {params.run_dir} --restart-if-changed --no-progress "
        "--set-json '{params.hparams}' > {log} 2>&1"


rule train_expert:
    output:
        metrics="results/experts/{expert}/{backend}/{task}/seed{seed}/metrics.csv",
        model="results/experts/{expert}/{backend}/{task}/seed{seed}/final_model.pt",
    params:
        hparams=lambda wc: json.dumps(expert_hparams(wc.expert, f"{wc.backend}/{wc.task}", wc.seed), sort_keys=True),
        run_dir=lambda wc, output: str(Path(output.metrics).parent),
    wildcard_constraints:
        expert="|".join(BASELINES),
    log:
        "logs/experts/{expert}/{backend}/{task}/seed{seed}.log",
    benchmark:
        "benchmarks/experts/{expert}/{backend}/{task}/seed{seed}.tsv"
    threads: lambda wc: expert_hparams(wc.expert, f"{wc.backend}/{wc.task}", wc.seed)["torch_threads"]
    resources:
        mem_mb=lambda wc: mem_mb(expert_hparams(wc.expert, f"{wc.backend}/{wc.task}", wc.seed)),
        runtime=lambda wc: runtime_min(expert_hparams(wc.expert, f"{wc.backend}/{wc.task}", wc.seed)),
    shell:
        "{PYTHON} -m algorithms.{wildcards.expert} --run-dir {params.run_dir} --restart-if-changed --no-progress "
        "--set-json '{params.hparams}' > {log} 2>&1"
