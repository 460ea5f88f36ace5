"""Every documented command is run somewhere: CI runs the README's test command verbatim; the main command's pieces
exist and the documented outputs are what the workflow produces."""
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def quick_start_commands():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section, flags=re.S)


def test_quick_start_is_two_commands_and_ci_runs_the_test_one():
    main, tests = quick_start_commands()
    assert "\n" not in main and "\n" not in tests
    assert "pytest" in tests and "snakemake" in main
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert tests in ci_lines, "the README's test command must appear verbatim in .ci/run"


def test_main_command_builds_every_paper_figure_and_the_readme_names_them():
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    main, _ = quick_start_commands()
    assert main.rstrip().endswith("snakemake --cores 2"), "the main command builds the default target"
    snakefile = (ROOT / "Snakefile").read_text()
    default_rule = snakefile.split("rule all:", 1)[1]
    # every figure of the config but the baselines' learning curves
    assert 'for name, path in config["figures"].items() if name != "learning_curves"' in default_rule
    assert 'config["tables"]["results"]' in default_rule and 'config["tables"]["hyperparameters"]' in default_rule
    readme = (ROOT / "README.md").read_text()
    for path in config["figures"].values():
        assert path in readme, f"README does not name the target {path}"
