"""The benchmarks still run (their figures are not checked here: timing belongs
in benchmarks/RESULTS.md, not in tests)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.browser.conftest import CHROMIUM

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def test_page_open_benchmark_runs(browser):
    """benchmarks/page_open.py, in a tiny variant, prints its three medians and a ratio."""
    result = subprocess.run(
        [sys.executable, "benchmarks/page_open.py", "--runs", "1", "--warmup", "1",
         "--chromium", CHROMIUM],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert len(re.findall(r"median +\d+ ms", result.stdout)) == 3
    assert re.search(r"ratio page \(first visit\) / baseline: \d+\.\d\d", result.stdout)
