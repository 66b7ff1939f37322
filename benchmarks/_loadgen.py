"""One load-generator process for benchmarks/fanout.py (not meant to be run by hand).

    python benchmarks/_loadgen.py --url ws://127.0.0.1:PORT/ws --clients K [--no-compression]
                                  [--slow M] [--connect-timeout S]

Opens K WebSocket clients in one asyncio loop, prints ``{"ready": ...}`` once
they are connected (or have failed, or ``--connect-timeout`` s passed), then
reads one JSON line on stdin: ``{"t0": <epoch s>, "t1": <epoch s>, "grace":
<s>}``, the measured window. Clients read
until ``t1`` and the process prints one JSON line of results and exits.

Frames are parsed with orjson; only ``type`` and each point's ``feed``,
``seq`` and ``ts`` are looked at. A frame with no ``type`` is taken as one
bare point (the naive baseline sends those). Counted in the window (by
receive time): frames, bytes (decompressed payload), points; latency is
receive time minus the point's ``ts`` for one point in ``SAMPLE_EVERY``.
Gaps (seq jumps, per feed per client) are counted over the whole run.
By production time: points whose ``ts`` is in ``[t0, t1 - grace)``, per
client (the fewest one client got) and the lowest and highest seq of those
per feed (the parent merges these into what was made).

``--slow M`` adds M clients that connect and then never read: their receive
buffer is set small (``SLOW_RCVBUF``) and the library's queue holds one
message, so the server soon meets a full TCP window, as with a stuck tab.
They are not counted in any figure but ``slow_connected``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import time
from urllib.parse import urlsplit

import orjson
import websockets
from websockets.asyncio.client import connect

SAMPLE_EVERY = 10
CONNECT_CONCURRENCY = 50
SLOW_RCVBUF = 16 * 1024


class Stats:
    def __init__(self) -> None:
        self.t0 = float("inf")  # no window until the parent sends one
        self.t1 = float("inf")
        self.frames = 0
        self.bytes = 0
        self.points = 0
        self.gaps = 0
        self.dups = 0
        self.latencies: list[float] = []
        self.connected = 0
        self.connect_errors = 0
        self.closed_early: dict[str, int] = {}
        self.other_errors = 0
        self.sample_counter = 0
        self.slow_connected = 0
        #: Points each reading client got in the window (its own count, for the worst one).
        self.per_client: list[list[int]] = []
        #: The window by production time, in ms (points made before t1 - grace).
        self.ts0 = float("inf")
        self.ts1 = float("inf")
        self.per_client_by_ts: list[list[int]] = []
        self.ts_seqs: dict[str, list[int]] = {}  # feed: [lowest, highest] seq in the ts window


async def client(url: str, compression: str | None, stats: Stats, gate: asyncio.Semaphore) -> None:
    # Long: the receive loop is the generators' hot path; kept in one piece
    # so each frame costs no extra calls.
    last: dict[str, int] = {}
    try:
        async with gate:
            ws = await connect(
                url,
                compression=compression,
                max_size=None,  # snapshots can be large
                ping_interval=None,  # browsers do not ping
                open_timeout=30,
                close_timeout=1,
            )
    except Exception as exc:  # counted and reported
        stats.connect_errors += 1
        print(f"connect failed: {exc!r}", file=sys.stderr)
        return
    stats.connected += 1
    mine = [0]
    stats.per_client.append(mine)
    mine_by_ts = [0]
    stats.per_client_by_ts.append(mine_by_ts)
    ts_seqs = stats.ts_seqs
    loads = orjson.loads
    try:
        async for data in ws:
            now = time.time()
            message = loads(data)
            kind = message.get("type")
            if kind is None:
                points = (message,)  # naive baseline: one bare point per frame
            elif kind in ("batch", "snapshot", "replay"):
                points = message["points"]
            else:
                continue
            in_window = stats.t0 <= now < stats.t1 and kind != "snapshot"
            for p in points:
                feed = p["feed"]
                seq = p["seq"]
                prev = last.get(feed)
                if prev is not None:
                    if seq > prev + 1:
                        stats.gaps += seq - prev - 1
                    elif seq <= prev:
                        stats.dups += 1
                last[feed] = seq
                if stats.ts0 <= p["ts"] < stats.ts1:
                    mine_by_ts[0] += 1
                    span = ts_seqs.get(feed)
                    if span is None:
                        ts_seqs[feed] = [seq, seq]
                    elif seq < span[0]:
                        span[0] = seq
                    elif seq > span[1]:
                        span[1] = seq
            if in_window:
                stats.frames += 1
                stats.bytes += len(data)
                stats.points += len(points)
                mine[0] += len(points)
                now_ms = now * 1000.0
                for p in points:
                    stats.sample_counter += 1
                    if stats.sample_counter % SAMPLE_EVERY == 0:
                        stats.latencies.append(now_ms - p["ts"])
            if now >= stats.t1:
                break
        else:
            code = str(ws.close_code)
            stats.closed_early[code] = stats.closed_early.get(code, 0) + 1
    except websockets.ConnectionClosed as exc:
        code = str(exc.rcvd.code if exc.rcvd else "no-close-frame")
        stats.closed_early[code] = stats.closed_early.get(code, 0) + 1
    except Exception as exc:  # counted and reported
        stats.other_errors += 1
        print(f"client error: {exc!r}", file=sys.stderr)
    finally:
        ws.transport.abort()  # the run is over: no closing handshake under load


async def slow_client(url: str, stats: Stats, gate: asyncio.Semaphore, hold: asyncio.Event) -> None:
    """Connect, then never read until *hold* is set."""
    parts = urlsplit(url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SLOW_RCVBUF)
    try:
        async with gate:
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, (parts.hostname, parts.port))
            ws = await connect(url, sock=sock, max_queue=1, ping_interval=None, open_timeout=30)
    except Exception as exc:  # counted and reported
        sock.close()
        stats.connect_errors += 1
        print(f"slow connect failed: {exc!r}", file=sys.stderr)
        return
    stats.slow_connected += 1
    try:
        await hold.wait()
    finally:
        ws.transport.abort()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--clients", type=int, required=True)
    parser.add_argument("--no-compression", action="store_true")
    parser.add_argument("--slow", type=int, default=0, help="extra clients that never read")
    parser.add_argument("--deadline", type=float, required=True, help="epoch s: hard stop")
    parser.add_argument("--connect-timeout", type=float, default=90.0, help="s to connect all")
    args = parser.parse_args()
    compression = None if args.no_compression else "deflate"
    # Long: the whole protocol with the parent (ready, window, results) in order.

    stats = Stats()
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    tasks = [
        asyncio.create_task(client(args.url, compression, stats, gate)) for _ in range(args.clients)
    ]
    hold = asyncio.Event()
    slow = [asyncio.create_task(slow_client(args.url, stats, gate, hold)) for _ in range(args.slow)]
    loop = asyncio.get_running_loop()
    ready_at = loop.time() + args.connect_timeout
    wanted = args.clients + args.slow
    while (
        stats.connected + stats.slow_connected + stats.connect_errors < wanted
        and loop.time() < ready_at
    ):
        await asyncio.sleep(0.05)
    ready = {"ready": stats.connected, "connect_errors": stats.connect_errors}
    print(json.dumps(ready), flush=True)

    line = await loop.run_in_executor(None, sys.stdin.readline)
    window = json.loads(line)
    stats.t0, stats.t1 = window["t0"], window["t1"]
    stats.ts0 = window["t0"] * 1000.0
    stats.ts1 = (window["t1"] - window.get("grace", 1.0)) * 1000.0
    await asyncio.sleep(max(0.0, stats.t0 - time.time()))
    cpu0 = time.process_time()
    remaining = min(stats.t1, args.deadline) - time.time()
    await asyncio.wait(tasks, timeout=max(0.0, remaining) + 1.0)
    cpu1 = time.process_time()
    hold.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, *slow, return_exceptions=True)
    result = {
        "clients": args.clients,
        "connected": stats.connected,
        "connect_errors": stats.connect_errors,
        "slow_connected": stats.slow_connected,
        "closed_early": stats.closed_early,
        "other_errors": stats.other_errors,
        "frames": stats.frames,
        "bytes": stats.bytes,
        "points": stats.points,
        "min_client_points": min((c[0] for c in stats.per_client), default=0),
        "min_client_points_by_ts": min((c[0] for c in stats.per_client_by_ts), default=0),
        "ts_window_seqs": stats.ts_seqs,
        "gaps": stats.gaps,
        "dups": stats.dups,
        "latencies_ms": stats.latencies,
        "cpu_s": cpu1 - cpu0,
    }
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main())
