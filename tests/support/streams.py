"""What viewers received, as points: for comparing what several viewers (of
several instances) saw, and checking a feed's seqs run without gap or repeat."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterable

import websockets

from tests.support.clients import Message

#: One point as a viewer saw it: (feed, seq, ts, values as JSON text).
Seen = tuple[str, int, int, str]

POINT_MESSAGES = ("snapshot", "replay", "batch")


def seen(messages: Iterable[Message], feed: str | None = None) -> list[Seen]:
    """The points in *messages* (of *feed*, or all), in the order received."""
    return [
        (p["feed"], p["seq"], p["ts"], json.dumps(p["values"], sort_keys=True))
        for m in messages
        if m["type"] in POINT_MESSAGES
        for p in m["points"]
        if feed is None or p["feed"] == feed
    ]


def last_seqs(messages: Iterable[Message]) -> dict[str, int]:
    """Each feed's highest seq in *messages*."""
    last: dict[str, int] = {}
    for feed, seq, _, _ in seen(messages):
        last[feed] = max(seq, last.get(feed, 0))
    return last


def assert_runs_on(points: list[Seen], feed: str) -> list[int]:
    """*feed*'s seqs in *points* go up by exactly one each: no gap, no repeat.
    Returns them."""
    seqs = [seq for f, seq, _, _ in points if f == feed]
    assert seqs, f"no points of {feed}"
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), f"{feed}: {seqs}"
    return seqs


async def read_until(
    ws: websockets.ClientConnection, seqs: dict[str, int], timeout: float = 10.0
) -> list[Message]:
    """Messages from *ws* until every feed of *seqs* reached (at least) its seq."""
    got: list[Message] = []
    async with asyncio.timeout(timeout):
        while any(last_seqs(got).get(f, 0) < s for f, s in seqs.items()):
            got.append(json.loads(await ws.recv()))
    return got


class Recorder:
    """Reads a viewer's WebSocket in a task of its own, so it never falls
    behind (and is never conflated) while the test does other things."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws
        self.messages: list[Message] = []
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in self.ws:
                self.messages.append(json.loads(raw))

    async def close(self) -> None:
        await self.ws.close()
        await self._task
