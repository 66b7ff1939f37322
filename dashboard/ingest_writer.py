"""Push ingest's writes: a validated batch goes to the backplane whole, or not at all.

A request's points are published with one ``backplane.publish_many`` (all or
nothing: contiguous seqs, or an error and nothing written) under its feed's
lock, so concurrent requests to one feed never interleave, and validated
under that lock too, so a request sees what the one before it created. A
request creating a feed *reserves* it in the hub (dashboard/hub.py): later
requests validate against it, viewers learn of it only with its first point,
and the feed is ``announce``d to the other instances before its points. When
the backplane refuses the batch (``BackplaneDown``: Redis is unreachable) the
reservation is dropped: no feed is left half-created and nothing is written;
the request is answered 503 with ``Retry-After``.

A batch once started is finished even if its client goes away (shielded).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Iterator, Mapping

from dashboard.backplane import BackplaneDown, BackplaneError
from dashboard.hub import Hub
from dashboard.ingest import Batch, IngestError
from feeds.base import FeedInfo

log = logging.getLogger(__name__)

#: Validates a request against the feeds that exist (and those being created).
Prepare = Callable[[Mapping[str, FeedInfo]], Batch]


def backplane_down(error: BackplaneError) -> IngestError:
    """The 503 a refused batch gets: try again after the backplane's backoff."""
    retry = error.retry_after if isinstance(error, BackplaneDown) else 1.0
    seconds = max(1, math.ceil(retry))
    message = (
        "the backplane (Redis) cannot be reached: nothing of this request was written; "
        f"try again in {seconds} s"
    )
    return IngestError(503, "backplane_down", message, retry_after=seconds)


class _Known(Mapping[str, FeedInfo]):
    """The hub's feeds and those being created, as one mapping without copying
    either (a ChainMap's ``len`` builds a set of every name: per request, with
    100,000 feeds, that is too slow). The two never share a name."""

    def __init__(self, hub: Hub) -> None:
        self._feeds, self._reserved = hub.feeds, hub.reserved

    def __getitem__(self, name: str) -> FeedInfo:
        info = self._feeds.get(name)
        return info if info is not None else self._reserved[name]

    def __len__(self) -> int:
        return len(self._feeds) + len(self._reserved)

    def __iter__(self) -> Iterator[str]:
        yield from self._feeds
        yield from self._reserved


class IngestWriter:
    """Creates feeds and publishes batches of one hub; see the module's docstring."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[int]] = set()

    async def write(self, feed: str, prepare: Prepare) -> int:
        """Validate (``prepare``) and publish one request's points for *feed*;
        returns how many. Raises IngestError (nothing written)."""
        task = asyncio.ensure_future(self._write(feed, prepare))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        # Shielded: a client that disconnects mid-batch still gets all of it written.
        return await asyncio.shield(task)

    async def _write(self, feed: str, prepare: Prepare) -> int:
        hub = self.hub
        async with self._locks.setdefault(feed, asyncio.Lock()):
            batch = prepare(_Known(hub))
            new = batch.new_feed
            if new is not None:
                hub.reserve_feed(new)  # counted against max_feeds from now on
            try:
                if new is not None:
                    await hub.backplane.announce(new)
                await hub.backplane.publish_many(feed, batch.points)
            except BackplaneError as error:
                if new is not None:
                    hub.release_feed(feed)
                raise backplane_down(error) from None
        if new is not None:
            log.info("ingest created feed %r: %s", feed, ", ".join(new.series_names))
        return len(batch.points)
