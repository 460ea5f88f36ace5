import os

import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# Precision probes of the tests' networks stay in this session (not in the user's probe cache).
os.environ["MARLBENCH_PRECISION_CACHE"] = "off"

# Measurements that tests report (the Slurm test's timings): printed at the end of the run, also under -q, so
# that the CI log carries them.
_REPORTED: list[str] = []


@pytest.fixture
def report():
    return _REPORTED.append


def pytest_terminal_summary(terminalreporter):
    if _REPORTED:
        terminalreporter.section("measured by the tests")
        for line in _REPORTED:
            terminalreporter.write_line(line)
