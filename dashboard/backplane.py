"""Where points are numbered and shared between dashboard instances.

The contract (:class:`Backplane`), which the in-memory backplane here and a
Redis Streams backplane (several instances acting as one) both implement:

- **Numbering.** ``publish(feed, values, ts, gap)`` gives the point its
  feed's next ``seq`` and returns where it landed, a :class:`Position`
  (``seq``, ``epoch``). Within one epoch each feed's seqs are 1, 2, 3, ...
  with no gap and no repeat, however many publishers (tasks, processes,
  instances) there are. ``epoch`` names that run of numbers: a viewer's
  resume (``seq`` under ``epoch``) is only honoured under the same epoch, so
  the epoch must change whenever the numbering starts again.
- **Delivery.** ``points()`` yields every published point (from every
  instance), each feed's in seq order, to the one hub of this process. A
  point is yielded once; the hub keeps the history viewers catch up from.
- **Back-pressure.** ``publish`` may wait while the hub is behind, which
  slows producers instead of growing memory (this hop is internal; slow
  *viewers* are the hub's business).
- **Continuing a kept run.** ``restore(kept)``, called at most once, before
  ``connect()`` and before any ``publish``: number on under the kept epoch,
  each feed after its last kept seq, so viewers resume across a restart with
  a replay of what they missed (dashboard/store.py keeps the history). When
  the kept run did not end cleanly (``kept.complete`` false: points may have
  been sent that were not kept) each kept feed's next point is marked
  ``gap``: the line is never drawn as joined across points that are lost. A
  backplane that cannot continue the kept numbering (a shared one already
  running under another epoch) raises ``BackplaneError`` saying so.
- **Batches.** ``publish_many(feed, points)`` numbers a batch of one feed's
  points all or nothing: contiguous seqs, or an error and nothing written.
- **Shared feeds.** A feed created on one instance (over ingest) is
  ``announce``d; every instance's ``on_feed`` is called with its info before
  the first of its points is yielded there.
- **Being down.** ``up`` is False while a shared backplane cannot be reached;
  ``on_state(up)`` is called on each change. While down ``publish`` and
  ``publish_many`` raise ``BackplaneDown`` and write nothing.
- **A new epoch.** When a shared backplane lost its numbering (Redis lost its
  data) every instance switches to one new epoch: ``on_epoch(epoch)`` is
  called in order with the points (after every point of the old epoch,
  before any of the new), and ``epoch`` reads the new one from then on.
- **Lifecycle.** ``connect()`` before the first ``points()`` (raising
  ``BackplaneUnavailable``, naming where, when it cannot be reached at
  start); then ``backlog()``: what a shared backplane already held (each
  feed's last points, in seq order) for the hub's rings, before any point of
  ``points()``; ``disconnect()`` once the hub has stopped reading.

:class:`MemoryBackplane` serves one process and doubles as the test fake.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

from dashboard.points import now_ms
from dashboard.protocol import Point
from feeds.base import FeedInfo

#: One point to publish: its values and its ts (None: now).
Pending = tuple[Mapping[str, Any], int | None]


class Position(NamedTuple):
    """Where a published point landed: its feed's ``seq`` under ``epoch``."""

    seq: int
    epoch: str


class KeptRun(Protocol):
    """What a history kept across a restart says about its numbering
    (dashboard/store.py's ``StoredHistory`` is one)."""

    @property
    def epoch(self) -> str:
        """The epoch its points were numbered under."""

    @property
    def last_seqs(self) -> Mapping[str, int]:
        """Each kept feed's last seq."""

    @property
    def complete(self) -> bool:
        """Every point that run sent was kept: new points continue the kept ones."""


class BackplaneError(Exception):
    """The backplane cannot be used as asked; the message says why."""


class BackplaneUnavailable(BackplaneError):
    """The shared backplane cannot be reached at start; the message names where."""


