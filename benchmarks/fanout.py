"""Fan-out at scale: the dashboard against the naive tutorial server and a bare ceiling.

    python benchmarks/fanout.py --clients N --series S --rate R --duration D
                                [--runs 3] [--warmup 2] [--generators G]
                                [--no-compression] [--server-compression]
                                [--slow-clients K] [--connect-timeout S]
                                [--no-naive] [--no-ceiling] [--py-spy FILE] [--json]
    python benchmarks/fanout.py --capacity [--series 1 --rate 10] [--runs N]
                                [--capacity-start 500 --capacity-growth 1.5 ...]

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
   broadcasts pre-encoded frames shaped like the project's (its measured
   points per frame, hence about its frame size) at the rate that carries the
   whole offered load, S x R points/s per client: S x R / points per frame
   frames/s. (Until issue 14 it was offered the project's measured frames/s;
   when the project fell behind, as at load C on a busy machine, the ceiling
   then got an easier load than the project: 0.26 frames/s against 1.)
   ``--ceiling-frame-rate F`` offers F frames/s per client instead. Besides
   frames/s, the same-run ratios of server CPU and latency p99 project /
   ceiling and each one's RSS per connection (peak RSS less the RSS before
   clients connected, per connected client) are printed.

``--capacity`` searches instead for the most viewers each server serves at
10 frames/s (benchmarks/_capacity.py); ``--py-spy FILE`` records the project
server over the first run's window and prints a summary (benchmarks/_pyspy.py).

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
- errors: failed connects, connections closed early (by close code), others;
- server CPU per connect: the server's CPU while the clients connected, per
  client (frames to those already connected included);
- worst client, by production time: the fewest points one client got of
  those made in ``[t0, t1 - 1 s)`` (seqs seen by any client), no edge error.

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
import json
import sys
from pathlib import Path

from _capacity import capacity_run, nominal_ceiling, print_capacity
from _measure import CONNECT_TIMEOUT, generator_count, measure, raise_fd_limit
from _report import print_report

HERE = Path(__file__).resolve().parent


def project_command(args: argparse.Namespace) -> list[str]:
    symbols = ",".join(f"S{i}" for i in range(args.series))
    cmd = [sys.executable, "-m", "dashboard", "--port", "0", "--symbols", symbols]
    cmd += ["--rate", f"{args.rate:g}", "--seed", "1", "--log-level", "warning"]
    # Every load-generator client connects from 127.0.0.1: lift the per-address
    # connection limit (default 64), as a deployment behind a proxy would.
    cmd += ["--max-connections-per-address", "0"]
    if args.server_compression:
        cmd.append("--ws-compression")
    return cmd


def ceiling_command(args: argparse.Namespace, frame_rate: float, points: float) -> list[str]:
    symbols = ",".join(f"S{i}" for i in range(args.series))
    cmd = [sys.executable, str(HERE / "ceiling_server.py"), "--port", "0"]
    cmd += ["--symbols", symbols, "--frame-rate", f"{frame_rate:.3f}"]
    cmd += ["--points", str(max(1, round(points)))]
    if args.server_compression:
        cmd.append("--compression")
    return cmd


def one_run(args: argparse.Namespace, first: bool) -> dict[str, dict]:
    """Every server under the same load, one after the other: one run."""
    run: dict[str, dict] = {}
    project_cmd = project_command(args)
    profile = args.py_spy if first else None
    run["project"] = project = measure("project", project_cmd, args, profile=profile)
    if profile:
        print(project["profile"], flush=True)
    if args.slow_clients:
        run["project+slow"] = measure("project+slow", project_cmd, args, args.slow_clients)
    if not args.no_naive:
        symbols = ",".join(f"S{i}" for i in range(args.series))
        naive_cmd = [sys.executable, str(HERE / "naive_app.py"), "--port", "0"]
        naive_cmd += ["--symbols", symbols, "--rate", f"{args.rate:g}"]
        run["naive"] = measure("naive", naive_cmd, args)
    if not args.no_ceiling:
        # The ceiling offers the whole offered load in frames shaped like the
        # project's (its measured points per frame).
        points = project["points_per_frame"]
        nominal = args.series * args.rate / max(1, round(points)) if points == points else 0
        per_client = args.ceiling_frame_rate or nominal
        if per_client > 0 and points == points:
            run["ceiling"] = measure("ceiling", ceiling_command(args, per_client, points), args)
            run["ceiling"]["offered_frames_per_s_per_client"] = per_client
            run["ceiling"]["offered_points_per_frame"] = max(1, round(points))
        else:
            print("ceiling skipped: the project delivered no frames to shape its on")
    return run


def _capacity_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("capacity mode (see benchmarks/_capacity.py)")
    add = group.add_argument
    add("--capacity", action="store_true", help="find the most viewers each server serves")
    add("--capacity-start", type=int, default=500, help="viewers at the first step")
    add("--capacity-growth", type=float, default=1.5, help="x viewers per step until a failure")
    add("--capacity-bisect", type=int, default=3, help="bisections after the first failure")
    add("--capacity-max-viewers", type=int, default=15000, help="never more viewers than this")
    add("--capacity-max-steps", type=int, default=10, help="steps per server per run, at most")
    add("--capacity-budget", type=float, default=600.0, help="s per server per run, at most")
    add("--capacity-window", type=float, default=8.0, help="measured s per step")
    add("--capacity-warmup", type=float, default=2.0, help="s before each step's window")
    add("--capacity-delivered", type=float, default=99.9, help="%% the worst viewer must get")
    add("--capacity-p99", type=float, default=250.0, help="latency p99 limit, ms")


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument(
        "--series", type=int, help="ticker feeds (symbols); default 10, with --capacity 1"
    )
    parser.add_argument("--rate", type=float, default=10.0, help="points/s per feed")
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before the window")
    parser.add_argument("--runs", type=int, default=1, help="repeat; figures are medians")
    parser.add_argument("--generators", type=int, help="load-generator processes")
    parser.add_argument(
        "--connect-timeout",
        type=float,
        default=CONNECT_TIMEOUT,
        help="s for all clients to connect",
    )
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
    parser.add_argument(
        "--py-spy",
        metavar="FILE",
        help="record the project server with py-spy over the first run's window (raw format)",
    )
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    _capacity_arguments(parser)
    args = parser.parse_args()
    if args.series is None:
        args.series = 1 if args.capacity else 10
    if min(args.clients, args.series, args.runs) < 1 or args.rate <= 0 or args.duration <= 0:
        parser.error("clients, series, runs, rate and duration must be positive")
    if args.slow_clients < 0:
        parser.error("--slow-clients must be >= 0")
    if args.capacity and (args.capacity_start < 1 or args.capacity_growth <= 1):
        parser.error("--capacity-start must be >= 1 and --capacity-growth > 1")
    if args.generators is not None:
        args.generators = max(1, args.generators)
    return args


def main() -> None:
    args = parse()
    most = args.capacity_max_viewers if args.capacity else args.clients + args.slow_clients
    fd_limit = raise_fd_limit()
    if fd_limit < most + 100:  # the server holds one fd per client
        print(f"warning: fd limit {fd_limit} may be too low ({most + 100} wanted)")
    if args.capacity:
        frame_rate, points = nominal_ceiling(args.series, args.rate)
        ceiling_cmd = ceiling_command(args, frame_rate, points)
        runs = []
        for index in range(args.runs):
            runs.append(capacity_run(args, project_command(args), ceiling_cmd))
            print(f"run {index + 1}/{args.runs} done", file=sys.stderr, flush=True)
        print_capacity(runs, args)
    else:
        args.generators = min(args.generators or generator_count(args.clients), args.clients)
        runs = []
        for index in range(args.runs):
            runs.append(one_run(args, first=index == 0))
            if args.runs > 1:
                print(f"run {index + 1}/{args.runs} done", file=sys.stderr, flush=True)
        print_report(runs, args)
    if args.json:
        print(json.dumps({"args": vars(args), "runs": runs}))


if __name__ == "__main__":
    main()
