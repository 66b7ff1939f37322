"""Run one server under load for benchmarks/fanout.py: start it, connect the
load generators, measure one window, stop everything (see fanout.py's docstring
for what each figure means).

Every run is bounded (connect timeout, hard deadline); every child process is
terminated in ``finally`` and dies with the parent (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import math
import os
import re
import resource
import select
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from _pyspy import Recording

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VALUES_PER_POINT = 2  # ticker points: price and volume
CLK_TCK = os.sysconf("SC_CLK_TCK")
START_TIMEOUT = 30.0
#: Default s for all load-generator clients to connect (fanout.py --connect-timeout).
CONNECT_TIMEOUT = 120.0
#: /api/feeds can take tens of seconds to answer while 10,000 viewers connect.
API_TIMEOUT = 60.0
#: Points made this long before the window ends still count towards the
#: by-production-time figures: they had this long to arrive.
ARRIVAL_GRACE_S = 1.0


def _die_with_parent() -> None:
    """Linux: the child gets SIGTERM if this script dies, so nothing outlives a run."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def spawn(cmd: list[str], *, stdin=None, stderr=None) -> subprocess.Popen:
    return subprocess.Popen(
        cmd,
        cwd=ROOT,
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=stderr if stderr is not None else subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )


def read_line(process: subprocess.Popen, timeout: float) -> str:
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    if not ready:
        raise TimeoutError(f"no output from {process.args[:3]} within {timeout:.0f} s")
    return process.stdout.readline()


