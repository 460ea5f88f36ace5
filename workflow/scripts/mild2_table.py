"""MILD²'s table (results/tables/mild2.{csv,tex}), in the layout of the paper's Table 1 with the statistics a reviewer
expects beside it: per task, the expert whose demonstrations the imitation arms learn from (its greedy return and
win rate) and the demonstrations themselves (the sampled episodes' return and win rate), then every arm with its
execution mode, the final episode return as mean ± standard deviation over seeds (the paper's form: each seed's mean
over the last evaluations), the final win rate likewise, and the IQM of the normalised final score with its 95%
stratified-bootstrap CI (``aggregate_runs.py``).

    python workflow/scripts/mild2_table.py --out-csv results/tables/mild2.csv --out-tex results/tables/mild2.tex \\
        results/experiments/mild2/smax/3m/summary.csv
"""
from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from algorithms.common.runio import atomic_write_text  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import latex  # noqa: E402
from report_pages import provenance  # noqa: E402

COLUMNS = ["task", "label", "arm", "execution", "runs", "final_return_mean", "final_return_std",
           "final_win_rate_mean", "final_win_rate_std", "metric", "iqm_final_score", "final_ci_low", "final_ci_high"]


def task_rows(summary: pd.DataFrame, where: Path) -> list[dict]:
    """The expert's and its demonstrations' rows (from the demonstrations the arms read; one set per task), then one
    row per arm."""
    missing = sorted(set(COLUMNS) - set(summary.columns))
    if missing:
        raise ValueError(f"{where}: columns {missing} are missing: aggregate it again with aggregate_runs.py")
    taught = summary[summary.demo != "none"]
    experts = taught.demo.unique()
    if len(experts) != 1:
        raise ValueError(f"{where}: the table needs exactly one demonstration set per task (its expert is the "
                         f"table's reference), got {list(experts) or 'none'}")
    first = taught.iloc[0]
    reference = {"task": first.task, "execution": "", "runs": np.nan, "final_return_std": np.nan,
                 "final_win_rate_std": np.nan, "metric": first.metric, "iqm_final_score": np.nan,
                 "final_ci_low": np.nan, "final_ci_high": np.nan}
    rows = [{**reference, "label": f"expert ({first.demo_expert}, greedy)", "arm": "expert",
             "final_return_mean": first.get("demo_expert_greedy_return", np.nan),
             "final_win_rate_mean": first.demo_expert_greedy_win_rate},
            {**reference, "label": "its demonstrations (sampled)", "arm": "demonstrations",
             "final_return_mean": first.get("demo_sampled_return", np.nan),
             "final_win_rate_mean": first.demo_sampled_win_rate}]
    rows += summary[COLUMNS].to_dict("records")
    return rows


def pm(mean: float, std: float, digits: int) -> str:
    if not np.isfinite(mean):
        return "—"
    return f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if np.isfinite(std) else "")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out-csv", type=Path, required=True)
    parser.add_argument("--out-tex", type=Path, required=True)
    parser.add_argument("summaries", type=Path, nargs="+", help="summary.csv per task (aggregate_runs.py)")
    args = parser.parse_args(argv)
    rows = []
    for path in args.summaries:
        rows += task_rows(pd.read_csv(path), path)
    table = pd.DataFrame(rows)[COLUMNS]
    atomic_write_text(args.out_csv, table.to_csv(index=False))
    shown = pd.DataFrame({
        "task": table.task, "arm": table.label, "execution": table.execution,
        "return (mean ± std)": [pm(m, s, 2) for m, s in zip(table.final_return_mean, table.final_return_std)],
        "win rate (mean ± std)": [pm(m, s, 2) for m, s in zip(table.final_win_rate_mean, table.final_win_rate_std)],
        "IQM score [95% CI]": ["—" if not np.isfinite(v) else f"{v:.2f} [{lo:.2f}, {hi:.2f}]"
                               for v, lo, hi in zip(table.iqm_final_score, table.final_ci_low, table.final_ci_high)]})
    buf = io.StringIO()
    shown.to_latex(buf, index=False, escape=True, label="tab:mild2", caption=latex.text(
        "MILD² against MILD²-GD and MAGAIL (MAT and PPO generators), with behavioural cloning alone (BC, no env "
        "steps: its cloned policy evaluated once) and MAT on the env reward as references: final greedy episode "
        "return and win rate (each seed's mean over the last evaluations; mean ± standard deviation over seeds, as "
        "the paper's Table 1) and the IQM of the normalised final score with its 95% stratified-bootstrap CI. The "
        "expert's rows: the greedy return and win rate of the policy whose demonstrations the imitation arms learn "
        f"from, and those of the sampled demonstrations. Computed with {provenance()}."))
    atomic_write_text(args.out_tex, buf.getvalue())
    print(f"wrote {args.out_csv} and {args.out_tex} ({len(table)} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
