# Stage 2: demonstrations from the expert teams' checkpoints, one file per (style, checkpoint step).


rule train_expert:
    output:
        metrics="results/experts/ippo/{backend}/{task}/seed{seed}/metrics.csv",
        model="results/experts/ippo/{backend}/{task}/seed{seed}/final_model.pt",
    params:
        hparams=lambda wc: json.dumps(expert_hparams(f"{wc.backend}/{wc.task}", wc.seed), sort_keys=True),
        run_dir=lambda wc, output: str(Path(output.metrics).parent),
    log:
        "logs/experts/ippo/{backend}/{task}/seed{seed}.log",
    benchmark:
        "benchmarks/experts/ippo/{backend}/{task}/seed{seed}.tsv"
    threads: lambda wc: expert_hparams(f"{wc.backend}/{wc.task}", wc.seed)["torch_threads"]
    resources:
        mem_mb=lambda wc: mem_mb(expert_hparams(f"{wc.backend}/{wc.task}", wc.seed)),
        runtime=lambda wc: runtime_min(expert_hparams(f"{wc.backend}/{wc.task}", wc.seed)),
    shell:
        "{PYTHON} -m algorithms.ippo --run-dir {params.run_dir} --restart-if-changed --no-progress "
        "--set-json '{params.hparams}' > {log} 2>&1"


def demo_experts(wc):
    """The co-trained styles read team 0 only; the independent styles every team."""
    seeds = ABLATION["experts"]["seeds"]
    seeds = seeds if wc.style.startswith("indep") else seeds[:1]
    return [f"results/experts/ippo/{wc.backend}/{wc.task}/seed{s}/final_model.pt" for s in seeds]


rule sample_demonstrations:
    input:
        demo_experts,
    output:
        "results/demos/{backend}/{task}/{style}_step{step}.npz",
    params:
        runs=lambda wc, input: " ".join(str(Path(p).parent) for p in input),
        sampling=lambda wc: json.dumps(ABLATION["demos"], sort_keys=True),  # rerun when any sampling value changes
        episodes=ABLATION["demos"]["episodes"],
        seed=ABLATION["demos"]["seed"],
        mode=ABLATION["demos"]["mode"],
        epsilon=ABLATION["demos"]["epsilon"],
        greedy=ABLATION["demos"]["greedy_eval_episodes"],
    wildcard_constraints:
        style="|".join(STYLES),
        step="[0-9]+",
    log:
        "logs/demos/{backend}/{task}/{style}_step{step}.log",
    shell:
        "{PYTHON} workflow/scripts/sample_demonstrations.py --style {wildcards.style} --step {wildcards.step} "
        "--episodes {params.episodes} --seed {params.seed} --mode {params.mode} --epsilon {params.epsilon} "
        "--greedy-eval-episodes {params.greedy} --out {output} {params.runs} > {log} 2>&1"
