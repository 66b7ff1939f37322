"""The tests kept to one worker of the two the suite runs on (pytest-xdist,
``--dist loadgroup``): each loads the CPU for seconds (a benchmark, a build,
mypy, a pytest of its own) or asserts how soon something happens under load.
Run one after another, they never share the two cores with each other, only
with the lighter tests of the other worker."""

from __future__ import annotations

from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]

#: Test modules (relative to tests/), and single tests as "module::name".
HEAVY = (
    "browser/test_benchmarks.py",  # page_open and page_budget with their own Chromium
    "e2e/test_fanout_benchmark.py",  # load generators beside a server
    "e2e/test_scaleout_benchmark.py",
    "e2e/test_slow_viewers.py",  # 50 stuck viewers; the reader's longest wait is asserted
    "e2e/test_plugins.py",  # pip installs a package
    "test_static.py",  # builds and installs the wheel
    "codebase/test_types.py",  # mypy --strict
    "codebase/test_browser_gate.py",  # pytest in a subprocess
    "unit/test_framework.py::test_mypy_refuses_a_misspelt_setting",
)

GROUP = pytest.mark.xdist_group("heavy")


def is_heavy(item: pytest.Item) -> bool:
    module = item.path.relative_to(TESTS).as_posix()
    return module in HEAVY or f"{module}::{item.name}" in HEAVY
