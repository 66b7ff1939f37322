"""A recording viewer for benchmarks/_faults.py: one WebSocket client in a
thread of its own that keeps every point it is sent, with its receive time.

Only ``hello``, ``snapshot``, ``replay`` and ``batch`` are looked at. Each
kept point is ``(epoch, feed, seq, ts, values, gap, received)``; ``epoch`` is
the last one a ``hello`` or ``snapshot`` named, so numbering that starts
again under a new epoch is not taken for duplicates.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, NamedTuple

import orjson
import websockets
from websockets.asyncio.client import connect


class Seen(NamedTuple):
    epoch: str
    feed: str
    seq: int
    ts: int
    values: dict[str, Any]
    gap: bool
    received: float  # time.time()


class Viewer:
    def __init__(self, url: str) -> None:
        self.url = url
        self.points: list[Seen] = []
        self.epochs: list[str] = []
        self.connected = threading.Event()
        self.closed: str | None = None  # why the connection ended before stop(), if it did
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def start(self, timeout: float = 10.0) -> Viewer:
        self._thread.start()
        if not self.connected.wait(timeout):
            raise RuntimeError(f"viewer could not connect to {self.url} within {timeout:.0f} s")
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    async def _run(self) -> None:
        try:
            async with connect(self.url, max_size=None, ping_interval=None) as ws:
                while not self._stop.is_set():
                    try:
                        data = await asyncio.wait_for(ws.recv(), timeout=0.1)
                    except TimeoutError:
                        continue
                    self._take(orjson.loads(data), time.time())
        except websockets.ConnectionClosed as exc:
            self.closed = f"closed {exc.rcvd.code if exc.rcvd else 'without a close frame'}"
        except OSError as exc:
            self.closed = f"cannot connect: {exc}"

    def _take(self, message: dict[str, Any], now: float) -> None:
        kind = message.get("type")
        if kind in ("hello", "snapshot") and "epoch" in message:
            self.epochs.append(message["epoch"])
            self.connected.set()
        if kind not in ("snapshot", "replay", "batch"):
            return
        epoch = self.epochs[-1] if self.epochs else ""
        for p in message["points"]:
            self.points.append(
                Seen(epoch, p["feed"], p["seq"], p["ts"], p["values"], bool(p.get("gap")), now)
            )

    def of(self, feed: str) -> list[Seen]:
        return [p for p in list(self.points) if p.feed == feed]

    def wait_for(self, feed: str, predicate, timeout: float) -> Seen | None:
        """The first point of *feed* meeting *predicate*, waiting up to *timeout* s."""
        deadline = time.monotonic() + timeout
        checked = 0
        while True:
            points = self.points
            for p in points[checked:]:
                if p.feed == feed and predicate(p):
                    return p
            checked = len(points)
            if time.monotonic() > deadline or self.closed:
                return None
            time.sleep(0.01)  # polling what the viewer thread kept, within the deadline


def gaps_and_duplicates(points: list[Seen]) -> tuple[int, int]:
    """Missing and repeated seqs in one feed's points, per epoch, in arrival order."""
    gaps = dups = 0
    last: dict[str, int] = {}
    seen: set[tuple[str, int]] = set()
    for p in points:
        key = (p.epoch, p.seq)
        if key in seen:
            dups += 1
            continue
        seen.add(key)
        prev = last.get(p.epoch)
        if prev is not None and p.seq > prev + 1:
            gaps += p.seq - prev - 1
        last[p.epoch] = max(p.seq, prev or 0)
    return gaps, dups
