"""The registry is the one place learner and arm names live: unknown names fail with the registered ones, every
consumer reads it, and no code outside it spells an arm's name."""
import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from algorithms import registry

ROOT = Path(__file__).resolve().parents[1]


def test_registry_is_consistent():
    registry.check_registry()
    for name, entry in registry.LEARNERS.items():
        module = entry.load()
        assert module.LEARNER is entry and entry.learner_cls.name == name
        if entry.expert:  # experts can be loaded
            assert callable(module.acting_policy)
        assert callable(module.resources) and callable(module.main)
        # the workflow's torch-free accessors give what the learner module uses
        assert getattr(module, entry.config_class) is entry.config_cls and module.resources is entry.resources
        fields = entry.config_cls.__dataclass_fields__
        for key, _ in entry.table_rows:
            assert key in fields, (name, key)
    for name, arm in registry.ARMS.items():  # every arm's settings are keys of its learner's config
        fields = registry.learner(arm.learner).config_cls.__dataclass_fields__
        assert set(arm.settings) <= set(fields), name
        assert arm.mode.split(";")[0] in registry.EXECUTION_MODES


def test_unknown_names_fail_with_the_registered_ones():
    with pytest.raises(ValueError, match="unknown arm 'magail_typo'; registered arms: ippo, mappo, qmix, dm2"):
        registry.arm("magail_typo")
    with pytest.raises(ValueError, match="unknown learner 'mild2'; registered learners: ippo, mappo"):
        registry.learner("mild2")


def test_arm_names_live_in_the_registry_only():
    """Every string literal of the code (algorithms/, envs/, workflow/, Snakefile) that is exactly an arm's name
    is in algorithms/registry.py; tests, config and docs aside."""
    names = set(registry.ARMS)
    found = []
    for path in [*ROOT.glob("algorithms/**/*.py"), *ROOT.glob("envs/**/*.py"), *ROOT.glob("workflow/**/*.py")]:
        if path.name == "registry.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in names:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}")
    for path in [*ROOT.glob("workflow/**/*.smk"), ROOT / "Snakefile"]:
        for i, line in enumerate(path.read_text().splitlines(), 1):
            for name in names:
                if re.search(rf"""["']{name}["']""", line):
                    found.append(f"{path.relative_to(ROOT)}:{i}: {name!r}")
    assert not found, found


def test_workflow_refuses_an_unknown_arm_at_parse_time(tmp_path):
    for item in ["Snakefile", "workflow", "config", "algorithms", "envs"]:
        src = ROOT / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / item)
    quick = yaml.safe_load((ROOT / "config" / "quick.yaml").read_text())
    quick["experiments"]["magail"]["runs"].append({"arm": "magail_typo"})
    (tmp_path / "config" / "quick.yaml").write_text(yaml.safe_dump(quick, sort_keys=False))
    out = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--configfile=config/quick.yaml"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert out.returncode != 0
    assert "experiments.magail.runs[5]: unknown arm 'magail_typo'; registered arms: ippo, mappo" in out.stdout + out.stderr
