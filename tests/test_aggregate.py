"""rliable aggregation: intervals contain their point estimates, results are reproducible from the seed, and a
clearly better arm gets a probability of improvement near 1."""
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow" / "scripts"))
import aggregate_ablation  # noqa: E402


def fake_run(root: Path, arm: str, demo: str, seed: int, level: float) -> Path:
    run = root / arm / demo / f"seed{seed}"
    run.mkdir(parents=True)
    rng = np.random.default_rng(seed + int(level * 100))
    steps = np.arange(0, 60_000, 10_000)
    win = np.clip(level * steps / steps[-1] + rng.normal(0, 0.05, len(steps)), 0, 1)
    pd.DataFrame({"env_steps": steps, "test_win_rate": win}).to_csv(run / "metrics.csv", index=False)
    meta = {"algorithm": arm, "config": {"seed": seed}}
    if arm != "ippo":
        meta["demonstrations"] = {"expert_greedy_win_rate": 0.5, "sampled_win_rate": 0.4}
    (run / "config.yaml").write_text(yaml.safe_dump(meta))
    return run


def test_aggregate_properties(tmp_path):
    runs = [fake_run(tmp_path, "ippo", "none", s, 0.3) for s in range(5)]
    runs += [fake_run(tmp_path, "dm2", "cotrained_concurrent_step100000", s, 0.9) for s in range(5)]
    args = ["--reps", "300", "--seed", "0", "--final-window", "2", *map(str, runs)]
    aggregate_ablation.main(["--out-dir", str(tmp_path / "a"), *args])
    aggregate_ablation.main(["--out-dir", str(tmp_path / "b"), *args])
    a = pd.read_csv(tmp_path / "a" / "summary.csv")
    pd.testing.assert_frame_equal(a, pd.read_csv(tmp_path / "b" / "summary.csv"))  # seeded bootstrap
    for point, lo, hi in [("iqm_final_win_rate", "final_ci_low", "final_ci_high"), ("iqm_auc", "auc_ci_low", "auc_ci_high")]:
        assert (a[lo] <= a[point]).all() and (a[point] <= a[hi]).all()
    dm2 = a[a.arm == "dm2"].iloc[0]
    assert dm2.label == "DM² (co-trained + concurrent; demos at 100k)" and "," not in dm2.label
    assert dm2.poi_vs_ippo > 0.95 and dm2.poi_ci_low <= dm2.poi_vs_ippo <= dm2.poi_ci_high
    assert np.isnan(a[a.arm == "ippo"].iloc[0].poi_vs_ippo)
    curves = pd.read_csv(tmp_path / "a" / "curves.csv")
    assert (curves.ci_low <= curves.iqm_win_rate + 1e-12).all() and (curves.iqm_win_rate <= curves.ci_high + 1e-12).all()
    assert (tmp_path / "a" / "summary.tex").read_text().startswith("\\begin{table}")
