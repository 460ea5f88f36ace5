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


# The main job: every experiment's figure and table on the embedded default (the baseline learning curves are their
# own target).
rule all:
    input:
        [path for name, path in config["figures"].items() if name != "learning_curves"],
        config["tables"]["results"],
        config["tables"]["hyperparameters"],
    default_target: True
