"""Helpers of the tests that run the workflow: a private copy of it, and the job counts of a dry run's plan."""
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW_FILES = ["Snakefile", "workflow", "config", "algorithms", "envs", "profiles"]


def copy_workflow(dest: Path) -> Path:
    """The workflow, its configs, profiles and code, copied into ``dest`` (runs there write nothing into the repo)."""
    for item in WORKFLOW_FILES:
        src = ROOT / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dest / item)
    return dest


def planned_jobs(text: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run: rule -> count."""
    jobs, in_table = {}, False
    for line in text.splitlines():
        parts = line.split()
        if parts[:2] == ["job", "count"]:
            in_table = True
            continue
        if in_table and len(parts) == 2 and parts[1].isdigit():
            if parts[0] == "total":
                break
            jobs[parts[0]] = int(parts[1])
    return jobs
