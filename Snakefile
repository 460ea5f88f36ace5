# marlbench: the workflow's table of contents. Stages live in workflow/rules/, thin CLIs in workflow/scripts/.
# Targets go before any --configfile=FILE (--configfile takes every word after it). Figures and tables are named
# the same under every config; their files lie under figures/<tag>/ and results/<tag>/ (config outputs.tag).
#   snakemake --cores 2 ablation                              (the headline figure: DM² ablation, 43 min on 2 cores)
#   snakemake --cores 2                                       (every figure and table: the default target)
#   snakemake --cores 2 main_results tables                   (one figure, the tables, and only the runs they need)
#   snakemake --cores 2 learning_curves                       (IPPO, MAPPO, QMIX learning curves)
#   snakemake --cores 2 claims                                (the DM² paper's claims with computed verdicts)
#   snakemake --cores 2 --configfile=config/quick.yaml        (tiny budgets, under figures/quick/, results/quick/)
#   snakemake --report results/report.html                    (every figure and table, offline, after a run)
from snakemake.utils import min_version, validate

min_version("9.0")

DEFAULT_CONFIG = "config/config.yaml"


def check_yaml(path: str) -> None:
    """A config file that is not valid YAML: say which file and where (Snakemake's own message names neither)."""
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            yaml.safe_load(f)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        raise ValueError(f"{path} is not valid YAML ({where}): {getattr(exc, 'problem', None) or exc}") from None


check_yaml(DEFAULT_CONFIG)


configfile: DEFAULT_CONFIG


validate(config, "config/schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/experts.smk"
include: "workflow/rules/demos.smk"
include: "workflow/rules/arms.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/report.smk"


report: "workflow/report/workflow.rst"


# Everything: every experiment's figure and the tables on the embedded default (the baseline learning curves are
# their own target).
rule all:
    input:
        [figure(name) for name in FIGURE_NAMES if name != "learning_curves"],
        rules.tables.input,
        rules.software_versions.output,
    default_target: True
