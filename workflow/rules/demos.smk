# Stage 2: demonstrations from the expert teams' checkpoints, one file per (expert algorithm, style, checkpoint).


def demo_experts(wc):
    """The co-trained styles read team 0 only; the independent styles every team."""
    seeds = config["experts"][wc.expert]["seeds"]
    seeds = seeds if wc.style.startswith("indep") else seeds[:1]
    return [f"{RESULTS}/experts/{wc.expert}/{wc.backend}/{wc.task}/seed{s}/final_model.pt" for s in seeds]


rule sample_demonstrations:
    input:
        demo_experts,
    output:
        RESULTS + "/demos/{backend}/{task}/{expert}/{style}_step{step}.npz",
    params:
        runs=lambda wc, input: " ".join(str(Path(p).parent) for p in input),
        # this expert's sampling on this task only: changing QMIX's epsilon reruns QMIX's demonstrations alone
        sampling=lambda wc: demo_sampling(wc.expert, f"{wc.backend}/{wc.task}"),
        episodes=config["demos"]["episodes"],
        seed=config["demos"]["seed"],
        greedy=config["demos"]["greedy_eval_episodes"],
    wildcard_constraints:
        expert="|".join(EXPERT_NAMES),
        style="|".join(STYLES),
        step="[0-9]+",
    resources:
        runtime=30,
        mem_mb=4000,
    log:
        LOGS + "/demos/{backend}/{task}/{expert}/{style}_step{step}.log",
    shell:
        "{PYTHON} workflow/scripts/sample_demonstrations.py --style {wildcards.style} --step {wildcards.step} "
        "--episodes {params.episodes} --seed {params.seed} --mode {params.sampling[mode]} "
        "--epsilon {params.sampling[epsilon]} --greedy-eval-episodes {params.greedy} --out {output} {params.runs} "
        "> {log} 2>&1"
