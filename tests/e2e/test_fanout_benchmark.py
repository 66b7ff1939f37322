"""The benchmarks still run end to end (a tiny load; never checks their timing)."""

import argparse
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
        "server CPU, project / ceiling",
        "RSS per connection (KB), project",
        "RSS per connection (KB), ceiling",
        "server CPU per connect (ms)",
        "worst client, by production time (%)",
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
            assert figures["server_rss_before_mb"] > 0


def test_fanout_capacity_mode_tiny_search():
    """--capacity at a tiny bound (3 then 4 viewers, 2 steps per server at
    most) searches both servers in one run and prints each step, both
    capacities and their ratio; a capacity is the largest step that passed."""
    out = run_benchmark(
        "fanout.py", "--capacity", "--capacity-start", "3", "--capacity-max-viewers", "4",
        "--capacity-max-steps", "2", "--capacity-window", "1.2", "--capacity-warmup", "0.3",
        "--json",
    )  # fmt: skip
    for label in ("project capacity (viewers)", "ceiling capacity (viewers)", "project / ceiling"):
        assert label in out, f"{label!r} missing from:\n{out}"
    (run,) = json.loads(out.strip().splitlines()[-1])["runs"]
    for name in ("project", "ceiling"):
        steps = run[name]["steps"]
        assert [s["viewers"] for s in steps] == [3, 4][: len(steps)] and steps
        assert f"{name:<8}      3 viewers:" in out
        passed = [s["viewers"] for s in steps if s["pass"]]
        assert run[name]["capacity"] == max(passed, default=0)
        for s in steps:
            assert s["figures"]["clients"] == s["viewers"]
            assert s["figures"]["frames_per_s"] > 0


def test_capacity_search_grows_then_bisects_within_its_bounds():
    """The search (no servers: a step that passes up to 1,000 viewers) grows
    x1.5 from 500, bisects after the first failure, and stops at its bounds."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from _capacity import search
    finally:
        sys.path.pop(0)

    def step(n):
        ok = n <= 1000
        return {
            "clients": n,
            "worst_client_by_ts_fraction": 1.0 if ok else 0.5,
            "latency_ms": {"p99": 10.0},
            "errors": {"closed_early": {}},
            "server_cpu_cores": 0.1,
            "generator_cpu_cores": 0.1,
            "connect_s": 1.0,
        }

    args = argparse.Namespace(
        capacity_start=500, capacity_growth=1.5, capacity_bisect=3, capacity_max_viewers=20000,
        capacity_max_steps=10, capacity_budget=60.0, capacity_delivered=99.9, capacity_p99=250.0,
    )  # fmt: skip
    found = search("fake", step, args)
    assert [s["viewers"] for s in found["steps"]] == [500, 750, 1125, 937, 1031, 984]
    assert (found["capacity"], found["first_failure"]) == (984, 1031)
    args.capacity_max_steps = 2
    assert search("fake", step, args)["stopped"] == "max steps"
    args.capacity_max_steps, args.capacity_max_viewers = 10, 700
    found = search("fake", step, args)
    assert [s["viewers"] for s in found["steps"]] == [500, 700]
    assert found["stopped"] == "max viewers" and found["capacity"] == 700


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


def test_ingest_formats_benchmark_tiny_run():
    """benchmarks/ingest_formats.py at a tiny load (500-point posts, 1 s
    windows, one run) exits 0 and reports both formats and their ratios."""
    out = run_benchmark(
        "ingest_formats.py", "--points", "500", "--duration", "1", "--warmup", "0.3",
        "--runs", "1", "--json",
    )  # fmt: skip
    for label in ("accepted points/s", "server CPU-s per million points", "line / json (same run)"):
        assert label in out, f"{label!r} missing from:\n{out}"
    result = json.loads(out.strip().splitlines()[-1])
    (run,) = result["runs"]
    for fmt in ("line", "json"):
        assert run[fmt]["accepted_points_per_s"] > 0 and run[fmt]["errors"] == {}
        assert run[fmt]["cpu_s_per_million_points"] > 0
    assert result["summary"]["accepted_points_per_s"]["ratio"] > 0
