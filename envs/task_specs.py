"""The static facts (``TaskSpec``) of every embedded task at its default options, as a table read without JAX.

The workflow validates every run's config and estimates every job's resources when it builds its DAG, and each needs
a task's spec; computing one builds a jaxmarl env (importing JAX: seconds). ``task_specs.json`` beside this file holds
``list_tasks()`` and the spec of each of those tasks, and ``envs.task_spec``/``envs.list_tasks`` read it instead. It is
a cache of what jaxmarl computes, keyed by what it was computed from (the jaxmarl version and the code that builds the
specs, ``envs/smax.py`` and ``envs/mpe.py``): when either differs, the table is stale, ignored with a warning, and
specs are computed live, as they always are where options are given (``reward_scale``, ``local_ratio``) and for
``smac/<map>``; without the file (an install that left it out), silently so. Rebuild it after changing those:

    python -m envs.task_specs --write     (``--check`` exits 1 when the file differs from what it would write)
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import json
import sys
import warnings
from pathlib import Path

from envs.base import TaskSpec

TABLE = Path(__file__).with_name("task_specs.json")
SOURCES = ("smax.py", "mpe.py")  # the code (in envs/) that computes the specs and the task list
_FIELDS = [f.name for f in dataclasses.fields(TaskSpec)]


def _jaxmarl_version() -> str | None:
    from importlib import metadata

    try:
        return metadata.version("jaxmarl")
    except metadata.PackageNotFoundError:
        return None


def _fingerprint() -> dict:
    """What the specs are computed from: the jaxmarl version and the hash of each file of ``SOURCES``."""
    here = Path(__file__).parent
    return {"jaxmarl": _jaxmarl_version(),
            "sources": {f"envs/{name}": hashlib.sha256((here / name).read_bytes().replace(b"\r\n", b"\n")).hexdigest()
                        for name in SOURCES}}


def live_specs() -> dict[str, TaskSpec]:
    """Every embedded task's spec at the default options, computed by the backends (builds jaxmarl envs, no jit),
    in ``list_tasks()`` order."""
    from envs import mpe, smax

    specs = {f"smax/{m}": smax.smax_spec(m) for m in smax.map_names()}
    specs.update({f"mpe/{t}": mpe.mpe_spec(t) for t in mpe.task_names()})
    return specs


def render(specs: dict[str, TaskSpec]) -> str:
    """The table file's text for ``specs``: what it was built from, then one line per task."""
    head = {"generated_by": "python -m envs.task_specs --write (do not edit)", **_fingerprint()}
    lines = [f"  {json.dumps(k)}: {json.dumps(v)}," for k, v in head.items()]
    rows = [f"    {json.dumps(name)}: {json.dumps({k: v for k, v in dataclasses.asdict(s).items() if k != 'name'})}"
            for name, s in specs.items()]
    return "\n".join(["{", *lines, '  "tasks": {', ",\n".join(rows), "  }", "}", ""])


def _read() -> dict[str, TaskSpec] | None:
    if not TABLE.exists():
        return None
    doc = json.loads(TABLE.read_text())
    fingerprint = _fingerprint()
    stale = [k for k in fingerprint if doc.get(k) != fingerprint[k]]
    if not stale and any(sorted(["name", *row]) != sorted(_FIELDS) for row in doc["tasks"].values()):
        stale = ["TaskSpec fields"]
    if stale:
        warnings.warn(f"{TABLE.name} is stale ({', '.join(stale)} changed since it was written): computing task "
                      "specs with jaxmarl instead (slow); rebuild it with: python -m envs.task_specs --write",
                      stacklevel=3)
        return None
    return {name: TaskSpec(name=name, **row) for name, row in doc["tasks"].items()}


@functools.cache
def table() -> dict[str, TaskSpec] | None:
    """The stored specs (task name -> spec at the default options, in ``list_tasks()`` order), or None where the file
    is missing or stale (then callers compute live). Read once per process."""
    return _read()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", action="store_true", help=f"rebuild {TABLE.name} from jaxmarl")
    group.add_argument("--check", action="store_true", help=f"exit 1 if {TABLE.name} is not what --write would write")
    args = parser.parse_args(argv)
    specs = live_specs()
    text = render(specs)
    if args.write:
        TABLE.write_text(text)
        print(f"wrote {TABLE} ({len(specs)} tasks)")
        return 0
    if TABLE.exists() and TABLE.read_text() == text:
        print(f"{TABLE} is up to date")
        return 0
    print(f"{TABLE} is stale or missing: run python -m envs.task_specs --write", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
