# marlbench: the workflow's table of contents. Stages live in workflow/rules/, thin CLIs in workflow/scripts/.
#   snakemake --cores 2                                         (default target: every figure and table of the paper)
#   snakemake --cores 2 figures/ablation.pdf                   (one figure, and only the runs it needs)
#   snakemake --cores 2 figures/learning_curves.pdf            (IPPO, MAPPO, QMIX learning curves)
#   snakemake --cores 2 --configfile config/quick.yaml         (tiny budgets)
from snakemake.utils import min_version, validate

min_version("9.0")

configfile: "config/config.yaml"


validate(config, "config/schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/experts.smk"
include: "workflow/rules/demos.smk"
include: "workflow/rules/arms.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/figures.smk"


# The main job: every figure and table of the DM² paper on the embedded default.
PAPER_FIGURES = ["ablation", "ablation_summary", "main_results", "gail_reward", "bc_pretraining", "demo_quality",
                 "state_action", "aggregate"]


rule all:
    input:
        [config["figures"][name] for name in PAPER_FIGURES],
        config["tables"]["results"],
        config["tables"]["hyperparameters"],
    default_target: True
