"""Dashboard processes for benchmarks/scaleout.py: one or several instances,
in memory or over one redis-server, and what they say about themselves.

A *setup* names how the load is served:

- ``memory-1``: one ``python -m dashboard`` with the in-memory backplane (the baseline);
- ``redis-1``: one instance over Redis (what Redis alone costs);
- ``redis-2``: two instances over one Redis, each on its own port, the
  clients split evenly between them (as behind a load balancer);
- ``workers-2``: ``python -m dashboard --workers 2`` over Redis, one port,
  the kernel spreading the clients over the two worker processes.
"""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from typing import IO, Any

import psutil
from _measure import spawn, stop

START_TIMEOUT = 30.0
#: setup name -> (over Redis, instances, workers per instance)
SETUPS: dict[str, tuple[bool, int, int]] = {
    "memory-1": (False, 1, 1),
    "redis-1": (True, 1, 1),
    "redis-2": (True, 2, 1),
    "workers-2": (True, 1, 2),
}


@dataclass
class Instance:
    """One ``python -m dashboard`` process (with ``--workers N``, its workers too)."""

    process: subprocess.Popen
    url: str
    workers: int = 1
    pids: list[int] = field(default_factory=list)

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://", 1) + "/ws"

    def serving_pids(self) -> list[int]:
        """The processes that serve clients: the workers with ``--workers``, as
        the startup lines name them, else the process itself."""
        return self.pids or [self.process.pid]


def dashboard_command(
    symbols: str, rate: float, *, backplane: str | None = None, workers: int = 1, seed: bool = True
) -> list[str]:
    cmd = [sys.executable, "-m", "dashboard", "--port", "0", "--symbols", symbols]
    cmd += ["--rate", f"{rate:g}", "--log-level", "warning"]
    if seed:
        cmd += ["--seed", "1"]
    # Every load-generator client connects from 127.0.0.1: lift the per-address
    # connection limit (default 64), as a deployment behind a proxy would.
    cmd += ["--max-connections-per-address", "0"]
    if backplane is not None:
        cmd += ["--backplane", backplane]
    if workers > 1:
        cmd += ["--workers", str(workers)]
    return cmd


def start_instance(cmd: list[str], logs: IO[str], workers: int = 1, extra: tuple = ()) -> Instance:
    (instance,) = start_instances(1, cmd, logs, workers, extra)
    return instance


def start_instances(
    count: int, cmd: list[str], logs: IO[str], workers: int = 1, extra: tuple = ()
) -> list[Instance]:
    """Start *count* dashboards at once (they start in parallel), then wait for each."""
    processes = [spawn([*cmd, *extra], stderr=logs) for _ in range(count)]
    try:
        return [started(p, cmd, workers) for p in processes]
    except BaseException:
        stop(processes)
        raise


def started(process: subprocess.Popen, cmd: list[str], workers: int) -> Instance:
    """Read a dashboard's startup lines: its address, and with ``--workers``
    the workers' pids ("Workers: 2 processes (pids 1, 2)")."""
    # Read from the descriptor itself: the startup lines come in one write, and
    # a text file's readline() would keep the later ones in its buffer, unseen
    # by select().
    fd = process.stdout.fileno()
    deadline = time.monotonic() + START_TIMEOUT
    text, url, pids = "", None, []
    while url is None or (workers > 1 and not pids):
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise TimeoutError(f"no startup lines from the dashboard within {START_TIMEOUT:.0f} s")
        chunk = os.read(fd, 65536)
        if not chunk:
            process.wait(timeout=5)
            raise SystemExit(f"dashboard exited {process.returncode} before serving: {cmd}")
        text += chunk.decode(errors="replace")
        if match := re.search(r"Dashboard running at (http://\S+)", text):
            url = match.group(1)
        if match := re.search(r"Workers: .*\(pids ([\d, ]+)\)", text):
            pids = [int(p) for p in match.group(1).split(",")]
    return Instance(process, url, workers, pids)


def get_json(url: str, timeout: float = 60) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.load(response)


def feeds_of(instance: Instance) -> dict[str, Any]:
    """``/api/feeds``: the epoch and every feed's row (status, last_seq, dropped...)."""
    body = get_json(instance.url + "/api/feeds")
    return {"epoch": body["epoch"], "feeds": {f["name"]: f for f in body["feeds"]}}


def wait_until_producing(instances: list[Instance], names: list[str], timeout: float) -> str:
    """Wait until every instance holds points of every feed in *names*; their
    one epoch. Fails when the instances disagree on it (no shared backplane)."""
    deadline = time.monotonic() + timeout
    while True:
        views = [feeds_of(i) for i in instances]
        epochs = {v["epoch"] for v in views}
        ready = all(v["feeds"].get(n, {}).get("last_seq", 0) > 0 for v in views for n in names)
        if ready and len(epochs) == 1:
            return epochs.pop()
        if time.monotonic() > deadline:
            raise SystemExit(
                f"within {timeout:.0f} s the instances did not all produce {names} under one "
                f"epoch (epochs {sorted(epochs)}): is the backplane shared?"
            )
        time.sleep(0.1)  # polling the API until the feeds run, within the deadline


#: Producer states of a feed run on this instance (not "standby": run by another,
#: nor "external": pushed in over ingest).
HOLDER_STATES = ("running", "stalled", "paused", "restarting")


def holders(instance: Instance) -> list[str]:
    """The feeds whose producer runs on this instance (it holds their lease)."""
    rows = feeds_of(instance)["feeds"].items()
    return [n for n, f in rows if f["status"] in HOLDER_STATES]


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    out = {}
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.NoSuchProcess:
            continue
        out[pid] = float(times.user + times.system)
    return out


def rss_mb(pid: int) -> float:
    try:
        return float(psutil.Process(pid).memory_info().rss) / (1024 * 1024)
    except psutil.NoSuchProcess:
        return float("nan")


def clients_held(pid: int, port: int) -> int:
    """Established TCP connections of *pid* on its listening *port*: the
    clients this process serves (with ``--workers``, how the kernel spread them)."""
    try:
        connections = psutil.Process(pid).net_connections(kind="tcp")
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return -1
    return sum(
        1
        for c in connections
        if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == port
    )
