"""Viewer lag under push ingest: maximal, then paced, with the same viewers.

    python benchmarks/ingest_lag.py [--viewers 20] [--points 10000] [--connections 2]
                                    [--paced-rate 10000] [--paced-batch 200]
                                    [--duration 10] [--warmup 2] [--drain 3]
                                    [--runs 3] [--viewer-procs 2] [--json]

One run: the dashboard as its own process on 127.0.0.1 (``python -m
dashboard --port 0`` with ingest on and the default viewer settings:
``max_viewer_lag`` 2 s, ``max_viewer_bytes`` 4 MiB, ``client_conflate_frames``
64; one ticker at 1 point/s besides), V viewers spread over viewer processes
(benchmarks/_lagviewers.py), then two phases on that server and those viewers:

1. maximal: ``--connections`` HTTP connections each POST a JSON array of
   ``--points`` points to ``/api/feeds/BULK/points``, the next as soon as the
   last is answered, for warmup + duration seconds;
2. a pause of ``--drain`` seconds (viewers catch up);
3. paced: one connection POSTs ``--paced-batch`` points every
   batch/rate seconds (``--paced-rate`` points/s on a fixed schedule; a late
   post goes at once), for warmup + duration seconds.

Every point's ``ts`` is the time its request was sent (ms): lag = receive
time - ts covers ingest, hub and fan-out. Figures per phase, over its window
(after the warm-up):

- accepted points/s: points in 200 answers received in the window / window;
- per viewer: lag p50/p99/max in ms over sampled points (one in 100 of each
  frame, and its last), conflated batches received, gaps (seqs missing
  outside a conflated batch: a conflation is the server's marked skip);
- server CPU (cores, from /proc over the window); errors: non-200 answers,
  viewers the server closed.

``--runs N`` repeats the whole run with a fresh server; each figure is the
median over runs, with min-max in brackets. Everything is bounded: each run
has a hard deadline, each phase a time and a request count cap
(``MAX_REQUESTS``); every child process is terminated in ``finally``. Loopback
only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.request

from _measure import HERE, START_TIMEOUT, cpu_seconds, percentile, read_line, spawn, split, stop
from _report import machine

TOKEN = "ingest-lag-benchmark"
FEED = "BULK"
MAX_REQUESTS = 100_000  # per phase: a bound whatever the server does
PHASES = ("maximal", "paced")


class Ingest:
    """One keep-alive HTTP/1.1 connection posting points to the dashboard."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, count: int) -> tuple[int, int]:
        """POST *count* points stamped now; (HTTP status, points accepted)."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        ts = time.time_ns() // 1_000_000
        point = b'{"ts":%d,"values":{"v":1.5}}' % ts
        body = b"[" + b",".join([point] * count) + b"]"
        head = (
            f"POST /api/feeds/{FEED}/points HTTP/1.1\r\nHost: {self.host}\r\n"
            f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        answer = await self.reader.readuntil(b"\r\n\r\n")
        status = int(answer.split(b" ", 2)[1])
        match = re.search(rb"(?i)content-length:\s*(\d+)", answer)
        payload = await self.reader.readexactly(int(match.group(1)) if match else 0)
        if re.search(rb"(?i)connection:\s*close", answer):
            await self.close()
        return status, json.loads(payload).get("accepted", 0) if status == 200 else 0

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


class Tally:
    """Answers of one phase, counted by when they arrived."""

    def __init__(self, window: tuple[float, float]) -> None:
        self.window = window
        self.accepted = 0
        self.requests = 0
        self.errors: dict[str, int] = {}

    def add(self, status: int, accepted: int) -> None:
        now = time.time()
        if self.window[0] <= now < self.window[1]:
            self.requests += 1
            self.accepted += accepted
        if status != 200:
            self.errors[str(status)] = self.errors.get(str(status), 0) + 1


async def maximal(host: str, port: int, args: argparse.Namespace, tally: Tally) -> None:
    end = tally.window[1]
    sent = [0]

    async def one_connection() -> None:
        ingest = Ingest(host, port)
        try:
            while time.time() < end and sent[0] < MAX_REQUESTS:
                sent[0] += 1
                tally.add(*await ingest.post(args.points))
        finally:
            await ingest.close()

    await asyncio.gather(*(one_connection() for _ in range(args.connections)))


async def paced(host: str, port: int, args: argparse.Namespace, tally: Tally) -> None:
    interval = args.paced_batch / args.paced_rate
    ingest = Ingest(host, port)
    start = time.time()
    try:
        for k in range(MAX_REQUESTS):
            due = start + k * interval
            if due >= tally.window[1]:
                break
            await asyncio.sleep(max(0.0, due - time.time()))
            tally.add(*await ingest.post(args.paced_batch))
    finally:
        await ingest.close()


def gauges(url: str) -> dict[str, float]:
    """The lag gauges of the server's /metrics: what the server itself sees."""
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    found = re.findall(r"^livefeed_(viewer_lag|hub_lag)_seconds (\S+)$", text, re.M)
    return {name: float(value) for name, value in found}


