"""Push ingest by format: InfluxDB line protocol against the JSON ingest, same run.

    python benchmarks/ingest_formats.py [--points 5000] [--connections 1]
                                        [--duration 5] [--warmup 1] [--runs 3] [--json]

One run: the dashboard as its own process on 127.0.0.1 (``python -m dashboard
--port 0`` with ingest on, one ticker at 1 point/s besides, no viewers), then
one phase per format, in alternating order from run to run (line protocol
first in odd runs) so that neither always meets a warmer or a fuller server:

- ``line``: ``POST /api/v2/write?bucket=LP&precision=ms`` with
  ``--points`` lines ``bench,host=h1 a=1.5,b=42i <ts>``, i.e. two series;
- ``json``: ``POST /api/feeds/JS/points`` with as many points
  ``{"ts": <ts>, "values": {"a": 1.5, "b": 42}}``, the same two values.

``--connections`` keep-alive HTTP/1.1 connections each post the next body as
soon as the last is answered, for warmup + duration seconds. Figures per phase,
over the window after the warm-up:

- accepted points/s: points in 2xx answers received in the window / window;
- server CPU-seconds per million points: the server process's user + system
  CPU over the window (/proc) / points accepted in it x 1e6.

``--runs N`` repeats with a fresh server; each figure is the median over runs
([min-max]), and the line/json ratio is taken per run, then its median.
Bounded: every phase has a time and a request cap (``MAX_REQUESTS``), the
server is stopped in ``finally`` and dies with this script. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import time

from _measure import START_TIMEOUT, cpu_seconds, read_line, spawn, stop
from _report import machine

TOKEN = "ingest-formats-benchmark"
FORMATS = ("line", "json")
MAX_REQUESTS = 100_000  # per phase: a bound whatever the server does


def body(fmt: str, count: int) -> tuple[str, dict[str, str], bytes]:
    """(path, headers, body) of one request of *count* points stamped now."""
    ts = time.time_ns() // 1_000_000
    if fmt == "line":
        line = b"bench,host=h1 a=1.5,b=42i %d\n" % ts
        return (
            "/api/v2/write?bucket=LP&precision=ms",
            {"Authorization": f"Token {TOKEN}"},
            line * count,
        )
    point = b'{"ts":%d,"values":{"a":1.5,"b":42}}' % ts
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    return "/api/feeds/JS/points", headers, b"[" + b",".join([point] * count) + b"]"


class Poster:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, headers: dict[str, str], payload: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = [f"POST {path} HTTP/1.1", f"Host: {self.host}", f"Content-Length: {len(payload)}"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        self.writer.write("\r\n".join(head).encode() + b"\r\n\r\n" + payload)
        answer = await self.reader.readuntil(b"\r\n\r\n")
        status = int(answer.split(b" ", 2)[1])
        match = re.search(rb"(?i)content-length:\s*(\d+)", answer)
        await self.reader.readexactly(int(match.group(1)) if match else 0)
        if re.search(rb"(?i)connection:\s*close", answer):
            await self.close()
        return status

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


async def phase(fmt: str, host: str, port: int, pid: int, args: argparse.Namespace) -> dict:
    """Post *fmt* bodies for warmup + duration s; the window's figures."""
    start = time.time()
    window = (start + args.warmup, start + args.warmup + args.duration)
    accepted, errors, sent = 0, {}, [0]
    cpu = [0.0]

    async def one_connection() -> None:
        nonlocal accepted
        poster = Poster(host, port)
        try:
            while time.time() < window[1] and sent[0] < MAX_REQUESTS:
                sent[0] += 1
                status = await poster.post(*body(fmt, args.points))
                if window[0] <= time.time() < window[1] and 200 <= status < 300:
                    accepted += args.points
                if not 200 <= status < 300:
                    errors[str(status)] = errors.get(str(status), 0) + 1
        finally:
            await poster.close()

    async def cpu_over_window() -> None:
        await asyncio.sleep(max(0.0, window[0] - time.time()))
        cpu[0] = -cpu_seconds(pid)
        await asyncio.sleep(max(0.0, window[1] - time.time()))
        cpu[0] += cpu_seconds(pid)

    await asyncio.gather(cpu_over_window(), *(one_connection() for _ in range(args.connections)))
    return {
        "accepted_points_per_s": accepted / args.duration,
        "cpu_s_per_million_points": cpu[0] / accepted * 1e6 if accepted else float("nan"),
        "errors": errors,
    }


def one_run(index: int, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, "-m", "dashboard", "--port", "0", "--symbols", "S0", "--rate", "1"]
    cmd += ["--ingest-token", TOKEN, "--log-level", "warning"]
    server = spawn(cmd)
    try:
        url = re.search(r"http://\S+", read_line(server, START_TIMEOUT)).group(0)
        host, port = url.removeprefix("http://").rsplit(":", 1)
        order = FORMATS if index % 2 == 0 else FORMATS[::-1]
        figures = {fmt: asyncio.run(phase(fmt, host, int(port), server.pid, args)) for fmt in order}
    finally:
        stop([server])
    figures["load_average"] = os.getloadavg()[0]
    return figures


def _median(values: list[float]) -> float:
    values = [v for v in values if v == v]
    return statistics.median(values) if values else float("nan")


def _cell(values: list[float], spec: str) -> str:
    text = f"{_median(values):{spec}}"
    return text + (f" [{min(values):{spec}}-{max(values):{spec}}]" if len(values) > 1 else "")


def report(runs: list[dict], args: argparse.Namespace) -> dict:
    """Print medians and same-run ratios; return them."""
    print(
        f"\n{args.connections} connection(s) x {args.points:,} points per POST, two values "
        f"each; window {args.duration:g} s after {args.warmup:g} s; {machine()}"
    )
    print(f"median of {len(runs)} run(s)" + (" [min-max]" if len(runs) > 1 else ""))
    summary: dict = {}
    for key, label, spec in (
        ("accepted_points_per_s", "accepted points/s", ",.0f"),
        ("cpu_s_per_million_points", "server CPU-s per million points", ".2f"),
    ):
        cells = {fmt: [run[fmt][key] for run in runs] for fmt in FORMATS}
        ratios = [run["line"][key] / run["json"][key] for run in runs]
        print(f"{label:>32}: line {_cell(cells['line'], spec)}   json {_cell(cells['json'], spec)}")
        print(f"{'line / json (same run)':>32}: {_cell(ratios, '.2f')}")
        summary[key] = {fmt: _median(v) for fmt, v in cells.items()} | {"ratio": _median(ratios)}
    print(f"errors: {json.dumps([{fmt: run[fmt]['errors'] for fmt in FORMATS} for run in runs])}")
    print(f"load average (1 min) after each run: {[round(r['load_average'], 2) for r in runs]}")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=5_000, help="points per POST")
    parser.add_argument("--connections", type=int, default=1, help="concurrent POSTers")
    parser.add_argument("--duration", type=float, default=5.0, help="measured window (s)")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args()
    if args.points < 1 or args.connections < 1 or args.duration <= 0 or args.runs < 1:
        parser.error("--points, --connections, --runs must be at least 1 and --duration above 0")
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    runs = [one_run(i, args) for i in range(args.runs)]
    summary = report(runs, args)
    if args.json:
        print(json.dumps({"runs": runs, "summary": summary}))


if __name__ == "__main__":
    main()
