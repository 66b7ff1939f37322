"""Runs a hub on the event loop: the only part of the fan-out that awaits.

The hub (dashboard/hub.py) decides everything synchronously; this module
gives it time and points:

- ``publish`` checks a point against its feed (the hub's rule) and hands it
  to the backplane, which numbers it (and may make the caller wait: back-
  pressure);
- a pump task feeds every numbered point from the backplane into
  ``hub.take``;
- a flush task calls ``hub.flush`` when the hub says there is something to
  do, at the time dashboard/flush_timing.py gives;
- ``wait_no_clients`` lets a stopping server wait until every viewer has left;
- ``start``/``stop`` connect the backplane and own those tasks (``start``
  fills the rings with the backplane's backlog first); ``stop`` flushes once
  more, so nothing taken is left unsent;
- the backplane's news reach the hub: up or down (``hub.set_backplane``), a
  feed created on another instance (added as a pushed feed) or grown there
  (grown here: ``announce.merged``), a new epoch
  (the rings start again and viewers are closed with 1001: they come back,
  resume under the old epoch and get a full snapshot under the new one).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Mapping
from typing import Any

from dashboard.announce import merged
from dashboard.backplane import Position
from dashboard.flush_timing import flush_due
from dashboard.history import FeedHistory
from dashboard.hub import Hub
from dashboard.logs import log_event
from dashboard.protocol import CloseCode
from feeds.base import FeedInfo

# The hub's logger: a failed flush is logged as the hub's, as it always was.
log = logging.getLogger("dashboard.hub")


class HubRunner:
    """Drives *hub* and its backplane (one runner per hub)."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._due = asyncio.Event()  # set when a flush has something to do
        # Set: the hub may have been given work (feeds, points) before this
        # runner was made; an idle first flush costs nothing.
        self._due.set()
        self._no_clients = asyncio.Event()
        self._viewers_changed(len(hub.clients))
        hub.wake = self._due.set
        hub.on_viewers = self._viewers_changed
        backplane = hub.backplane
        backplane.on_state = hub.set_backplane
        backplane.on_feed = self._remote_feed
        backplane.on_epoch = self._new_epoch
        self._tasks: list[asyncio.Task[None]] = []

    def _remote_feed(self, info: FeedInfo) -> None:
        """A feed pushed into another instance: held here like a pushed feed;
        one it grew (a request added series) grows here too, before its points."""
        hub = self.hub
        if info.name not in hub.feeds:
            hub.add_feed(info, pushed=True)
        elif info.name in hub.pushed and (more := merged(hub.feeds[info.name], info)):
            hub.grow_feed(more)

    def _new_epoch(self, epoch: str) -> None:
        """The backplane's numbering started again: so do the rings, and viewers
        reconnect for a snapshot under the new epoch (their resume names the old)."""
        hub = self.hub
        hub.flush()  # points of the old epoch go out (and into the rings) first
        for name, history in hub.histories.items():
            hub.histories[name] = FeedHistory(history.size, history.snapshot_size)
        hub.close_all(CloseCode.GOING_AWAY, "the backplane lost its data: new epoch")
        log_event(log, logging.WARNING, "backplane_new_epoch", epoch=epoch)

    def _viewers_changed(self, count: int) -> None:
        if count:
            self._no_clients.clear()
        else:
            self._no_clients.set()

    async def publish(
        self, feed: str, values: Mapping[str, Any], ts: int | None = None, *, gap: bool = False
    ) -> Position:
        """Check one point of *feed* (KeyError, PointError if bad) and hand it
        to the backplane; ``gap``: the feed's line breaks before this point.
        Returns the point's place in its feed (``seq`` under ``epoch``)."""
        checked = self.hub.check(feed, values)
        return await self.hub.backplane.publish(feed, checked, ts, gap)

    async def wait_no_clients(self) -> None:
        """Return once no viewer is connected (at once if none is)."""
        await self._no_clients.wait()

    async def start(self) -> None:
        hub = self.hub
        await hub.backplane.connect()
        backlog = hub.backplane.backlog()
        if backlog:
            for point in backlog:
                hub.take(point)
            hub.flush()  # into the rings before any viewer or producer asks
        self._tasks = [
            asyncio.create_task(self._pump(), name="hub-pump"),
            asyncio.create_task(self._flush_forever(), name="hub-flush"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        # Ours were cancelled on purpose; anything else they raised surfaces.
        results = await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        for result in results:
            if isinstance(result, Exception):
                raise result
        self.hub.flush()
        await self.hub.backplane.disconnect()

    async def _pump(self) -> None:
        take, feeds, reserved = self.hub.take, self.hub.feeds, self.hub.reserved
        async for point in self.hub.backplane.points():
            # A shared backplane may carry feeds this instance never declared
            # (configured elsewhere only): viewers get no points of a feed
            # they were not told of. A feed reserved by ingest here is added
            # by its first point (Hub.take).
            if point.feed in feeds or point.feed in reserved:
                take(point)

    async def _flush_forever(self) -> None:
        hub, settings = self.hub, self.hub.settings
        loop = asyncio.get_running_loop()
        last_flush = -math.inf
        while True:
            await self._due.wait()
            now = loop.time()
            due = flush_due(now, last_flush, settings.flush_interval, settings.coalesce)
            await asyncio.sleep(due - now)
            # Cleared before flushing: a point taken from here on waits for
            # the next flush, and sets the event again.
            self._due.clear()
            last_flush = loop.time()
            try:
                hub.flush()
            except Exception:
                # A bug in one flush must not stop live updates for everyone.
                log.exception("flush failed")
            if hub.viewers_lagging:
                self._due.set()  # check on them at the next interval
