"""The claims table: the verdict rule, and verdicts computed from synthetic per-seed scores: clear where the arms are
separated, inconclusive where their scores overlap, and an equality reproduced only when the data pin it down."""
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow" / "scripts"))
import claims_table  # noqa: E402

DEMOS = "demos-ippo-cotrained_concurrent-1000000"


@pytest.mark.parametrize("expect,low,high,margin,wanted", [
    ("better", 0.6, 0.9, 0.14, "reproduced"), ("better", 0.1, 0.4, 0.14, "contradicted"),
    ("better", 0.4, 0.9, 0.14, "inconclusive"), ("better", 0.5, 1.0, 0.14, "inconclusive"),
    ("worse", 0.1, 0.4, 0.14, "reproduced"), ("worse", 0.6, 0.9, 0.14, "contradicted"),
    ("worse", 0.2, 0.7, 0.14, "inconclusive"),
    ("equal", 0.40, 0.60, 0.14, "reproduced"), ("equal", 0.30, 0.60, 0.14, "inconclusive"),
    ("equal", 0.30, 0.60, 0.25, "reproduced"), ("equal", 0.55, 0.70, 0.1, "contradicted"),
    ("equal", 0.0, 1.0, 0.14, "inconclusive")])
def test_verdict_rule(expect, low, high, margin, wanted):
    assert claims_table.verdict(expect, low, high, margin) == wanted


def test_verdict_refuses_bad_values():
    with pytest.raises(ValueError, match="expect must be one of better, worse, equal, got 'higher'"):
        claims_table.verdict("higher", 0.6, 0.9, 0.14)
    with pytest.raises(ValueError, match="margin must lie in"):
        claims_table.verdict("equal", 0.4, 0.6, 0.5)


def fake_scores(path: Path, levels: dict[tuple[str, str], np.ndarray], evals: int = 6) -> Path:
    """An experiment's scores.csv: per run and seed, a score curve rising to that seed's level."""
    rows = []
    for (arm, demo), per_seed in levels.items():
        for seed, level in enumerate(per_seed):
            for i in range(evals):
                rows.append({"task": "smax/3m", "arm": arm, "demo": demo, "label": f"{arm} {demo}", "seed": seed,
                             "eval_index": i, "env_steps": i * 10_000, "score": level * (i + 1) / evals})
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def spec(scores: Path, expect: str, statistic: str = "final") -> dict:
    return {"id": "C1", "claim": "DM² beats IPPO", "experiment": "main_results", "task": "smax/3m",
            "statistic": statistic, "expect": expect, "run": ["dm2", DEMOS], "versus": ["ippo", "none"],
            "scores": str(scores)}


def test_separated_runs_give_a_clear_verdict(tmp_path):
    rng = np.random.default_rng(0)
    scores = fake_scores(tmp_path / "scores.csv", {("dm2", DEMOS): 0.8 + rng.normal(0, 0.03, 10),
                                                   ("ippo", "none"): 0.4 + rng.normal(0, 0.03, 10)})
    row = claims_table.claim_row(spec(scores, "better"), reps=500, seed=0, final_window=2, margin=0.14)
    assert row["poi"] == 1.0 and row["poi_ci_low"] > 0.5 and row["verdict"] == "reproduced"
    assert not row["iqm_cis_overlap"] and row["seeds_run"] == row["seeds_versus"] == 10
    assert row["iqm_run_ci_low"] <= row["iqm_run"] <= row["iqm_run_ci_high"]
    assert claims_table.claim_row(spec(scores, "worse"), 500, 0, 2, 0.14)["verdict"] == "contradicted"
    assert claims_table.claim_row(spec(scores, "equal"), 500, 0, 2, 0.14)["verdict"] == "contradicted"
    # the area under the curve is read from the whole curve: half the final level here
    auc = claims_table.claim_row(spec(scores, "better", "auc"), 500, 0, 2, 0.14)
    assert auc["iqm_run"] == pytest.approx(0.8 * 3.5 / 6, abs=0.03) and auc["verdict"] == "reproduced"


def test_overlapping_runs_are_inconclusive(tmp_path):
    rng = np.random.default_rng(1)
    scores = fake_scores(tmp_path / "scores.csv", {("dm2", DEMOS): 0.6 + rng.normal(0, 0.1, 5),
                                                   ("ippo", "none"): 0.6 + rng.normal(0, 0.1, 5)})
    for expect in ("better", "worse", "equal"):  # 5 seeds cannot pin an equality to 0.5 +- 0.14 either
        row = claims_table.claim_row(spec(scores, expect), reps=500, seed=0, final_window=2, margin=0.14)
        assert row["poi_ci_low"] < 0.5 < row["poi_ci_high"] and row["verdict"] == "inconclusive", (expect, row)
        assert row["iqm_cis_overlap"]


def test_equality_is_reproduced_only_with_enough_seeds(tmp_path):
    rng = np.random.default_rng(2)
    scores = fake_scores(tmp_path / "scores.csv", {("dm2", DEMOS): 0.6 + rng.normal(0, 0.1, 200),
                                                   ("ippo", "none"): 0.6 + rng.normal(0, 0.1, 200)})
    row = claims_table.claim_row(spec(scores, "equal"), reps=300, seed=0, final_window=2, margin=0.14)
    assert 0.36 <= row["poi_ci_low"] and row["poi_ci_high"] <= 0.64 and row["verdict"] == "reproduced"


def test_table_files_and_a_missing_run(tmp_path):
    rng = np.random.default_rng(3)
    scores = fake_scores(tmp_path / "scores.csv", {("dm2", DEMOS): 0.8 + rng.normal(0, 0.03, 3),
                                                   ("ippo", "none"): 0.2 + rng.normal(0, 0.03, 3)})
    claims = tmp_path / "claims.json"
    claims.write_text(pd.Series([spec(scores, "better"), {**spec(scores, "equal"), "id": "C4"}]).to_json(
        orient="values"))
    out_csv, out_md = tmp_path / "claims.csv", tmp_path / "claims.md"
    claims_table.main(["--claims-json", str(claims), "--reps", "300", "--seed", "0", "--final-window", "2",
                       "--margin", "0.14", "--out-csv", str(out_csv), "--out-md", str(out_md)])
    table = pd.read_csv(out_csv)
    assert list(table.id) == ["C1", "C4"] and list(table.verdict) == ["reproduced", "contradicted"]
    md = out_md.read_text()
    assert "| C1: DM² beats IPPO | smax/3m | final | better |" in md and "**reproduced**" in md
    assert "[0.36, 0.64]" in md and "rliable" in md and "git commit" in md
    missing = {**spec(scores, "better"), "versus": ["mappo", "none"]}
    with pytest.raises(ValueError, match=r"claim C1 on smax/3m: run mappo/none is not in the scores"):
        claims_table.claim_row(missing, 300, 0, 2, 0.14)
