"""Fan-out at scale: the dashboard against the naive tutorial server and a bare ceiling.

    python benchmarks/fanout.py --clients N --series S --rate R --duration D
                                [--runs 3] [--warmup 2] [--generators G]
                                [--no-compression] [--server-compression]
                                [--slow-clients K]
                                [--no-naive] [--no-ceiling] [--json]

Words: a *series* here is one simulated ticker feed (symbol) of the
dashboard, ``--symbols S0,...`` on its command line; each of its *points*
carries 2 *values* (price and volume). Every client is offered S x R points/s
(the whole subscription); delivered values = delivered points x 2.

Three servers, one after the other, each a real process on 127.0.0.1 under
the same load:

1. project: ``python -m dashboard --port 0 --symbols ... --rate R``
   (Hypercorn; batches at most every flush interval, 50 ms by default;
   refuses permessage-deflate unless ``--server-compression``);
2. naive: benchmarks/naive_app.py, Quart on Hypercorn, one producer task
   that awaits ``websocket.send(json.dumps(point))`` per point per client,
   with Hypercorn's defaults (it accepts permessage-deflate) as a tutorial's;
3. ceiling: benchmarks/ceiling_server.py, a bare ``websockets`` server that
   broadcasts pre-encoded frames at the project's measured frames/s per
   client, with the project's measured points per frame (hence about its
   frame size): the project's frames/s as a fraction of this one's. Offered
   only what the project delivered, the ceiling can at best equal it (ratio
   1.00 means "the bare server keeps up with that too", not "the project is
   at the ceiling"); ``--ceiling-frame-rate 20`` offers the nominal rate of one
   frame per 50 ms flush instead.

For each, N clients connect from G load-generator processes
(benchmarks/_loadgen.py, default min(4, max(2, ceil(N/250)))), each an asyncio loop of
``websockets`` clients offering permessage-deflate as browsers do (unless
``--no-compression``). Once all are connected the window opens after
``--warmup`` seconds and lasts ``--duration`` seconds. Figures over the window:

- points/s, frames/s, values/s: received by all clients (by receive time);
- delivered %: delivered points / (points the server produced in the window,
  from ``/api/feeds`` ``last_seq`` deltas, x connected clients); offered %:
  delivered points / (S x R x window x clients), what a client asked for
  (the naive server produces fewer points when it falls behind: this shows it);
  worst client: the fewest points one reading client got / points produced
  in the window (counted by receive time, so window edges move it by a
  batch or so either way);
- latency: receive time minus the point's ``ts`` (producer time), sampled one
  point in 10, p50/p95/p99/max, in ms (same machine clock);
- gaps: points missing from a client's per-feed ``seq`` sequence (whole run);
- server CPU: utime+stime from /proc/<pid>/stat over the window, in cores;
  peak RSS: VmHWM from /proc/<pid>/status at the end of the window;
- generator CPU: the load generators' process time over the window, in cores
  (server and generators share the machine: see who saturated);
- errors: failed connects, connections closed early (by close code), others.

Every run is bounded (connect timeout, hard deadline); every child process
is terminated in ``finally`` and dies with this script (PR_SET_PDEATHSIG).
The file-descriptor limit is raised to its hard limit for all children.

``--runs N`` repeats the whole sequence N times; the table shows each
figure's median over the runs, and each ratio is computed within a run (the
servers of one run share the machine's state of that moment), then the
median of those is printed.

``--slow-clients K`` also runs the project with K extra clients that connect
and never read (small receive buffer, as a stuck tab); it prints the server's
memory and the reading clients' p99 against the run without them.

A client closed early is not reconnected here; it is counted under errors.
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

from _report import print_report

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VALUES_PER_POINT = 2  # ticker points: price and volume
CLK_TCK = os.sysconf("SC_CLK_TCK")
START_TIMEOUT = 30.0
CONNECT_TIMEOUT = 120.0


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
    with urllib.request.urlopen(url + "/api/feeds", timeout=10) as response:
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


def measure(name: str, server_cmd: list[str], args: argparse.Namespace, slow: int = 0) -> dict:
    """Start *server_cmd*, load it with the generators (plus *slow* clients
    that never read), return the figures."""
    logs = tempfile.TemporaryFile(mode="w+")
    children: list[subprocess.Popen] = []
    try:
        server = spawn(server_cmd, stderr=logs)
        children.append(server)
        line = read_line(server, START_TIMEOUT)
        match = re.search(r"http://\S+", line)
        if not match:
            raise SystemExit(f"{name}: server printed no address: {line!r}")
        url = match.group(0)
        ws_url = url.replace("http://", "ws://", 1) + "/ws"
        deadline = time.time() + CONNECT_TIMEOUT + args.warmup + args.duration + 30

        generators = []
        for share, slow_share in zip(
            split(args.clients, args.generators), split(slow, args.generators), strict=True
        ):
            cmd = [sys.executable, str(HERE / "_loadgen.py"), "--url", ws_url]
            cmd += ["--clients", str(share), "--deadline", str(deadline)]
            cmd += ["--slow", str(slow_share)]
            if args.no_compression:
                cmd.append("--no-compression")
            generators.append(spawn(cmd, stdin=subprocess.PIPE, stderr=logs))
        children += generators
        connect_started = time.monotonic()
        for g in generators:
            ready = json.loads(read_line(g, CONNECT_TIMEOUT))
            if not ready["ready"]:
                raise SystemExit(f"{name}: a generator connected no client: {ready}")
        connect_s = time.monotonic() - connect_started

        t0 = time.time() + args.warmup
        t1 = t0 + args.duration
        for g in generators:
            g.stdin.write(json.dumps({"t0": t0, "t1": t1}) + "\n")
            g.stdin.flush()
        time.sleep(max(0.0, t0 - time.time()))
        when0, seq0 = produced(url)
        cpu0 = cpu_seconds(server.pid)
        time.sleep(max(0.0, t1 - time.time()))
        cpu1 = cpu_seconds(server.pid)
        when1, seq1 = produced(url)
        rss = peak_rss_mb(server.pid)
        rss_now = current_rss_mb(server.pid)
        results = [json.loads(read_line(g, 30)) for g in generators]
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

    window = t1 - t0
    clients = sum(r["connected"] for r in results)
    points = sum(r["points"] for r in results)
    frames = sum(r["frames"] for r in results)
    size = sum(r["bytes"] for r in results)
    latencies = sorted(x for r in results for x in r["latencies_ms"])
    closed: dict[str, int] = {}
    for r in results:
        for code, count in r["closed_early"].items():
            closed[code] = closed.get(code, 0) + count
    produced_per_s = (seq1 - seq0) / (when1 - when0)
    expected = produced_per_s * window * clients
    offered = args.series * args.rate * window * clients
    return {
        "name": name,
        "clients": clients,
        "connect_s": round(connect_s, 2),
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
        "server_cpu_cores": (cpu1 - cpu0) / window,
        "server_peak_rss_mb": rss,
        "server_rss_mb": rss_now,
        "slow_clients": sum(r["slow_connected"] for r in results),
        "slow_closed_by_server": slow_closed,
        "generator_cpu_cores": sum(r["cpu_s"] for r in results) / window,
        "errors": {
            "connect": sum(r["connect_errors"] for r in results),
            "closed_early": closed,
            "other": sum(r["other_errors"] for r in results),
        },
    }


def one_run(args: argparse.Namespace) -> dict[str, dict]:
    """Every server under the same load, one after the other: one run."""
    symbols = ",".join(f"S{i}" for i in range(args.series))
    rate = f"{args.rate:g}"
    run: dict[str, dict] = {}
    project_cmd = [sys.executable, "-m", "dashboard", "--port", "0", "--symbols", symbols]
    project_cmd += ["--rate", rate, "--seed", "1", "--log-level", "warning"]
    # Every load-generator client connects from 127.0.0.1: lift the per-address
    # connection limit (default 64), as a deployment behind a proxy would.
    project_cmd += ["--max-connections-per-address", "0"]
    if args.server_compression:
        project_cmd.append("--ws-compression")
    run["project"] = project = measure("project", project_cmd, args)
    if args.slow_clients:
        run["project+slow"] = measure("project+slow", project_cmd, args, args.slow_clients)
    if not args.no_naive:
        naive_cmd = [sys.executable, str(HERE / "naive_app.py"), "--port", "0"]
        naive_cmd += ["--symbols", symbols, "--rate", rate]
        run["naive"] = measure("naive", naive_cmd, args)
    if not args.no_ceiling:
        per_client = args.ceiling_frame_rate or project["frames_per_s"] / max(1, project["clients"])
        points = project["points_per_frame"]
        if per_client > 0 and points == points:
            ceiling_cmd = [sys.executable, str(HERE / "ceiling_server.py"), "--port", "0"]
            ceiling_cmd += ["--symbols", symbols, "--frame-rate", f"{per_client:.3f}"]
            ceiling_cmd += ["--points", str(max(1, round(points)))]
            if args.server_compression:
                ceiling_cmd.append("--compression")
            run["ceiling"] = measure("ceiling", ceiling_cmd, args)
        else:
            print("ceiling skipped: the project delivered no frames to copy")
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--series", type=int, default=10, help="ticker feeds (symbols)")
    parser.add_argument("--rate", type=float, default=10.0, help="points/s per feed")
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before the window")
    parser.add_argument("--runs", type=int, default=1, help="repeat; figures are medians")
    parser.add_argument("--generators", type=int, help="load-generator processes")
    parser.add_argument("--no-compression", action="store_true", help="clients offer no deflate")
    parser.add_argument(
        "--server-compression",
        action="store_true",
        help="the dashboard (and the ceiling) accept permessage-deflate: --ws-compression",
    )
    parser.add_argument(
        "--slow-clients",
        type=int,
        default=0,
        help="also run the project with this many extra clients that never read",
    )
    parser.add_argument("--no-naive", action="store_true", help="skip the naive baseline")
    parser.add_argument("--no-ceiling", action="store_true", help="skip the ceiling")
    parser.add_argument(
        "--ceiling-frame-rate",
        type=float,
        help="frames/s per client offered by the ceiling (default: the project's measured)",
    )
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    args = parser.parse_args()
    if min(args.clients, args.series, args.runs) < 1 or args.rate <= 0 or args.duration <= 0:
        parser.error("clients, series, runs, rate and duration must be positive")
    if args.slow_clients < 0:
        parser.error("--slow-clients must be >= 0")
    if args.generators is None:
        # At least two, so no single generator process caps what a server can deliver.
        args.generators = min(4, max(2, math.ceil(args.clients / 250)))
    args.generators = max(1, min(args.generators, args.clients))
    fd_limit = raise_fd_limit()
    needed = args.clients + args.slow_clients + 100  # the server holds one fd per client
    if fd_limit < needed:
        print(f"warning: fd limit {fd_limit} may be too low ({needed} wanted)")

    runs = []
    for index in range(args.runs):
        runs.append(one_run(args))
        if args.runs > 1:
            print(f"run {index + 1}/{args.runs} done", file=sys.stderr, flush=True)
    print_report(runs, args)
    if args.json:
        print(json.dumps({"args": vars(args), "runs": runs}))


if __name__ == "__main__":
    main()
