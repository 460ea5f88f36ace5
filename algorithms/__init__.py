"""Learners. ``ALGORITHMS`` maps an algorithm name to its module (each module has a config dataclass and ``train``)."""
from __future__ import annotations

import importlib

ALGORITHMS = {"ippo": "algorithms.ippo", "mappo": "algorithms.mappo", "qmix": "algorithms.qmix",
              "dm2": "algorithms.dm2"}

# The config-file blocks each learner reads, merged in this order (a later block wins): MAPPO and DM² build on IPPO's.
CONFIG_SECTIONS = {"ippo": ["ippo"], "mappo": ["ippo", "mappo"], "qmix": ["qmix"], "dm2": ["ippo", "dm2"]}


def get_algorithm(name: str):
    if name not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {name!r}; known algorithms: {', '.join(sorted(ALGORITHMS))}")
    return importlib.import_module(ALGORITHMS[name])
