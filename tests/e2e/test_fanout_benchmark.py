"""The benchmarks still run end to end (a tiny load; never checks their timing)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def run_benchmark(script: str, *args: str) -> str:
    """Run benchmarks/<script> with *args*; its stdout, once it exited 0."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_fanout_benchmark_tiny_run():
    """benchmarks/fanout.py at a tiny load, two runs with slow readers, exits 0
    and prints every figure and ratio for every server."""
    out = run_benchmark(
        "fanout.py", "--clients", "4", "--series", "3", "--rate", "5", "--duration", "1",
        "--warmup", "0.5", "--runs", "2", "--slow-clients", "2", "--json",
    )  # fmt: skip
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
        "slow readers: server RSS at end",
        "slow readers: reading clients' p99",
    ):
        assert label in out, f"{label!r} missing from:\n{out}"
    runs = json.loads(out.strip().splitlines()[-1])["runs"]
    assert len(runs) == 2
    for run in runs:
        assert list(run) == ["project", "project+slow", "naive", "ceiling"]
        assert run["project+slow"]["slow_clients"] == 2
        for figures in run.values():
            assert figures["clients"] == 4
            assert figures["points_per_s"] > 0
            assert set(figures["latency_ms"]) == {"samples", "p50", "p95", "p99", "max"}


def test_ingest_lag_benchmark_tiny_run():
    """benchmarks/ingest_lag.py at a tiny load (2 viewers, 1,000-point posts,
    1 s phases) exits 0 and reports both phases with every viewer's figures."""
    out = run_benchmark(
        "ingest_lag.py", "--viewers", "2", "--points", "1000", "--paced-rate", "1000",
        "--paced-batch", "100", "--duration", "1", "--warmup", "0.5", "--drain", "0.5",
        "--runs", "1", "--json",
    )  # fmt: skip
    for label in (
        "== maximal ==",
        "== paced ==",
        "accepted points/s",
        "worst viewer lag p99 (ms)",
        "conflations (all viewers)",
        "gaps outside conflations",
    ):
        assert label in out, f"{label!r} missing from:\n{out}"
    (run,) = json.loads(out.strip().splitlines()[-1])["runs"]
    for phase in ("maximal", "paced"):
        figures = run[phase]
        assert figures["accepted_points_per_s"] > 0 and figures["errors"] == {}
        assert [v["id"] for v in figures["viewers"]] == [0, 1]
        for viewer in figures["viewers"]:
            assert viewer["samples"] > 0 and viewer["gaps"] == 0
            assert {"p50", "p99", "max", "conflations"} <= viewer.keys()
