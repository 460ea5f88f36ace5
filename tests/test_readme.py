"""Every documented command runs as written: CI runs the README's test command verbatim; every other `snakemake`
command of the README, the Snakefile's header and the profiles' comments is dry-run here (the report command is run
for real by the workflow test); the documented targets are the workflow's."""
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from workflow_helpers import copy_workflow
import yaml

ROOT = Path(__file__).resolve().parents[1]
FIXED_FIGURES = ["learning_curves", "ablation", "ablation_summary", "aggregate"]


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


def test_main_command_is_the_headline_figure_and_the_readme_names_every_target():
    main, _ = quick_start_commands()
    assert main.rstrip().endswith("snakemake --cores 2 figures/ablation.pdf")
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    readme = (ROOT / "README.md").read_text()
    for name in [*FIXED_FIGURES, *config["experiments"], "tables"]:
        assert f"`{name}`" in readme, f"README does not name the target {name}"


def documented_commands() -> list[tuple[str, str]]:
    """(where, command) of every snakemake command in the README's bash blocks, the Snakefile's header comment and the
    profiles' comments, as a user would type it (without .venv/bin/ and trailing comments)."""
    found = []
    readme = (ROOT / "README.md").read_text()
    for block in re.findall(r"```bash\n(.+?)\n```", readme, flags=re.S):
        for line in block.splitlines():
            if "snakemake" in line:
                found.append(("README.md", line))
    for path in [ROOT / "Snakefile", *sorted((ROOT / "profiles").glob("*/profile.yaml"))]:
        for line in path.read_text().splitlines():
            if line.startswith("#") and "snakemake " in line:
                found.append((str(path.relative_to(ROOT)), line[line.index("snakemake "):]))
    commands = []
    for where, line in found:
        line = line.split("&&")[-1]
        line = re.split(r"\s+#|\s+\(", line)[0].strip()
        if not line.startswith(("snakemake", ".venv/bin/snakemake")):
            continue
        commands.append((where, line.removeprefix(".venv/bin/")))
    return commands


def test_documented_commands_are_found():
    commands = [c for _, c in documented_commands()]
    assert "snakemake --cores 2 figures/ablation.pdf" in commands
    assert any("--workflow-profile profiles/slurm --profile profiles/slurm-squeue" in c for c in commands)
    assert len(commands) >= 15


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    work = tmp_path_factory.mktemp("docs")
    copy_workflow(work)
    return work


def test_every_documented_command_dry_runs_as_written(workdir):
    failed = []
    for where, command in documented_commands():
        args = shlex.split(command)[1:]
        if "--report" in args:
            continue  # needs a finished run: the workflow test builds the quick config's report
        # the command as written, made a dry run (flags right after the program, so nothing written can swallow them)
        out = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--nolock", *args], cwd=workdir,
                             capture_output=True, text=True, timeout=300)
        text = out.stdout + out.stderr
        if out.returncode != 0 or "This was a dry-run" not in text and "Nothing to be done" not in text:
            failed.append(f"{where}: {command}\n{text[-1500:]}")
    assert not failed, "\n\n".join(failed)


def test_a_config_file_that_is_not_yaml_is_named_with_its_line(workdir):
    bad = "arms:\n  seeds: [0, 1\n  total_env_steps: 5\n"
    (workdir / "config" / "broken.yaml").write_text(bad)
    # given with --configfile, Snakemake reads it before the workflow runs: --verbose shows the parser's own error
    out = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--nolock", "--verbose",
                          "--configfile=config/broken.yaml"], cwd=workdir, capture_output=True, text=True, timeout=300)
    assert out.returncode != 0 and 'in "config/broken.yaml", line 3, column 18' in out.stdout + out.stderr
    # the default config file is checked by the Snakefile, which names the file and the line
    default = (workdir / "config" / "config.yaml").read_text()
    try:
        (workdir / "config" / "config.yaml").write_text(bad)
        out = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--nolock"], cwd=workdir, capture_output=True,
                             text=True, timeout=300)
    finally:
        (workdir / "config" / "config.yaml").write_text(default)
    assert out.returncode != 0
    assert "config/config.yaml is not valid YAML (line 3, column 18)" in out.stdout + out.stderr, out.stderr
