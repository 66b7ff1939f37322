"""Viewer processes for benchmarks/ingest_lag.py (not meant to be run by hand).

    python benchmarks/_lagviewers.py --url ws://127.0.0.1:PORT/ws --viewers K
                                     --first-id I --deadline EPOCH_S

Opens K viewers (``websockets``, no compression, a queue of one message,
orjson parsing), prints
``{"ready": n}`` once they are connected, then reads until a line on stdin
(or the deadline) and prints one JSON line: for each viewer its ``id``,
``samples`` ([receive time s, lag ms] for every ``SAMPLE_EVERY``-th point of
a frame and its last one: lag is receive time minus the point's ``ts``),
``conflations`` (receive times of batches marked conflated), ``gaps``
([receive time, missing seqs] where a feed's seq jumps outside a conflated
batch) and ``closed`` (the close code if the server closed it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import threading
import time

import orjson
import websockets
from websockets.asyncio.client import connect

SAMPLE_EVERY = 100


class Viewer:
    def __init__(self, ident: int) -> None:
        self.ident = ident
        self.samples: list[tuple[float, float]] = []
        self.conflations: list[float] = []
        self.gaps: list[tuple[float, int]] = []
        self.closed: int | None = None
        self.last: dict[str, int] = {}

    def take(self, message: dict, now: float) -> None:
        kind = message.get("type")
        if kind not in ("batch", "snapshot", "replay"):
            return
        points = message["points"]
        conflated = bool(message.get("conflated"))
        if conflated:
            self.conflations.append(now)
        last = self.last
        for point in points:
            feed, seq = point["feed"], point["seq"]
            previous = last.get(feed)
            if kind == "batch" and not conflated and previous is not None and seq > previous + 1:
                self.gaps.append((now, seq - previous - 1))
            last[feed] = seq
        if kind == "snapshot":
            return  # history: its age is not lag
        now_ms = now * 1000.0
        for point in points[SAMPLE_EVERY - 1 :: SAMPLE_EVERY]:
            self.samples.append((now, now_ms - point["ts"]))
        if points and len(points) % SAMPLE_EVERY:
            self.samples.append((now, now_ms - points[-1]["ts"]))

    def result(self) -> dict:
        return {
            "id": self.ident,
            "samples": [[round(t, 4), round(lag, 1)] for t, lag in self.samples],
            "conflations": self.conflations,
            "gaps": self.gaps,
            "closed": self.closed,
        }


async def run_viewer(url: str, viewer: Viewer, connected: list[int]) -> None:
    loads = orjson.loads
    async with connect(
        url,
        compression=None,
        max_size=None,
        ping_interval=None,
        open_timeout=30,
        # The library reads the socket only when the last message was taken:
        # a viewer behind is seen by the server (TCP), not hidden in a queue
        # of up to 16 messages here (9 MB of 10,000-point batches).
        max_queue=1,
    ) as ws:
        connected.append(viewer.ident)
        try:
            async for data in ws:
                viewer.take(loads(data), time.time())
        except websockets.ConnectionClosed as exc:
            viewer.closed = exc.rcvd.code if exc.rcvd else -1
        else:
            viewer.closed = ws.close_code


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--viewers", type=int, required=True)
    parser.add_argument("--first-id", type=int, default=0)
    parser.add_argument("--deadline", type=float, required=True, help="epoch s: hard stop")
    args = parser.parse_args()
    viewers = [Viewer(args.first_id + i) for i in range(args.viewers)]
    connected: list[int] = []
    tasks = [asyncio.create_task(run_viewer(args.url, v, connected)) for v in viewers]
    loop = asyncio.get_running_loop()
    ready_by = loop.time() + 60
    while len(connected) < len(viewers) and loop.time() < ready_by:
        if any(t.done() for t in tasks):
            break
        await asyncio.sleep(0.02)
    print(json.dumps({"ready": len(connected)}), flush=True)
    stop = asyncio.Event()

    def wait_for_line() -> None:  # a daemon thread: never holds up the exit
        sys.stdin.readline()
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=wait_for_line, daemon=True).start()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(max(0.0, args.deadline - time.time())):
            await stop.wait()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    sys.stdout.write(json.dumps({"viewers": [v.result() for v in viewers]}) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main())
