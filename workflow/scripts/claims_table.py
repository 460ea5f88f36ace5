"""The paper's claims, computed (results/tables/claims.{csv,md}): one row per claim (config ``claims``) and task of
its experiment. Each claim compares two runs of one experiment on one statistic of the normalised score (``final``:
the mean of the last evaluations; ``auc``: the area under the score curve) and expects the first to be ``better``
than the second, ``worse``, or ``equal`` to it. The estimate is rliable's probability of improvement P(X > Y) of the
first run over the second, with its 95% stratified-bootstrap CI; the verdict follows one rule (``verdict``):

- better: reproduced when the CI lies above 0.5, contradicted when it lies below, inconclusive when it contains 0.5;
- worse: the mirror image;
- equal: reproduced when the CI lies inside [0.5 - margin, 0.5 + margin] (an equivalence test: the data show the
  two are close, not merely that they failed to differ), contradicted when it excludes 0.5, else inconclusive.

Both arms' IQMs with their CIs are reported beside it, and whether those CIs overlap. The Markdown file names the
rule, the resamples, the seeds and the software versions (with the git commit) that computed it.

    echo '[{"id": "C1", ...}]' | python workflow/scripts/claims_table.py --claims-json - --reps 2000 --seed 0 \\
        --final-window 3 --margin 0.25 --out-csv results/tables/claims.csv --out-md results/tables/claims.md
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from aggregate_runs import score_arrays, seeded_intervals  # noqa: E402
from algorithms.common.runio import atomic_write_text  # noqa: E402
from report_pages import provenance  # noqa: E402

EXPECTATIONS = ("better", "worse", "equal")
STATISTICS = ("final", "auc")
VERDICTS = ("reproduced", "contradicted", "inconclusive")


def verdict(expect: str, ci_low: float, ci_high: float, margin: float) -> str:
    """The verdict on a claim from the 95% CI [ci_low, ci_high] of P(first run > second run)."""
    if expect not in EXPECTATIONS:
        raise ValueError(f"expect must be one of {', '.join(EXPECTATIONS)}, got {expect!r}")
    if not 0 < margin < 0.5:
        raise ValueError(f"the equivalence margin must lie in (0, 0.5), got {margin}")
    above, below = ci_low > 0.5, ci_high < 0.5
    if expect == "better":
        return "reproduced" if above else "contradicted" if below else "inconclusive"
    if expect == "worse":
        return "reproduced" if below else "contradicted" if above else "inconclusive"
    if 0.5 - margin <= ci_low and ci_high <= 0.5 + margin:
        return "reproduced"
    return "contradicted" if above or below else "inconclusive"


def per_seed(scores: pd.DataFrame, arm: str, run_input: str, statistic: str, final_window: int,
             where: str) -> tuple[str, np.ndarray]:
    """(label, the statistic per seed [runs, 1]) of one run of an experiment's scores table."""
    rows = scores[(scores.arm == arm) & (scores.demo == run_input)]
    if rows.empty:
        have = sorted(set(zip(scores.arm, scores.demo)))
        raise ValueError(f"{where}: run {arm}/{run_input} is not in the scores; have {have}")
    (label, (final, auc, _, _)), = score_arrays(rows, final_window).items()
    return label, final if statistic == "final" else auc