def stop(processes: list[subprocess.Popen]) -> None:
    for p in processes:
        if p.poll() is None:
            p.terminate()
    deadline = time.monotonic() + 5
    for p in processes:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def cpu_seconds(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def produced(url: str) -> tuple[float, int]:
    """(when, sum of last_seq over feeds) from the server's /api/feeds."""
    with urllib.request.urlopen(url + "/api/feeds", timeout=API_TIMEOUT) as response:
        body = json.load(response)
    return time.time(), sum(f["last_seq"] for f in body["feeds"])


def current_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def split(total: int, parts: int) -> list[int]:
    shares = [total // parts] * parts
    for i in range(total % parts):
        shares[i] += 1
    return shares


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, math.ceil(q / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


def generator_count(clients: int) -> int:
    """At least two, so no single generator process caps what a server can deliver."""
    return max(1, min(clients, min(4, max(2, math.ceil(clients / 250)))))


def _start_server(name: str, server_cmd: list[str], logs) -> tuple[subprocess.Popen, str]:
    server = spawn(server_cmd, stderr=logs)
    line = read_line(server, START_TIMEOUT)
    match = re.search(r"http://\S+", line)
    if not match:
        stop([server])
        raise SystemExit(f"{name}: server printed no address: {line!r}")
    return server, match.group(0)


def _start_generators(
    ws_url: str, clients: int, slow: int, args: argparse.Namespace, deadline: float, logs
) -> list[subprocess.Popen]:
    count = args.generators or generator_count(clients)
    generators = []
    for share, slow_share in zip(split(clients, count), split(slow, count), strict=True):
        cmd = [sys.executable, str(HERE / "_loadgen.py"), "--url", ws_url]
        cmd += ["--clients", str(share), "--deadline", str(deadline)]
        cmd += ["--slow", str(slow_share), "--connect-timeout", str(args.connect_timeout)]
        if args.no_compression:
            cmd.append("--no-compression")
        generators.append(spawn(cmd, stdin=subprocess.PIPE, stderr=logs))
    return generators


def measure(
    name: str,
    server_cmd: list[str],
    args: argparse.Namespace,
    slow: int = 0,
    *,
    clients: int | None = None,
    profile: str | None = None,
) -> dict:
    """Start *server_cmd*, load it with *clients* (default ``args.clients``)
    reading clients plus *slow* that never read, return the figures; with
    *profile*, py-spy records the server over the window into that file."""
    # Long: one try/finally owns every child process of the step (server,
    # generators, py-spy), so none outlives an error at any point.
    clients = args.clients if clients is None else clients
    logs = tempfile.TemporaryFile(mode="w+")
    children: list[subprocess.Popen] = []
    try:
        server, url = _start_server(name, server_cmd, logs)
        children.append(server)
        produced(url)  # answering: started up
        rss_before = current_rss_mb(server.pid)
        ws_url = url.replace("http://", "ws://", 1) + "/ws"
        deadline = time.time() + args.connect_timeout + args.warmup + args.duration + 90
        generators = _start_generators(ws_url, clients, slow, args, deadline, logs)
        children += generators
        connect_started = time.monotonic()
        cpu_connect0 = cpu_seconds(server.pid)
        for g in generators:
            ready = json.loads(read_line(g, args.connect_timeout + 30))
            if not ready["ready"]:
                raise SystemExit(f"{name}: a generator connected no client: {ready}")
        connect_s = time.monotonic() - connect_started
        cpu_connect = cpu_seconds(server.pid) - cpu_connect0

        t0 = time.time() + args.warmup
        t1 = t0 + args.duration
        grace = min(ARRIVAL_GRACE_S, args.duration / 4)
        for g in generators:
            g.stdin.write(json.dumps({"t0": t0, "t1": t1, "grace": grace}) + "\n")
            g.stdin.flush()
        time.sleep(max(0.0, t0 - time.time()))
        recording = Recording(server.pid, args.duration, profile) if profile else None
        when0, seq0 = produced(url)
        cpu0 = cpu_seconds(server.pid)
        time.sleep(max(0.0, t1 - time.time()))
        cpu1 = cpu_seconds(server.pid)
        when1, seq1 = produced(url)
        rss = peak_rss_mb(server.pid)
        rss_now = current_rss_mb(server.pid)
        results = [json.loads(read_line(g, 60)) for g in generators]
        profile_summary = recording.finish() if recording else None
    except BaseException:
        logs.seek(0)
        tail = logs.read()[-3000:]
        if tail:
            print(f"--- {name}: stderr of servers and generators ---\n{tail}", file=sys.stderr)
        raise
    finally:
        stop(children)
        logs.seek(0)
        slow_closed = logs.read().count("event=slow_client_closed")
        logs.close()
    figures = _figures(name, results, args, t1 - t0, (seq1 - seq0) / (when1 - when0))
    connected = figures["clients"]
    figures.update(
        connect_s=round(connect_s, 2),
        server_cpu_ms_per_connect=1000 * cpu_connect / connected if connected else float("nan"),
        server_cpu_cores=(cpu1 - cpu0) / (t1 - t0),
        server_peak_rss_mb=rss,
        server_rss_mb=rss_now,
        server_rss_before_mb=rss_before,
        rss_kb_per_connection=(
            1024 * (rss - rss_before) / (connected + figures["slow_clients"])
            if connected
            else float("nan")
        ),
        slow_closed_by_server=slow_closed,
    )
    if profile_summary is not None:
        figures["profile"] = profile_summary
    return figures


def _by_production_time(results: list[dict]) -> tuple[int, int]:
    """(points made in the window less the grace, per client, from the seqs
    any client saw; the fewest of those one reading client got)."""
    spans: dict[str, list[int]] = {}
    for r in results:
        for feed, (low, high) in r["ts_window_seqs"].items():
            span = spans.setdefault(feed, [low, high])
            span[0], span[1] = min(span[0], low), max(span[1], high)
    made = sum(high - low + 1 for low, high in spans.values())
    fewest = min((r["min_client_points_by_ts"] for r in results if r["connected"]), default=0)
    return made, fewest


def _figures(
    name: str, results: list[dict], args: argparse.Namespace, window: float, produced_per_s: float
) -> dict:
    """The window's figures from the generators' *results*."""
    clients = sum(r["connected"] for r in results)
    points = sum(r["points"] for r in results)
    frames = sum(r["frames"] for r in results)
    size = sum(r["bytes"] for r in results)
    latencies = sorted(x for r in results for x in r["latencies_ms"])
    closed: dict[str, int] = {}
    for r in results:
        for code, count in r["closed_early"].items():
            closed[code] = closed.get(code, 0) + count
    expected = produced_per_s * window * clients
    offered = args.series * args.rate * window * clients
    made, fewest = _by_production_time(results)
    return {
        "name": name,
        "clients": clients,
        "window_s": round(window, 2),
        "points_per_s": points / window,
        "frames_per_s": frames / window,
        "values_per_s": points * VALUES_PER_POINT / window,
        "produced_points_per_s": produced_per_s,
        "delivered_fraction": points / expected if expected else float("nan"),
        # The worst-served reading client against what one client should get.
        "worst_client_fraction": (
            min(r["min_client_points"] for r in results) / (produced_per_s * window)
            if produced_per_s
            else float("nan")
        ),
        # The same, counted by when points were made (no window-edge error).
        "worst_client_by_ts_fraction": fewest / made if made else float("nan"),
        "offered_fraction": points / offered if offered else float("nan"),
        "points_per_frame": points / frames if frames else float("nan"),
        "mean_frame_bytes": size / frames if frames else float("nan"),
        "latency_ms": {
            "samples": len(latencies),
            "p50": percentile(latencies, 50),
            "p95": percentile(latencies, 95),
            "p99": percentile(latencies, 99),
            "max": latencies[-1] if latencies else float("nan"),
        },
        "gaps": sum(r["gaps"] for r in results),
        "duplicates": sum(r["dups"] for r in results),
        "slow_clients": sum(r["slow_connected"] for r in results),
        "generator_cpu_cores": sum(r["cpu_s"] for r in results) / window,
        "errors": {
            "connect": sum(r["connect_errors"] for r in results),
            "closed_early": closed,
            "other": sum(r["other_errors"] for r in results),
        },
    }
