# marlbench: the workflow's table of contents. Stages live in workflow/rules/, thin CLIs in workflow/scripts/.
#   snakemake --cores 2                                         (default target: the DM² ablation, paper Fig. 3)
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


# The main job: the DM² ablation on the embedded default (figures/ablation.pdf and its summary figure).
rule all:
    input:
        config["figures"]["ablation"],
        config["figures"]["ablation_summary"],
    default_target: True
