# Stage 1: train experts / baselines (IPPO for now). One job per (task, seed); the run folder holds config.yaml,
# metrics.csv, checkpoints/step_<N>.pt, final_model.pt, train.log and resume.pt (a killed job resumes from it).


rule train_ippo:
    output:
        metrics="results/ippo/{backend}/{task}/seed{seed}/metrics.csv",
        model="results/ippo/{backend}/{task}/seed{seed}/final_model.pt",
    params:
        hparams=lambda wc: json.dumps(ippo_hparams(f"{wc.backend}/{wc.task}", wc.seed), sort_keys=True),
        run_dir=lambda wc, output: str(Path(output.metrics).parent),
    log:
        "logs/ippo/{backend}/{task}/seed{seed}.log",
    benchmark:
        "benchmarks/ippo/{backend}/{task}/seed{seed}.tsv"
    threads: lambda wc: ippo_hparams(f"{wc.backend}/{wc.task}", wc.seed)["torch_threads"]
    resources:
        mem_mb=lambda wc: ippo_mem_mb(ippo_hparams(f"{wc.backend}/{wc.task}", wc.seed)),
        runtime=lambda wc: ippo_runtime_min(ippo_hparams(f"{wc.backend}/{wc.task}", wc.seed)),
    shell:
        "{PYTHON} -m algorithms.ippo --run-dir {params.run_dir} --restart-if-changed --no-progress "
        "--set-json '{params.hparams}' > {log} 2>&1"
