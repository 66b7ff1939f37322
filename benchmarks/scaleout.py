"""Scale-out: the dashboard over Redis in several processes against one process alone.

    python benchmarks/scaleout.py --clients N --series S --rate R --duration D
                                  [--runs 3] [--warmup 2] [--generators G]
                                  [--setups memory-1,redis-2] [--appendfsync everysec]
                                  [--failover K] [--restart K [--down S] [--steady S]
                                   [--restart-signal term|kill]] [--faults-only] [--json]

Each run serves the same load once per *setup*, one after the other, every
server a real process on 127.0.0.1 (benchmarks/_instances.py):

- ``memory-1``: one process, in-memory backplane: the baseline;
- ``redis-1``: one process over Redis;
- ``redis-2``: two instances over one Redis (``--backplane redis://...``),
  each on its own port; the clients are split evenly between them;
- ``workers-2``: ``--workers 2`` over Redis on one port (the kernel spreads
  the clients; per-worker shares are not controlled).

Every Redis setup gets a fresh ``redis-server`` (benchmarks/_redis.py; a free
port, a temporary folder, ``appendonly yes`` with ``--appendfsync``, default
``everysec``; ``off``: no append-only file). The clients are the load
generators of benchmarks/fanout.py (benchmarks/_loadgen.py), the same figures
over the same window: points delivered / produced, latency (receive time
minus the point's ``ts``, which the producing instance stamped: so over Redis
it includes the hop producer -> Redis -> every instance), gaps, and:

- CPU per dashboard process (psutil, over the window, in cores), the clients
  each holds as the window opens (its established connections: with
  ``--workers`` how the kernel spread them) and which feeds each runs (the
  lease holder produces; the others only fan out);
- Redis's own CPU (psutil on its pid, cores), its memory from ``INFO``
  (used, RSS, peak, MB) and the commands it processed per second (how well
  the appends are pipelined: compare with the points produced per second).

Ratios are computed within each run against ``memory-1`` (when it is among
the setups), then their median over the runs is printed.

``--failover K`` adds K SIGKILLs of a lease holder and ``--restart K`` K Redis
restarts mid-run per run (benchmarks/_faults.py says what they measure);
``--faults-only`` skips the loads.

Every wait is bounded; every child process is terminated in ``finally`` and
dies with this script (PR_SET_PDEATHSIG). Loopback only.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from _faults import failover_runs, restart_runs
from _instances import (
    SETUPS,
    Instance,
    clients_held,
    cpu_seconds,
    dashboard_command,
    feeds_of,
    holders,
    rss_mb,
    start_instances,
    wait_until_producing,
)
from _measure import CONNECT_TIMEOUT, percentile, raise_fd_limit, read_line, spawn, split, stop
from _redis import FSYNC_CHOICES, RedisProcess, memory_figures, missing
from _scaleout_report import print_faults, print_report

HERE = Path(__file__).resolve().parent


def start_setup(setup: str, args: argparse.Namespace, logs) -> tuple[list[Instance], RedisProcess]:
    over_redis, count, workers = SETUPS[setup]
    redis = None
    if over_redis:
        redis = RedisProcess(args.appendfsync)
        redis.start()
    symbols = ",".join(f"S{i}" for i in range(args.series))
    backplane = redis.url if redis else None
    cmd = dashboard_command(symbols, args.rate, backplane=backplane, workers=workers)
    instances: list[Instance] = []
    try:
        instances = start_instances(count, cmd, logs, workers)
        # With --workers each request may reach another worker: ask a few times.
        wait_until_producing(instances * (4 if workers > 1 else 1), symbols.split(","), 30)
        if redis and redis.keys() == 0:
            raise SystemExit(f"{setup}: the dashboards wrote nothing to Redis ({redis.url})")
    except BaseException:
        stop([i.process for i in instances])
        if redis:
            redis.close()
        raise
    return instances, redis


def start_generators(instances: list[Instance], args, deadline: float, logs) -> list:
    """The load generators, spread over the instances; clients split evenly."""
    per_instance = max(1, args.generators // len(instances))
    generators = []
    for instance, share in zip(instances, split(args.clients, len(instances)), strict=True):
        for part in split(share, per_instance):
            cmd = [sys.executable, str(HERE / "_loadgen.py"), "--url", instance.ws_url]
            cmd += ["--clients", str(part), "--deadline", str(deadline)]
            if args.no_compression:
                cmd.append("--no-compression")
            generators.append(spawn(cmd, stdin=subprocess.PIPE, stderr=logs))
    return generators


def measure(setup: str, args: argparse.Namespace) -> dict:
    """Serve the load with *setup*; the figures over the window."""
    # Long: one straight sequence (start, connect, window, collect), as fanout.measure.
    logs = tempfile.TemporaryFile(mode="w+")
    instances: list[Instance] = []
    redis = None
    children: list[subprocess.Popen] = []
    try:
        instances, redis = start_setup(setup, args, logs)
        children += [i.process for i in instances]
        deadline = time.time() + CONNECT_TIMEOUT + args.warmup + args.duration + 30
        generators = start_generators(instances, args, deadline, logs)
        children += generators
        connect_started = time.monotonic()
        for g in generators:
            ready = json.loads(read_line(g, CONNECT_TIMEOUT))
            if not ready["ready"]:
                raise SystemExit(f"{setup}: a generator connected no client: {ready}")
        connect_s = time.monotonic() - connect_started
        pids = [pid for i in instances for pid in i.serving_pids()]

        t0 = time.time() + args.warmup
        t1 = t0 + args.duration
        for g in generators:
            g.stdin.write(json.dumps({"t0": t0, "t1": t1}) + "\n")
            g.stdin.flush()
        time.sleep(max(0.0, t0 - time.time()))
        when0, seq0 = time.time(), last_seqs(instances[0])
        cpu0 = cpu_seconds(pids)
        redis0 = (redis.cpu_seconds(), redis.info()) if redis else None
        # Counted as the window opens: at its end the clients hang up.
        ports = {pid: urlsplit(i.url).port for i in instances for pid in i.serving_pids()}
        held = {pid: clients_held(pid, ports[pid]) for pid in pids}
        time.sleep(max(0.0, t1 - time.time()))
        cpu1 = cpu_seconds(pids)
        redis1 = (redis.cpu_seconds(), redis.info()) if redis else None
        when1, seq1 = time.time(), last_seqs(instances[0])
        runs_here = [len(holders(i)) for i in instances]
        rss = {pid: rss_mb(pid) for pid in pids}
        results = [json.loads(read_line(g, 30)) for g in generators]
    except BaseException:
        logs.seek(0)
        tail = logs.read()[-3000:]
        if tail:
            print(f"--- {setup}: stderr of servers and generators ---\n{tail}", file=sys.stderr)
        raise
    finally:
        stop(children)
        logs.close()
        if redis:
            redis.close()
    window = t1 - t0
    figures = client_figures(results, window, (seq1 - seq0) / (when1 - when0), args)
    figures["name"] = setup
    figures["connect_s"] = round(connect_s, 2)
    figures["processes"] = [
        {"cpu_cores": (cpu1[p] - cpu0[p]) / window, "rss_mb": rss[p], "clients": held[p]}
        for p in cpu0
        if p in cpu1
    ]
    figures["feeds_run_per_instance"] = runs_here
    figures["server_cpu_cores"] = sum(p["cpu_cores"] for p in figures["processes"])
    figures["redis"] = redis_figures(redis0, redis1, window) if redis0 and redis1 else None
    return figures


def last_seqs(instance: Instance) -> int:
    return sum(f["last_seq"] for f in feeds_of(instance)["feeds"].values())


def redis_figures(before: tuple, after: tuple, window: float) -> dict:
    (cpu0, info0), (cpu1, info1) = before, after
    commands = info1["total_commands_processed"] - info0["total_commands_processed"]
    calls0 = info0["calls"]
    by_name = {k: (n - calls0.get(k, 0)) / window for k, n in info1["calls"].items()}
    return {
        "cpu_cores": (cpu1 - cpu0) / window,
        "commands_per_s": commands / window,
        # The busiest commands over the window, per second (INFO commandstats).
        "commands_per_s_by_name": dict(sorted(by_name.items(), key=lambda kv: -kv[1])[:6]),
        **memory_figures(info1),
    }


def client_figures(results: list[dict], window: float, produced_per_s: float, args) -> dict:
    """What the clients saw, as benchmarks/fanout.py counts it."""
    clients = sum(r["connected"] for r in results)
    points = sum(r["points"] for r in results)
    latencies = sorted(x for r in results for x in r["latencies_ms"])
    closed: dict[str, int] = {}
    for r in results:
        for code, count in r["closed_early"].items():
            closed[code] = closed.get(code, 0) + count
    expected = produced_per_s * window * clients
    offered = args.series * args.rate * window * clients
    worst = min(r["min_client_points"] for r in results)
    return {
        "clients": clients,
        "window_s": round(window, 2),
        "points_per_s": points / window,
        "produced_points_per_s": produced_per_s,
        "delivered_fraction": points / expected if expected else float("nan"),
        "offered_fraction": points / offered if offered else float("nan"),
        "worst_client_fraction": (
            worst / (produced_per_s * window) if produced_per_s else float("nan")
        ),
        "latency_ms": {
            "samples": len(latencies),
            "p50": percentile(latencies, 50),
            "p99": percentile(latencies, 99),
            "max": latencies[-1] if latencies else float("nan"),
        },
        "gaps": sum(r["gaps"] for r in results),
        "duplicates": sum(r["dups"] for r in results),
        "generator_cpu_cores": sum(r["cpu_s"] for r in results) / window,
        "errors": {
            "connect": sum(r["connect_errors"] for r in results),
            "closed_early": closed,
            "other": sum(r["other_errors"] for r in results),
        },
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--clients", type=int, default=100, help="total clients, split over the processes")
    add("--series", type=int, default=10, help="ticker feeds (symbols)")
    add("--rate", type=float, default=10.0, help="points/s per feed")
    add("--duration", type=float, default=20.0, help="measured seconds")
    add("--warmup", type=float, default=2.0, help="seconds before the window")
    add("--runs", type=int, default=1, help="repeat; figures are medians")
    add("--generators", type=int, help="load-generator processes (at least one per instance)")
    add("--no-compression", action="store_true", help="clients offer no deflate")
    add("--setups", default="memory-1,redis-2", help=f"comma-separated, of {', '.join(SETUPS)}")
    add("--appendfsync", default="everysec", choices=FSYNC_CHOICES, help="Redis for the loads")
    add("--failover", type=int, default=0, metavar="K", help="SIGKILLs of a lease holder per run")
    add("--restart", type=int, default=0, metavar="K", help="Redis restarts per run")
    add("--restart-signal", default="term", choices=("term", "kill"), help="how Redis is stopped")
    add("--down", type=float, default=2.0, help="seconds Redis stays down in --restart")
    add("--steady", type=float, default=2.0, help="seconds of writes before Redis is stopped")
    add("--faults-only", action="store_true", help="skip the loads: only --failover/--restart")
    add("--json", action="store_true", help="also print the results as JSON")
    args = parser.parse_args()
    args.setups = [s for s in args.setups.split(",") if s]
    unknown = [s for s in args.setups if s not in SETUPS]
    if unknown or not args.setups:
        parser.error(f"--setups: unknown {unknown}; choose from {', '.join(SETUPS)}")
    if min(args.clients, args.series, args.runs) < 1 or args.rate <= 0 or args.duration <= 0:
        parser.error("clients, series, runs, rate and duration must be positive")
    if min(args.failover, args.restart) < 0 or min(args.down, args.steady) < 0:
        parser.error("--failover, --restart, --down and --steady must be >= 0")
    if args.generators is None:
        args.generators = min(4, max(2, math.ceil(args.clients / 250)))
    return args


def main() -> None:
    args = parse_args()
    reason = missing()
    if reason:
        raise SystemExit(f"scaleout: {reason}")
    fd_limit = raise_fd_limit()
    if fd_limit < args.clients + 100:
        print(f"warning: fd limit {fd_limit} may be too low ({args.clients + 100} wanted)")
    runs = []
    for index in range(args.runs):
        run: dict = {}
        if not args.faults_only:
            for setup in args.setups:
                run[setup] = measure(setup, args)
        if args.failover:
            run["failover"] = failover_runs(args.failover, args.rate)
        if args.restart:
            run["restart"] = restart_runs(
                args.restart, args.rate, args.down, args.restart_signal, args.steady
            )
        runs.append(run)
        print(f"run {index + 1}/{args.runs} done", file=sys.stderr, flush=True)
    if not args.faults_only:
        print_report(runs, args)
    print_faults(runs, args)
    if args.json:
        print(json.dumps({"args": vars(args), "runs": runs}))


if __name__ == "__main__":
    main()
