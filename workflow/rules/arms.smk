# Stage 3: the arms of every experiment, one job per task, arm, input and seed. The arm's learner module, settings
# and execution mode come from algorithms/registry.py.


rule train_arm:
    input:
        lambda wc: input_files(f"{wc.backend}/{wc.task}", wc.input),
    output:
        metrics=RESULTS + "/arms/{backend}/{task}/{arm}/{input}/seed{seed}/metrics.csv",
    params:
        hparams=lambda wc: json.dumps(arm_hparams(f"{wc.backend}/{wc.task}", wc.arm, wc.input, wc.seed),
                                      sort_keys=True),
        module=lambda wc: registry.learner(registry.arm(wc.arm).learner).module,
        run_dir=lambda wc, output: str(Path(output.metrics).parent),
    wildcard_constraints:
        arm="|".join(registry.ARMS),
        input="none|demos-[a-z0-9_]+-[a-z_]+-[0-9]+|expert-[a-z0-9_]+-[0-9]+",
    log:
        LOGS + "/arms/{backend}/{task}/{arm}/{input}/seed{seed}.log",
    benchmark:
        BENCHMARKS + "/arms/{backend}/{task}/{arm}/{input}/seed{seed}.tsv"
    threads: lambda wc: arm_hparams(f"{wc.backend}/{wc.task}", wc.arm, wc.input, wc.seed)["torch_threads"]
    resources:
        mem_mb=lambda wc: job_resources(registry.arm(wc.arm).learner,
                                        arm_hparams(f"{wc.backend}/{wc.task}", wc.arm, wc.input, wc.seed))[0] + 500,
        runtime=lambda wc: job_resources(registry.arm(wc.arm).learner,
                                         arm_hparams(f"{wc.backend}/{wc.task}", wc.arm, wc.input, wc.seed))[1],
    shell:
        "{PYTHON} -m {params.module} --arm {wildcards.arm} --run-dir {params.run_dir} --restart-if-changed "
        "--no-progress --set-json '{params.hparams}' > {log} 2>&1"