def claim_row(spec: dict, reps: int, seed: int, final_window: int, margin: float) -> dict:
    from rliable import metrics

    where = f"claim {spec['id']} on {spec['task']}"
    if spec["statistic"] not in STATISTICS:
        raise ValueError(f"{where}: statistic must be one of {', '.join(STATISTICS)}, got {spec['statistic']!r}")
    scores = pd.read_csv(spec["scores"])
    label_x, x = per_seed(scores, *spec["run"], spec["statistic"], final_window, where)
    label_y, y = per_seed(scores, *spec["versus"], spec["statistic"], final_window, where)
    iqm = lambda s: np.array([metrics.aggregate_iqm(s)])  # noqa: E731
    p_iqm, ci_iqm = seeded_intervals({"x": x, "y": y}, iqm, reps, seed)
    p_poi, ci_poi = seeded_intervals({"x,y": (x, y)}, metrics.probability_of_improvement, reps, seed)
    poi, (low, high) = float(np.ravel(p_poi["x,y"])[0]), np.ravel(ci_poi["x,y"])
    cx, cy = np.ravel(ci_iqm["x"]), np.ravel(ci_iqm["y"])
    return {"id": spec["id"], "claim": spec["claim"], "experiment": spec["experiment"], "task": spec["task"],
            "statistic": spec["statistic"], "expect": spec["expect"], "run": label_x, "versus": label_y,
            "seeds_run": len(x), "seeds_versus": len(y),
            "iqm_run": float(np.ravel(p_iqm["x"])[0]), "iqm_run_ci_low": cx[0], "iqm_run_ci_high": cx[1],
            "iqm_versus": float(np.ravel(p_iqm["y"])[0]), "iqm_versus_ci_low": cy[0], "iqm_versus_ci_high": cy[1],
            "iqm_cis_overlap": bool(cx[0] <= cy[1] and cy[0] <= cx[1]),
            "poi": poi, "poi_ci_low": float(low), "poi_ci_high": float(high),
            "verdict": verdict(spec["expect"], float(low), float(high), margin)}


def markdown(table: pd.DataFrame, reps: int, final_window: int, margin: float) -> str:
    ci = lambda p, lo, hi: f"{p:.2f} [{lo:.2f}, {hi:.2f}]"  # noqa: E731
    lines = ["| claim | task | statistic | expected | run | versus | seeds | IQM run [95% CI] | IQM versus [95% CI] "
             "| P(run > versus) [95% CI] | verdict |", "|" + "---|" * 11]
    for r in table.itertuples():
        lines.append(f"| {r.id}: {r.claim} | {r.task} | {r.statistic} | {r.expect} | {r.run} | {r.versus} | "
                     f"{r.seeds_run}, {r.seeds_versus} | {ci(r.iqm_run, r.iqm_run_ci_low, r.iqm_run_ci_high)} | "
                     f"{ci(r.iqm_versus, r.iqm_versus_ci_low, r.iqm_versus_ci_high)} | "
                     f"{ci(r.poi, r.poi_ci_low, r.poi_ci_high)} | **{r.verdict}** |")
    counts = table.verdict.value_counts()
    software = provenance()
    return "\n".join([
        "# The paper's claims, computed", "",
        f"Statistic: the normalised score's `final` (mean of the last {final_window} evaluations) or `auc` (area under "
        f"the score curve) per seed. Estimate: probability of improvement P(run > versus) with its 95% "
        f"stratified-bootstrap CI ({reps} resamples, rliable). Verdict: `better` is reproduced when the CI lies above "
        f"0.5 and contradicted when it lies below; `worse` the mirror image; `equal` is reproduced when the CI lies "
        f"inside [{0.5 - margin:.2f}, {0.5 + margin:.2f}] and contradicted when it excludes 0.5; every other case is "
        f"inconclusive.", "",
        "Verdicts: " + ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS) + f". Software: {software}.", "",
        *lines, ""])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--claims-json", required=True,
                        help="a JSON list (or - for stdin) of {id, claim, experiment, task, statistic, expect, "
                             "run: [arm, input], versus: [arm, input], scores: the experiment's scores.csv}")
    parser.add_argument("--reps", type=int, required=True, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, required=True, help="numpy's global seed before every rliable call")
    parser.add_argument("--final-window", type=int, required=True, help="final score = mean of the last N evals")
    parser.add_argument("--margin", type=float, required=True, help="equivalence margin of `equal` claims")
    parser.add_argument("--out-csv", type=Path, required=True)
    parser.add_argument("--out-md", type=Path, required=True)
    args = parser.parse_args(argv)
    text = sys.stdin.read() if args.claims_json == "-" else Path(args.claims_json).read_text()
    specs = json.loads(text)
    if not specs:
        raise ValueError("no claims to compute (config claims.list is empty)")
    table = pd.DataFrame([claim_row(s, args.reps, args.seed, args.final_window, args.margin) for s in specs])
    atomic_write_text(args.out_csv, table.to_csv(index=False))
    atomic_write_text(args.out_md, markdown(table, args.reps, args.final_window, args.margin))
    print(table[["id", "task", "poi", "poi_ci_low", "poi_ci_high", "verdict"]].to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
