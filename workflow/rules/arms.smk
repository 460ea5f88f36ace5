# Stage 3: the arms of every experiment (baselines, DM² and its variants), one job per task, arm, demonstrations
# and seed.


rule train_arm:
    input:
        demos=lambda wc: [] if wc.demo == "none" else [demo_path(f"{wc.backend}/{wc.task}", wc.demo)],
    output:
        metrics="results/arms/{backend}/{task}/{arm}/{demo}/seed{seed}/metrics.csv",
    params:
        hparams=lambda wc: json.dumps(arm_hparams(f"{wc.backend}/{wc.task}", wc.arm, wc.demo, wc.seed),
                                      sort_keys=True),
        module=lambda wc: f"algorithms.{wc.arm}" if wc.arm in BASELINES else "algorithms.dm2",
        run_dir=lambda wc, output: str(Path(output.metrics).parent),
    wildcard_constraints:
        arm="|".join(ARM_NAMES),
        demo="none|(" + "|".join(BASELINES) + ")_[a-z_]+_step[0-9]+",
    log:
        "logs/arms/{backend}/{task}/{arm}/{demo}/seed{seed}.log",
    benchmark:
        "benchmarks/arms/{backend}/{task}/{arm}/{demo}/seed{seed}.tsv"
    threads: lambda wc: arm_hparams(f"{wc.backend}/{wc.task}", wc.arm, wc.demo, wc.seed)["torch_threads"]
    resources:
        mem_mb=lambda wc: mem_mb(arm_hparams(f"{wc.backend}/{wc.task}", wc.arm, wc.demo, wc.seed)) + 500,
        runtime=lambda wc: runtime_min(arm_hparams(f"{wc.backend}/{wc.task}", wc.arm, wc.demo, wc.seed)),
    shell:
        "{PYTHON} -m {params.module} --run-dir {params.run_dir} --restart-if-changed --no-progress "
        "--set-json '{params.hparams}' > {log} 2>&1"
