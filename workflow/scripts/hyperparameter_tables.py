"""The hyperparameter tables (DM² paper Tables 1 and 2, plus MAPPO and QMIX) from the resolved configs that the
workflow's jobs receive, so a table can never disagree with what ran: one column per task, one row per setting that
matters for the comparison, as CSV and LaTeX.

    python workflow/scripts/hyperparameter_tables.py --out-csv T.csv --out-tex T.tex --resolved-json FILE|-
(``--resolved-json``: [{name, rows: [[key, label], ...], values: {task: resolved config}}, ...], one section per
learner (rows from algorithms/registry.py), written by the Snakemake rule from config/config.yaml.)
"""
from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from algorithms.common.runio import atomic_write_text  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import latex  # noqa: E402
from report_pages import provenance  # noqa: E402

def cell(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def table(sections: list[dict]) -> pd.DataFrame:
    """One row per (section, setting), one column per task."""
    tasks = list(dict.fromkeys(t for section in sections for t in section["values"]))  # config order
    rows = []
    for section in sections:
        for key, label in section["rows"]:
            rows.append({"algorithm": section["name"], "setting": label,
                         **{t: cell(section["values"][t][key]) if t in section["values"] else "" for t in tasks}})
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resolved-json", required=True, help="a JSON file, or - for stdin")
    parser.add_argument("--out-csv", type=Path, required=True)
    parser.add_argument("--out-tex", type=Path, required=True)
    args = parser.parse_args(argv)
    text = sys.stdin.read() if args.resolved_json == "-" else Path(args.resolved_json).read_text()
    df = table(json.loads(text))
    atomic_write_text(args.out_csv, df.to_csv(index=False))
    tex = io.StringIO()
    short = {c: c.split("/", 1)[-1].replace("_", r"\_") for c in df.columns[2:]}
    body = df.rename(columns=short).assign(algorithm=df.algorithm.str.replace("DM²", "DM$^2$"))
    body.to_latex(tex, index=False, escape=False, column_format="ll" + "r" * (len(df.columns) - 2),
                  caption=latex.text("Hyperparameters per task, resolved from the workflow config (what the jobs ran "
                                     f"with). Computed with {provenance()}."),
                  label="tab:hyperparameters")
    atomic_write_text(args.out_tex, tex.getvalue())
    print(df.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
