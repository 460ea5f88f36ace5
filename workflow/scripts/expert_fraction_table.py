"""The table of an expert-taught family (CESMA's: results/tables/cesma.{csv,tex}): per task of its experiments, the
expert's greedy score and training steps, and for every arm its final score as a fraction of the expert's (IQM of
the normalised final score and its 95% CI, each divided by the expert's normalised score) and the env steps at which
its IQM learning curve first reaches ``--reach`` (0.95) of the expert's score ("—": not within its budget). Decentralization steps are counted on the same axis as every other
arm's; the expert's own training steps stand beside them.

    python workflow/scripts/expert_fraction_table.py --reach 0.95 --out-csv results/tables/cesma.csv \\
        --out-tex results/tables/cesma.tex results/experiments/cesma_decentralization/mpe/spread_3/summary.csv
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


def task_rows(summary: pd.DataFrame, curves: pd.DataFrame, reach: float, where: Path) -> list[dict]:
    taught = summary[np.isfinite(summary.expert_score)]
    experts = taught.demo.unique()
    if len(experts) != 1:
        raise ValueError(f"{where}: the table needs exactly one expert per task (the arms taught by it have "
                         f"expert_score), got {list(experts) or 'none'}")
    first = taught.iloc[0]
    expert_score = float(first.expert_score)
    # a fraction of an expert no better than a random policy means nothing: its cells stay empty, and say why
    usable = expert_score > 0
    if not usable:
        print(f"{where}: the expert's normalised score {expert_score:.3f} is not above a random policy's (0): no "
              "fractions of it", file=sys.stderr)
    scale = expert_score if usable else np.nan
    rows = []
    for row in summary.itertuples():
        curve = curves[curves.label == row.label].sort_values("env_steps")
        reached = curve[curve.iqm_score >= reach * scale]
        rows.append({
            "task": row.task, "label": row.label, "arm": row.arm, "execution": row.execution, "runs": row.runs,
            "expert": first.demo_expert, "expert_training_steps": int(first.demo_step),
            "expert_raw_score": float(first.expert_raw_score), "expert_score": expert_score,
            "iqm_final_score": row.iqm_final_score,
            "fraction_of_expert": row.iqm_final_score / scale,
            "fraction_ci_low": row.final_ci_low / scale, "fraction_ci_high": row.final_ci_high / scale,
            "steps_to_reach": float(reached.env_steps.iloc[0]) if len(reached) else np.nan,
            "budget_steps": float(curve.env_steps.max())})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reach", type=float, required=True, help="fraction of the expert's score to reach")
    parser.add_argument("--out-csv", type=Path, required=True)
    parser.add_argument("--out-tex", type=Path, required=True)
    parser.add_argument("summaries", type=Path, nargs="+", help="summary.csv per task (curves.csv next to it)")
    args = parser.parse_args(argv)
    if not 0 < args.reach <= 1:
        parser.error(f"--reach must be in (0, 1], got {args.reach}")
    rows = []
    for path in args.summaries:
        rows += task_rows(pd.read_csv(path), pd.read_csv(path.parent / "curves.csv"), args.reach, path)
    table = pd.DataFrame(rows)
    atomic_write_text(args.out_csv, table.to_csv(index=False))
    shown = pd.DataFrame({
        "task": table.task, "arm": table.label, "execution": table.execution,
        "expert (training steps)": [f"{s:.3f} ({int(n):,})" for s, n in zip(table.expert_score,
                                                                           table.expert_training_steps)],
        "fraction of expert [95% CI]": ["— (expert not above random)" if not np.isfinite(f) else
                                        f"{f:.2f} [{lo:.2f}, {hi:.2f}]" for f, lo, hi in
                                        zip(table.fraction_of_expert, table.fraction_ci_low, table.fraction_ci_high)],
        f"steps to {args.reach:.0%}": ["—" if not np.isfinite(s) else f"{int(s):,}" for s in table.steps_to_reach],
        "budget": [f"{int(b):,}" for b in table.budget_steps]})
    buf = io.StringIO()
    shown.to_latex(buf, index=False, escape=True, label="tab:cesma", caption=latex.text(
        "CESMA: the expert's normalised greedy score and training steps; each arm's final normalised score (IQM over "
        "seeds, mean of the last evaluations) as a fraction of the expert's, 95% stratified-bootstrap CI; env steps "
        f"at which its IQM curve first reaches {args.reach:.0%} of the expert's score (— : not within its budget). "
        f"Computed with {provenance()}."))
    atomic_write_text(args.out_tex, buf.getvalue())
    print(f"wrote {args.out_csv} and {args.out_tex} ({len(table)} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
