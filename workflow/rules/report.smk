# The report: `snakemake --report results/report.html` (after a run) bundles every figure and table of the targets
# it is given (default: everything) with captions from the config (workflow/report/), the hyperparameter tables and
# the software versions, in one HTML file that opens offline. These rules make the tables' and versions' pages.


rule software_versions:
    output:
        report(f"{RESULTS}/report/software_versions.html", caption="../report/software.rst", category="Software",
               labels={"page": "software versions"}),
    log:
        f"{LOGS}/report/software_versions.log",
    localrule: True
    shell:
        "{PYTHON} workflow/scripts/report_pages.py versions --out {output} > {log} 2>&1"


for _table, _title in [("results", "results: IQM of the final normalised score [95% CI] per arm and task"),
                       ("hyperparameters", "hyperparameters, resolved per task")]:

    rule:
        name:
            f"{_table}_table_page"
        input:
            table(_table, "csv"),
        output:
            report(f"{RESULTS}/report/{_table}.html", caption=f"../report/{_table}_table.rst", category="Tables",
                   labels={"table": _table}),
        params:
            title=_title,
        log:
            f"{LOGS}/report/{_table}.log",
        localrule: True
        shell:
            "{PYTHON} workflow/scripts/report_pages.py table --title {params.title:q} --csv {input} --out {output} "
            "> {log} 2>&1"
