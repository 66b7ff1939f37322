"""benchmarks/scaleout.py still runs end to end over a real redis-server (a
tiny load; never checks timing, only that every figure is there and that
the instances acted as one)."""

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.redis_server import need_redis
from tests.support.waiting import require_env

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _redis_backplane() -> None:
    need_redis()
    if importlib.util.find_spec("dashboard.redis_backplane") is None:
        reason = "no Redis backplane in this tree (dashboard/redis_backplane.py)"
        if require_env("REQUIRE_REDIS"):  # .ci/run: the benchmark must run there
            pytest.fail(f"REQUIRE_REDIS=1 but {reason}")
        pytest.skip(reason)


def run_scaleout(*args: str) -> tuple[str, list[dict]]:
    """Run benchmarks/scaleout.py with *args* and --json: its stdout and runs."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "scaleout.py"), *args, "--json"],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout, json.loads(result.stdout.strip().splitlines()[-1])["runs"]


def test_scaleout_loads_tiny_run():
    """One process in memory and two instances over Redis serve the same tiny
    load in one run: every client gets every point, with the figures printed."""
    out, runs = run_scaleout(
        "--setups", "memory-1,redis-2", "--clients", "4", "--series", "2", "--rate", "5",
        "--duration", "1", "--warmup", "0.5", "--generators", "2",
    )  # fmt: skip
    for label in (
        "latency p99 (ms)",
        "delivered / produced (%)",
        "dashboard CPU, process 2 (cores)",
        "Redis CPU (cores)",
        "Redis memory used (MB)",
        "latency p99, redis-2 / memory-1",
    ):
        assert label in out, f"{label!r} missing from:\n{out}"
    (run,) = runs
    assert list(run) == ["memory-1", "redis-2"]
    memory, redis = run["memory-1"], run["redis-2"]
    assert len(memory["processes"]) == 1 and len(redis["processes"]) == 2
    assert redis["redis"]["used_mb"] > 0 and redis["redis"]["commands_per_s"] > 0
    # The two feeds are produced once in all, by whichever instance holds each lease.
    assert sum(redis["feeds_run_per_instance"]) == 2
    for figures in (memory, redis):
        assert figures["clients"] == 4
        assert figures["gaps"] == 0 and figures["duplicates"] == 0
        assert figures["delivered_fraction"] > 0.5


def test_scaleout_failover_tiny_run():
    """One SIGKILL of the lease holder: the takeover is measured and the feed
    went on with no seq gap and no duplicate."""
    out, runs = run_scaleout("--faults-only", "--failover", "1", "--rate", "10")
    assert "takeover: kill -> next point on the other (s)" in out
    (run,) = runs
    (failover,) = run["failover"]
    assert math.isfinite(failover["takeover_s"]), out
    assert failover["gaps"] == 0 and failover["duplicates"] == 0


def test_scaleout_redis_restart_tiny_run():
    """One Redis restart under ingest: nothing acknowledged was lost for the
    viewers or the history, no duplicate, and the viewers stayed connected."""
    out, runs = run_scaleout(
        "--faults-only", "--restart", "1", "--down", "0.5", "--steady", "0.5", "--rate", "10",
    )  # fmt: skip
    assert "acknowledged, lost for a viewer (worst)" in out
    (run,) = runs
    (restart,) = run["restart"]
    assert restart["acknowledged"] > 0 and restart["viewers_closed"] == 0, restart
    assert restart["lost_viewers"] == 0 and restart["lost_history"] == 0, restart
    assert restart["duplicates"] == 0, restart
