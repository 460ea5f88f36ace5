"""Building the workflow's DAG imports neither torch nor JAX: the rules resolve and validate every run's config and
size every job through the registry's torch-free accessors (``config_cls``, ``resources``: ``algorithms/configs/``),
and read task specs from the stored table of ``envs`` (``envs/task_specs.json``). Each test runs in a fresh
interpreter, so that nothing this test session imported hides an import."""
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "jax", "jaxlib", "jaxmarl")
CHECK_HEAVY = f"""
heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)
assert not heavy, f"imported {{heavy}}"
print("no heavy imports")
"""


def run_python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code) + CHECK_HEAVY], cwd=cwd, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0 and "no heavy imports" in out.stdout, out.stdout + out.stderr
    return out


def test_resolving_configs_and_resources_imports_no_torch_or_jax():
    """What workflow/rules/common.smk does per run: merge the learner's config blocks, resolve (and validate) its
    config class, estimate its resources on the task's spec; plus the names it checks (tasks, styles)."""
    run_python("""
        import sys
        from dataclasses import asdict

        import yaml

        import envs
        from algorithms import registry
        from algorithms.common.config import merge_sections, resolve
        from algorithms.registry import STYLES, demos_input, parse_input

        config = yaml.safe_load(open("config/config.yaml"))
        for task in ["smax/3m", "smax/5m_vs_6m", "mpe/spread_3"]:
            spec = envs.task_spec(task)
            for name, entry in registry.LEARNERS.items():
                cls = entry.config_cls
                extra = {"demos": "x.npz"} if "demos" in cls.__dataclass_fields__ else {}
                cfg = resolve(cls, merge_sections(config, list(entry.sections)), {**extra, "task": task, "seed": 0})
                memory, minutes = entry.resources(asdict(cfg), spec)
                assert memory > 0 and minutes > 0, (name, task)
        assert "smax/3m" in envs.list_tasks() and parse_input(demos_input("ippo", STYLES[0], 5))[2] == STYLES[0]
        try:
            envs.task_spec("smax/5m_vs_7m")
        except ValueError as exc:
            assert "known tasks: " in str(exc)
    """, ROOT)


def test_snakemake_dry_run_imports_no_torch_or_jax(tmp_path):
    """The whole DAG of the quick config, built in-process (on a copy, so that .snakemake/ lands there), then
    sys.modules checked: catches a torch import in any rule file or input function too."""
    for item in ["Snakefile", "workflow", "config", "algorithms", "envs"]:
        src = ROOT / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / item)
    run_python("""
        import sys

        from snakemake.cli import main

        try:
            # not --quiet: snakemake evaluates the jobs' resources (learner estimates) only to print them
            main(["-n", "--nolock", "--cores", "1", "--configfile=config/quick.yaml"])
        except SystemExit as exc:
            assert not exc.code, f"snakemake -n exited {exc.code}"
    """, tmp_path)