class BackplaneDown(BackplaneError):
    """The shared backplane is unreachable now: nothing was written; try again
    after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _ignore(*args: object) -> None:
    pass


class Backplane(Protocol):
    """Numbers points and delivers them to this process's hub (see the module's docstring)."""

    @property
    def epoch(self) -> str:
        """Names this backplane's run of sequence numbers; changes when they restart."""

    @property
    def up(self) -> bool:
        """False while a shared backplane cannot be reached."""

    #: True when ``publish`` waits for a round trip to another process:
    #: producers then queue their points and send them in batches.
    remote: bool

    #: Called with ``up`` whenever it changes (set by the hub's runner).
    on_state: Callable[[bool], None]
    #: Called with a feed created on another instance, before its first point.
    on_feed: Callable[[FeedInfo], None]
    #: Called with the new epoch when the numbering started again.
    on_epoch: Callable[[str], None]

    def restore(self, kept: KeptRun) -> None:
        """Number on from *kept*: its epoch, each feed after its last seq."""

    async def connect(self) -> None: ...

    async def disconnect(self) -> None: ...

    def backlog(self) -> list[Point]:
        """Points held before ``connect()``, once (each feed's in seq order)."""

    async def publish(
        self, feed: str, values: Mapping[str, Any], ts: int | None = None, gap: bool = False
    ) -> Position:
        """Number one point of *feed*; ``ts`` defaults to now (ms since the
        epoch); ``gap``: its line breaks before it (see :class:`Point`)."""

    async def publish_many(
        self, feed: str, points: Sequence[Pending], gap: bool = False
    ) -> list[Position]:
        """Number a batch of *feed*'s points, all or nothing (contiguous seqs);
        ``gap``: the line breaks before the first."""

    async def announce(self, info: FeedInfo) -> None:
        """Tell the other instances of a feed created here."""

    def points(self) -> AsyncIterator[Point]:
        """Every published point, each feed's in seq order."""


def new_epoch() -> str:
    return secrets.token_hex(6)


class MemoryBackplane:
    """Numbers points in this process.

    The queue is bounded: when the hub falls behind, ``publish`` waits, which
    slows producers instead of growing memory. A run starts afresh (a new
    epoch, every feed from seq 1) unless ``restore`` continues a kept one.
    """

    remote = False  # publish returns at once (unless the hub is far behind)

    def __init__(self, max_pending: int = 100_000) -> None:
        self.epoch = new_epoch()
        self._seqs: dict[str, int] = {}
        # Feeds whose next point starts a new stretch whoever publishes it: a
        # history file not closed cleanly may lack points sent after its last.
        self._breaks: set[str] = set()
        self._queue: asyncio.Queue[Point] = asyncio.Queue(maxsize=max_pending)
        self._room = asyncio.Event()
        self.on_state: Callable[[bool], None] = _ignore
        self.on_feed: Callable[[FeedInfo], None] = _ignore
        self.on_epoch: Callable[[str], None] = _ignore

    @property
    def up(self) -> bool:
        return True  # nothing to reach: this process is the backplane

    def restore(self, kept: KeptRun) -> None:
        if self._seqs:
            # Numbers already handed out under this epoch would be handed out again.
            raise BackplaneError("restore() comes before the first publish()")
        self.epoch = kept.epoch
        self._seqs = dict(kept.last_seqs)
        self._breaks = set() if kept.complete else set(kept.last_seqs)

    async def connect(self) -> None:
        pass

    async def disconnect(self) -> None:
        pass

    def backlog(self) -> list[Point]:
        return []  # one process: nothing was published before it started

    async def publish(
        self, feed: str, values: Mapping[str, Any], ts: int | None = None, gap: bool = False
    ) -> Position:
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
        return Position(seq, self.epoch)

    async def publish_many(
        self, feed: str, points: Sequence[Pending], gap: bool = False
    ) -> list[Position]:
        # One publish after another with no other publisher of this feed in
        # between is contiguous here: publish only awaits before numbering,
        # and callers hold the feed's lock (dashboard/web/ingest.py).
        positions = []
        for values, ts in points:
            positions.append(await self.publish(feed, values, ts, gap))
            gap = False
        return positions

    async def announce(self, info: FeedInfo) -> None:
        pass  # one process: its hub already has the feed

    async def points(self) -> AsyncIterator[Point]:
        while True:
            point = await self._queue.get()
            self._room.set()
            yield point
