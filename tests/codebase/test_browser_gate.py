"""Browser tests skip where Chromium is missing, and fail when it is required."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ONE_BROWSER_TEST = (
    "tests/browser/test_page.py::test_page_goes_live_plots_every_feed_and_fills_the_table"
)


def run_without_chromium(require: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CHROMIUM": "/nonexistent/chromium", "REQUIRE_BROWSER": require}
    return subprocess.run(
        # -n 0: one process, not the two workers of the suite's addopts.
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rs",
            "-n",
            "0",
            "-p",
            "no:cacheprovider",
            ONE_BROWSER_TEST,
        ],  # fmt: skip
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )


def test_missing_chromium_skips_with_reason():
    """Without Chromium and without REQUIRE_BROWSER, the test is skipped and says why."""
    result = run_without_chromium("0")
    assert result.returncode == 0, result.stdout
    assert "1 skipped" in result.stdout and "Chromium not found" in result.stdout


def test_missing_chromium_fails_when_required():
    """With REQUIRE_BROWSER=1 a missing Chromium is a failure, not a skip."""
    result = run_without_chromium("1")
    assert result.returncode == 1, result.stdout
    assert "REQUIRE_BROWSER=1 but Chromium not found" in result.stdout
