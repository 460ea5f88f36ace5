"""The results table: IQM of the final normalised score with its 95% CI for every arm on every task, from the
per-experiment summaries (aggregate_runs.py). An arm that several experiments share is one row (the same runs).

    python workflow/scripts/results_table.py --out-csv results/tables/results.csv --out-tex results/tables/results.tex \\
        results/experiments/*/smax/*/summary.csv
"""
from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from algorithms.common.runio import atomic_write_text  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import latex  # noqa: E402
from report_pages import provenance  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out-csv", type=Path, required=True)
    parser.add_argument("--out-tex", type=Path, required=True)
    parser.add_argument("summaries", type=Path, nargs="+", help="results/experiments/<experiment>/<task>/summary.csv")
    args = parser.parse_args(argv)
    parts = []
    for path in args.summaries:
        df = pd.read_csv(path)
        df["experiment"] = path.parents[2].name
        parts.append(df)
    every = pd.concat(parts, ignore_index=True)
    # one row per (task, arm): the experiments that use it listed together
    used_in = every.groupby(["task", "label"], sort=False).experiment.agg(lambda s: " ".join(dict.fromkeys(s)))
    table = every.drop_duplicates(["task", "label"]).set_index(["task", "label"])
    table["experiments"] = used_in
    table = table.reset_index()[["task", "label", "arm", "demo", "runs", "execution", "metric", "iqm_final_score",
                                 "final_ci_low", "final_ci_high", "iqm_auc", "poi_vs_baseline", "demo_sampled_win_rate", "experiments"]]
    atomic_write_text(args.out_csv, table.to_csv(index=False))
    cell = table.apply(lambda r: f"{r.iqm_final_score:.2f} [{r.final_ci_low:.2f}, {r.final_ci_high:.2f}]", axis=1)
    wide = table.assign(cell=cell).pivot(index="label", columns="task", values="cell")
    wide = wide.reindex(index=list(dict.fromkeys(table.label)), columns=list(dict.fromkeys(table.task))).fillna("--")
    buf = io.StringIO()
    wide.to_latex(buf, escape=True, label="tab:results",
                  caption=latex.text(f"IQM of the final normalised score (SMAX: test win rate; MPE: test return "
                                     f"normalised by fixed bounds) and its 95% stratified-bootstrap CI, "
                                     f"{int(table.runs.min())} runs per arm and task. Computed with "
                                     f"{provenance()}."))
    atomic_write_text(args.out_tex, buf.getvalue())
    print(wide.to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
