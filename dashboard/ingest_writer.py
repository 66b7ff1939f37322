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

A request adding series to a pushed feed (``Batch.grown``) announces the
grown declaration to the other instances first, then takes it here (merged
with whatever another instance added meanwhile: ``announce.merged``; a feed
still reserved is reserved again, grown), then publishes: every instance's
viewers get the feed re-declared before a point holding a new series. When
the announcement is refused nothing is taken or written (503); when only the
points are, the feed keeps its new (empty) series everywhere.

A batch once started is finished even if its client goes away (shielded).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Container, Iterator, Mapping

from dashboard.announce import merged
from dashboard.backplane import BackplaneDown, BackplaneError
from dashboard.hub import Hub
from dashboard.ingest import Batch, IngestError
from feeds.base import FeedInfo

log = logging.getLogger(__name__)

#: Validates a request against the feeds that exist (and those being created),
#: given the names of those pushed in (which may grow).
Prepare = Callable[[Mapping[str, FeedInfo], Container[str]], Batch]


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


class _Pushed(Container[str]):
    """Feeds pushed in: added by ingest (here or on another instance) or being created."""

    def __init__(self, hub: Hub) -> None:
        self._pushed, self._reserved = hub.pushed, hub.reserved

    def __contains__(self, name: object) -> bool:
        return name in self._pushed or name in self._reserved


def take_grown(hub: Hub, info: FeedInfo) -> None:
    """Hold *info*, a pushed feed's grown declaration, merged into the one
    the hub holds now (another instance may have grown it meanwhile)."""
    reserved = hub.reserved.get(info.name)
    held = reserved if reserved is not None else hub.feeds.get(info.name)
    more = merged(held, info) if held is not None else None
    if more is None:
        return
    if reserved is not None:
        hub.reserve_feed(more)  # viewers learn of it whole with its first point
    else:
        hub.grow_feed(more)  # re-declared to viewers at the next flush


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
            batch = prepare(_Known(hub), _Pushed(hub))
            new, grown = batch.new_feed, batch.grown
            if new is not None:
                hub.reserve_feed(new)  # counted against max_feeds from now on
            try:
                if new is not None:
                    await hub.backplane.announce(new)
                if grown is not None:
                    await hub.backplane.announce(grown)  # the others' viewers too
                    take_grown(hub, grown)
                await hub.backplane.publish_many(feed, batch.points)
            except BackplaneError as error:
                if new is not None:
                    hub.release_feed(feed)
                raise backplane_down(error) from None
        if new is not None:
            log.info("ingest created feed %r: %s", feed, ", ".join(new.series_names))
        if grown is not None:
            log.info("ingest grew feed %r: now %d series", feed, len(grown.series))
        return len(batch.points)
