"""Where points are sequenced and shared between dashboard instances.

The hub publishes what producers make and consumes the sequenced points. The
in-memory backplane serves one process and doubles as the test fake; a Redis
Streams backplane (several instances acting as one) implements the same four
methods.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any, Protocol

from dashboard.points import now_ms
from dashboard.protocol import Point


class Backplane(Protocol):
    #: Names this backplane's run of sequence numbers; changes when they restart.
    epoch: str

    async def connect(self) -> None: ...

    async def disconnect(self) -> None: ...

    async def publish(
        self, feed: str, values: Mapping[str, Any], ts: int | None = None, gap: bool = False
    ) -> None:
        """Sequence one point of *feed*; ``ts`` defaults to now (ms since the
        epoch); ``gap``: its line breaks before it (see :class:`Point`)."""

    def points(self) -> AsyncIterator[Point]:
        """Every published point, in publish order, each with its feed's next ``seq``."""


def new_epoch() -> str:
    return secrets.token_hex(6)


class MemoryBackplane:
    """Sequences points in this process.

    The queue is bounded: when the hub falls behind, ``publish`` waits, which
    slows producers instead of growing memory (back-pressure is the policy for
    this internal hop; slow *clients* are handled by the hub).

    ``epoch`` and ``seqs`` (each feed's last seq) continue a run whose history
    was kept (dashboard/store.py); by default a run starts afresh.
    """

    def __init__(
        self,
        max_pending: int = 100_000,
        *,
        epoch: str | None = None,
        seqs: Mapping[str, int] | None = None,
        breaks: Iterable[str] = (),
    ) -> None:
        self.epoch = epoch or new_epoch()
        self._seqs: dict[str, int] = dict(seqs or {})
        # Feeds whose next point starts a new stretch whoever publishes it: a
        # history file not closed cleanly may lack points sent after its last.
        self._breaks = set(breaks)
        self._queue: asyncio.Queue[Point] = asyncio.Queue(maxsize=max_pending)
        self._room = asyncio.Event()

    async def connect(self) -> None:
        pass

    async def disconnect(self) -> None:
        pass

    async def publish(
        self, feed: str, values: Mapping[str, Any], ts: int | None = None, gap: bool = False
    ) -> None:
        if ts is None:
            ts = now_ms()
        while self._queue.full():
            self._room.clear()
            await self._room.wait()
        # Assign seq and enqueue with no await in between, so points of a feed
        # leave in seq order even with several concurrent publishers.
        seq = self._seqs.get(feed, 0) + 1
        self._seqs[feed] = seq
        if self._breaks and feed in self._breaks:
            self._breaks.discard(feed)
            gap = True
        self._queue.put_nowait(Point(feed, seq, ts, values, gap))

    async def points(self) -> AsyncIterator[Point]:
        while True:
            point = await self._queue.get()
            self._room.set()
            yield point
