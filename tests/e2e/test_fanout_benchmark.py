"""The fan-out benchmark still runs end to end (a tiny load; never checks its timing)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def test_fanout_benchmark_tiny_run():
    """benchmarks/fanout.py at a tiny load exits 0 and prints every figure for all three servers."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "fanout.py"), "--clients", "4", "--series", "3"]
        + ["--rate", "5", "--duration", "3", "--json"],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    for label in (
        "points/s delivered",
        "values/s delivered",
        "frames/s delivered",
        "delivered / produced",
        "latency p99 (ms)",
        "server CPU (cores)",
        "server peak RSS (MB)",
        "generator CPU (cores)",
        "errors: connect",
        "project / naive",
        "project / ceiling",
    ):
        assert label in out, f"{label!r} missing from:\n{out}"
    runs = json.loads(out.strip().splitlines()[-1])["runs"]
    assert [r["name"] for r in runs] == ["project", "naive", "ceiling"]
    for run in runs:
        assert run["clients"] == 4
        assert run["points_per_s"] > 0
        assert set(run["latency_ms"]) == {"samples", "p50", "p95", "p99", "max"}