async def watch_gauges(url: str, window: tuple[float, float], peaks: dict[str, float]) -> None:
    """Keep the highest value of each lag gauge seen in *window*, every 0.25 s."""
    while time.time() < window[1]:
        if time.time() >= window[0]:
            for name, value in (await asyncio.to_thread(gauges, url)).items():
                peaks[name] = max(peaks.get(name, 0.0), value)
        await asyncio.sleep(0.25)


def create_feed(url: str) -> None:
    """One point, so that the viewers' hello already lists the feed."""
    request = urllib.request.Request(
        f"{url}/api/feeds/{FEED}/points",
        data=b'[{"values": {"v": 0}}]',
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def viewer_figures(viewer: dict, window: tuple[float, float]) -> dict:
    lags = sorted(lag for t, lag in viewer["samples"] if window[0] <= t < window[1])
    return {
        "id": viewer["id"],
        "samples": len(lags),
        "p50": percentile(lags, 50),
        "p99": percentile(lags, 99),
        "max": lags[-1] if lags else float("nan"),
        "conflations": sum(window[0] <= t < window[1] for t in viewer["conflations"]),
        "gaps": sum(n for t, n in viewer["gaps"] if window[0] <= t < window[1]),
    }


def one_run(args: argparse.Namespace) -> dict:
    """A fresh server and viewers; both phases; the figures of each."""
    # Over 60 lines: one run's timeline read top to bottom (start, phases,
    # collect) with the try/finally that stops every child around all of it.
    cmd = [sys.executable, "-m", "dashboard", "--port", "0", "--symbols", "S0", "--rate", "1"]
    cmd += ["--ingest-token", TOKEN, "--log-level", "warning"]
    cmd += ["--max-connections-per-address", "0"]  # every viewer is 127.0.0.1
    phase_s = args.warmup + args.duration
    deadline = time.time() + START_TIMEOUT + 60 + 2 * phase_s + args.drain + 30
    children: list[subprocess.Popen] = []
    try:
        server = spawn(cmd)
        children.append(server)
        url = re.search(r"http://\S+", read_line(server, START_TIMEOUT)).group(0)
        host, port = url.removeprefix("http://").rsplit(":", 1)
        create_feed(url)
        viewers = []
        first = 0
        for share in split(args.viewers, args.viewer_procs):
            ws_url = url.replace("http://", "ws://", 1) + "/ws"
            v = [sys.executable, str(HERE / "_lagviewers.py"), "--url", ws_url]
            v += ["--viewers", str(share), "--first-id", str(first), "--deadline", str(deadline)]
            viewers.append(spawn(v, stdin=subprocess.PIPE))
            first += share
        children += viewers
        ready = sum(json.loads(read_line(v, 90))["ready"] for v in viewers)
        if ready != args.viewers:
            raise SystemExit(f"only {ready} of {args.viewers} viewers connected")
        windows: dict[str, tuple[float, float]] = {}
        figures: dict[str, dict] = {}
        for name, drive in (("maximal", maximal), ("paced", paced)):
            started = time.time()
            windows[name] = (started + args.warmup, started + phase_s)
            tally = Tally(windows[name])
            cpu = [0.0]
            peaks: dict[str, float] = {}

            async def phase(drive=drive, tally=tally, cpu=cpu, peaks=peaks) -> None:
                loader = asyncio.ensure_future(drive(host, int(port), args, tally))
                watcher = asyncio.ensure_future(watch_gauges(url, tally.window, peaks))
                await asyncio.sleep(max(0.0, tally.window[0] - time.time()))
                cpu[0] = -cpu_seconds(server.pid)
                await loader
                cpu[0] += cpu_seconds(server.pid)
                await watcher

            asyncio.run(phase())
            window = tally.window[1] - tally.window[0]
            figures[name] = {
                "accepted_points_per_s": tally.accepted / window,
                "requests": tally.requests,
                "errors": tally.errors,
                "server_cpu_cores": cpu[0] / window,
                "server_viewer_lag_max_s": peaks.get("viewer_lag", math.nan),
                "server_hub_lag_max_s": peaks.get("hub_lag", math.nan),
                "load_average": os.getloadavg()[0],
            }
            time.sleep(args.drain)
        for v in viewers:
            v.stdin.write("stop\n")
            v.stdin.flush()
        results = [v for p in viewers for v in json.loads(read_line(p, 60))["viewers"]]
    finally:
        stop(children)
    for name in PHASES:
        figures[name]["viewers"] = [viewer_figures(v, windows[name]) for v in results]
        figures[name]["closed_by_server"] = sum(v["closed"] is not None for v in results)
    return figures


def _median(values: list[float]) -> float:
    values = [v for v in values if v == v]
    return statistics.median(values) if values else float("nan")


def _cell(values: list[float], spec: str) -> str:
    text = (
        "n/a" if not values or _median(values) != _median(values) else f"{_median(values):{spec}}"
    )
    if len(values) > 1:
        text += f" [{min(values):{spec}}-{max(values):{spec}}]"
    return text


def print_report(runs: list[dict], args: argparse.Namespace) -> None:
    print(
        f"\n{args.viewers} viewers; maximal: {args.connections} connections x {args.points:,} "
        f"points per POST; paced: {args.paced_rate:,.0f} points/s in POSTs of "
        f"{args.paced_batch}; window {args.duration:g} s after {args.warmup:g} s warm-up; "
        f"{machine()}"
    )
    print(f"median of {len(runs)} run(s)" + (" [min-max]" if len(runs) > 1 else ""))
    for name in PHASES:
        phases = [run[name] for run in runs]
        print(f"\n== {name} ==")
        print(f"accepted points/s: {_cell([p['accepted_points_per_s'] for p in phases], ',.0f')}")
        print(f"server CPU (cores): {_cell([p['server_cpu_cores'] for p in phases], '.2f')}")
        print(f"requests in window: {_cell([p['requests'] for p in phases], '.0f')}")
        for key, label in (
            ("server_viewer_lag_max_s", "server's worst viewer lag, peak (s)"),
            ("server_hub_lag_max_s", "server's hub lag, peak (s)"),
            ("load_average", "machine load average (1 min) at the end"),
        ):
            print(f"{label}: {_cell([p[key] for p in phases], '.2f')}")
        worst = [max((v["p99"] for v in p["viewers"]), default=math.nan) for p in phases]
        print(f"worst viewer lag p99 (ms): {_cell(worst, ',.0f')}")
        worst_max = [max((v["max"] for v in p["viewers"]), default=math.nan) for p in phases]
        print(f"worst viewer lag max (ms): {_cell(worst_max, ',.0f')}")
        print(
            f"conflations (all viewers): {_cell([_total(p, 'conflations') for p in phases], '.0f')}"
        )
        print(f"gaps outside conflations: {_cell([_total(p, 'gaps') for p in phases], '.0f')}")
        print(
            f"errors: {json.dumps([p['errors'] for p in phases])}; viewers closed by the "
            f"server: {[p['closed_by_server'] for p in phases]}"
        )
        print(
            f"{'viewer':>6}  {'lag p50 (ms)':>22}  {'lag p99 (ms)':>22}  {'lag max (ms)':>22}"
            f"  {'conflations':>14}  {'gaps':>10}"
        )
        for i in range(args.viewers):
            rows = [p["viewers"][i] for p in phases]
            cells = [_cell([r[k] for r in rows], ",.0f") for k in ("p50", "p99", "max")]
            cells += [_cell([r["conflations"] for r in rows], ".0f")]
            print(
                f"{i:>6}  "
                + "  ".join(f"{c:>22}" for c in cells)
                + f"  {_cell([r['gaps'] for r in rows], '.0f'):>10}"
            )


def _total(phase: dict, key: str) -> float:
    return sum(v[key] for v in phase["viewers"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--viewers", type=int, default=20)
    parser.add_argument("--points", type=int, default=10_000, help="points per maximal POST")
    parser.add_argument("--connections", type=int, default=2, help="maximal: concurrent POSTers")
    parser.add_argument("--paced-rate", type=float, default=10_000.0, help="paced: points/s")
    parser.add_argument("--paced-batch", type=int, default=200, help="paced: points per POST")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per phase")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before each window")
    parser.add_argument("--drain", type=float, default=3.0, help="pause between the phases")
    parser.add_argument("--runs", type=int, default=3, help="repeat; figures are medians")
    parser.add_argument("--viewer-procs", type=int, default=2, help="viewer processes")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    args = parser.parse_args()
    counts = (args.viewers, args.points, args.connections, args.paced_batch, args.runs)
    if min(counts) < 1 or args.paced_rate <= 0 or args.duration <= 0 or args.warmup < 0:
        parser.error("counts, rates and the duration must be positive")
    args.viewer_procs = max(1, min(args.viewer_procs, args.viewers))
    runs = []
    for index in range(args.runs):
        runs.append(one_run(args))
        print(f"run {index + 1}/{args.runs} done", file=sys.stderr, flush=True)
    print_report(runs, args)
    if args.json:
        print(json.dumps({"args": vars(args), "runs": runs}))


if __name__ == "__main__":
    main()
