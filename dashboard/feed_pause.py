"""A producer's points kept while the backplane is down, and published when it is back.

When ``publish`` raises ``BackplaneDown`` (a shared backplane cannot be
reached) the feed goes on running and its points wait in a bounded buffer of
``PAUSE_BUFFER`` points per feed. Beyond that the *oldest* waiting point is
dropped and counted: when the backplane is back the chart gets the most
recent stretch, and the point after the hole is marked ``gap`` so its line
is not drawn across it. Points already published are never in the buffer.

While paused nothing is sent to the backplane: a drain task looks at its
``up`` every ``PAUSE_POLL`` seconds (and not before the ``retry_after`` the
refusal gave), then publishes the buffer in order; new points queue behind
it until it is empty, so the feed's order is kept.

The same buffer is a remote backplane's outbox (``send``): there a publish
waits for a round trip to Redis, and a producer awaiting it would fall
behind its own clock (a ticker paced at 10/s published 4/s at load A). So
the producer only queues its point, and the drain publishes what is queued
in batches (``publish_many``: one round trip for all of them), in order.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from dashboard.backplane import BackplaneDown

log = logging.getLogger(__name__)

#: Points of one feed kept while the backplane is down; older ones are dropped.
PAUSE_BUFFER = 1000
#: Seconds between looks at whether the backplane is up again.
PAUSE_POLL = 0.25
#: Points one publish of the drain carries at most.
DRAIN_BATCH = 500


class Held:
    """One point waiting to be published."""

    __slots__ = ("values", "ts", "gap")

    def __init__(self, values: Mapping[str, Any], ts: int, gap: bool) -> None:
        self.values = values
        self.ts = ts
        self.gap = gap


class PauseBuffer:
    """The waiting points of one feed, oldest first, at most *size* (pure)."""

    def __init__(self, size: int = PAUSE_BUFFER) -> None:
        if size < 1:
            raise ValueError(f"a pause buffer holds at least 1 point, not {size}")
        self.size = size
        self.points: deque[Held] = deque()

    def __len__(self) -> int:
        return len(self.points)

    def add(self, values: Mapping[str, Any], ts: int, gap: bool) -> int:
        """Keep a point; returns how many old ones were dropped for it (0 or 1)."""
        self.points.append(Held(values, ts, gap))
        return self._trim()

    def put_back(self, head: Held) -> int:
        """Return a point taken for publishing that was refused, first in
        line again; returns how many were dropped for it (0 or 1)."""
        self.points.appendleft(head)
        return self._trim()

    def _trim(self) -> int:
        if len(self.points) <= self.size:
            return 0
        self.points.popleft()
        self.points[0].gap = True  # its predecessor is lost: the line breaks
        return 1


#: Publishes a batch of points (only the first may have ``gap``), all or nothing.
Publish = Callable[[Sequence[Held]], Awaitable[object]]


def next_batch(points: deque[Held], limit: int = DRAIN_BATCH) -> list[Held]:
    """Take the oldest points up to the next one that starts a new stretch
    (a batch carries a break only before its first point), at most *limit*."""
    batch = [points.popleft()]
    while points and len(batch) < limit and not points[0].gap:
        batch.append(points.popleft())
    return batch


class FeedPause:
    """Holds one feed's points while the backplane refuses them, and drains them.

    *publish(points)* publishes a batch (raising ``BackplaneDown`` while
    down); *is_up()* tells whether trying is worth it; *on_published*,
    *on_dropped* (a count) and *on_resumed* let the owner count and show it.
    """

    def __init__(
        self,
        publish: Publish,
        is_up: Callable[[], bool],
        on_published: Callable[[Held], None],
        on_dropped: Callable[[int], None],
        on_resumed: Callable[[], None],
        size: int = PAUSE_BUFFER,
        poll: float = PAUSE_POLL,
    ) -> None:
        self.buffer = PauseBuffer(size)
        self._publish = publish
        self._is_up = is_up
        self._on_published = on_published
        self._on_dropped = on_dropped
        self._on_resumed = on_resumed
        self.poll = poll
        self._drain: asyncio.Task[None] | None = None
        #: Points ever handed to ``hold`` (the stall watch counts them as progress).
        self.held = 0
        #: The backplane refused (a pause) and the held points are not all out yet.
        self.refused = False

    @property
    def active(self) -> bool:
        """True while points wait to be published (a pause, or a queue to send)."""
        return self._drain is not None

    def hold(self, values: Mapping[str, Any], ts: int, gap: bool, retry_after: float = 0.0) -> None:
        """Keep a point the backplane refused (or would: the lease is unsure)
        for later, starting the drain if it is not running."""
        self.refused = True
        self._queue(values, ts, gap, max(retry_after, self.poll))

    def send(self, values: Mapping[str, Any], ts: int, gap: bool) -> None:
        """Queue a point for a remote backplane: the drain publishes it, with
        whatever else is queued, in one batch, after every point before it."""
        self._queue(values, ts, gap, 0.0)

    def _queue(self, values: Mapping[str, Any], ts: int, gap: bool, wait: float) -> None:
        self.held += 1
        if dropped := self.buffer.add(values, ts, gap):
            self._on_dropped(dropped)
        if self._drain is None:
            self._drain = asyncio.create_task(self._drain_when_up(wait), name="feed-pause")

    async def _drain_when_up(self, wait: float) -> None:
        if wait:
            await asyncio.sleep(wait)  # the refusal's own hint
        points = self.buffer.points
        while points:
            while not self._is_up():
                await asyncio.sleep(self.poll)  # a deadline poll of the state, no request
            # Out of the buffer while in flight: new points cannot drop them.
            batch = next_batch(points)
            try:
                await self._publish(batch)
            except BackplaneDown as exc:
                self.refused = True
                for head in reversed(batch):
                    if dropped := self.buffer.put_back(head):
                        self._on_dropped(dropped)
                await asyncio.sleep(max(exc.retry_after, self.poll))
                continue
            except asyncio.CancelledError:
                points.extendleft(reversed(batch))  # counted as lost by close()
                raise
            except Exception:
                # Not the backplane being down: these cannot go, the rest can.
                log.exception("%d points waiting for the backplane were not published", len(batch))
                self._on_dropped(len(batch))
                continue
            for held in batch:
                self._on_published(held)
        # No await between the buffer found empty and this: the next point
        # is published directly, after everything held.
        self._drain = None
        if self.refused:
            self.refused = False
            self._on_resumed()

    async def close(self) -> int:
        """Stop draining (the run ends); returns the held points never published."""
        drain, self._drain = self._drain, None
        if drain is not None:
            drain.cancel()
            await asyncio.gather(drain, return_exceptions=True)
        lost = len(self.buffer)
        self.buffer.points.clear()
        return lost
