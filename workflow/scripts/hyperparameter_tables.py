"""The hyperparameter tables (DM² paper Tables 1 and 2, plus MAPPO and QMIX) from the resolved configs that the
workflow's jobs receive, so a table can never disagree with what ran: one column per task, one row per setting that
matters for the comparison, as CSV and LaTeX.

    python workflow/scripts/hyperparameter_tables.py --out-csv T.csv --out-tex T.tex --resolved-json FILE|-
(``--resolved-json``: {algorithm: {task: resolved config}}, written by the Snakemake rule from config/config.yaml.)
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

# (algorithm, key, row label): the settings shown, in order
ROWS = [
    ("ippo", "ppo_epochs", "PPO epochs"), ("ippo", "clip", "PPO clip (policy and value)"),
    ("ippo", "lr", "Adam learning rate"), ("ippo", "gamma", "discount"), ("ippo", "gae_lambda", "GAE lambda"),
    ("ippo", "entropy_coef", "entropy coefficient"), ("ippo", "num_envs", "parallel envs"),
    ("ippo", "rollout_mode", "rollout mode"), ("ippo", "rollout_length", "rollout length (steps mode)"),
    ("ippo", "chunk_length", "BPTT length"), ("ippo", "hidden_size", "hidden width"),
    ("ippo", "total_env_steps", "env steps"),
    ("dm2", "gail_coef", "GAIL reward coefficient c"), ("dm2", "gail_epochs", "discriminator steps per update"),
    ("dm2", "gail_batch_rows", "discriminator batch rows"), ("dm2", "gail_lr", "discriminator learning rate"),
    ("dm2", "gail_gp_lambda", "gradient penalty"), ("dm2", "demo_episodes", "demonstration episodes per agent"),
    ("mappo", "ppo_epochs", "PPO epochs"), ("mappo", "clip", "PPO clip"), ("mappo", "num_envs", "parallel envs"),
    ("mappo", "rollout_length", "rollout length"),
    ("qmix", "lr", "RMSprop learning rate"), ("qmix", "batch_episodes", "batch (episodes)"),
    ("qmix", "buffer_episodes", "replay buffer (episodes)"), ("qmix", "epsilon_anneal_steps", "epsilon anneal steps"),
    ("qmix", "epsilon_finish", "final epsilon"), ("qmix", "target_update_episodes", "target update (episodes)"),
    ("qmix", "updates_per_episode", "gradient steps per episode"), ("qmix", "total_env_steps", "env steps"),
    ("qmix_demos", "epsilon", "epsilon while sampled (paper Table 1)"),
]
NAMES = {"ippo": "IPPO (and DM²'s PPO)", "dm2": "DM²", "mappo": "MAPPO", "qmix": "QMIX",
         "qmix_demos": "QMIX demonstrations"}


def cell(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def table(resolved: dict) -> pd.DataFrame:
    tasks = list(dict.fromkeys(t for per_task in resolved.values() for t in per_task))  # config order
    rows = []
    for algo, key, label in ROWS:
        if algo in resolved:
            rows.append({"algorithm": NAMES[algo], "setting": label,
                         **{t: cell(resolved[algo][t][key]) if t in resolved[algo] else "" for t in tasks}})
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
                  caption="Hyperparameters per task, resolved from the workflow config (what the jobs ran with).",
                  label="tab:hyperparameters")
    atomic_write_text(args.out_tex, tex.getvalue())
    print(df.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
