"""Compare two result trees run by run: every metrics.csv of the first (experts, baselines, arms) against the run of
the same task, arm, input and seed in the second, with wall-clock columns dropped; demonstration files array by array.
Used to show that a refactoring changed no arm's numbers (same seeds, same metrics).

    python workflow/scripts/compare_runs.py OLD_RESULTS NEW_RESULTS

Input ids of the older layout (<expert>_<style>_step<N>) are mapped to the typed ids (demos-<expert>-<style>-<N>).
Prints one line per run and a final line ``N identical, M different, K missing``; exits 1 if any differ or miss.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

WALL = ["wall_time", "steps_per_s"]


def new_name(rel: Path) -> Path:
    parts = list(rel.parts)
    for i, p in enumerate(parts):
        m = re.fullmatch(r"([a-z0-9]+)_([a-z_]+)_step([0-9]+)", p)
        if m and parts[0] == "arms":
            parts[i] = f"demos-{m.group(1)}-{m.group(2)}-{m.group(3)}"
    return Path(*parts)


def main(argv=None) -> int:
    old, new = map(Path, (argv or sys.argv[1:])[:2])
    same = diff = missing = 0
    for path in sorted(old.rglob("metrics.csv")):
        rel = path.relative_to(old)
        other = new / new_name(rel)
        if not other.exists():
            print(f"MISSING {rel} -> {other}")
            missing += 1
            continue
        a, b = pd.read_csv(path).drop(columns=WALL), pd.read_csv(other).drop(columns=WALL)
        cols = [c for c in a.columns if c in b.columns]
        equal = a.shape == b.shape and all(np.array_equal(a[c].to_numpy(), b[c].to_numpy(), equal_nan=True)
                                           for c in cols)
        print(f"{'same' if equal else 'DIFFERENT'} {rel} ({len(a)} evaluations, {len(cols)} columns)")
        same, diff = same + equal, diff + (not equal)
    for path in sorted(old.rglob("*.npz")):
        rel = path.relative_to(old)
        other = new / rel
        if other.exists():
            with np.load(path) as x, np.load(other) as y:
                equal = sorted(x.files) == sorted(y.files) and all(
                    np.array_equal(x[k], y[k]) for k in x.files if k != "metadata_json")
        else:
            equal = False
        print(f"{'same' if equal else 'DIFFERENT'} {rel}")
        same, diff = same + equal, diff + (not equal)
    print(f"{same} identical, {diff} different, {missing} missing")
    return 0 if diff == missing == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
