"""The page's DOM-free modules (static/js), tested by ``node --test`` (tests/js/*.test.js).

Skips without Node; fails instead under REQUIRE_BROWSER=1 (CI), where the page
is tested in full.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.waiting import require_env

JS_TESTS = Path(__file__).resolve().parent / "js"


def test_page_modules_pass_node_test() -> None:
    node = shutil.which("node")
    if node is None:
        if require_env("REQUIRE_BROWSER"):
            pytest.fail("REQUIRE_BROWSER=1 but node is not installed")
        pytest.skip("node is not installed")
    files = sorted(str(p) for p in JS_TESTS.glob("*.test.js"))
    assert files, f"no *.test.js under {JS_TESTS}"
    run = subprocess.run(
        [node, "--test", *files], capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
