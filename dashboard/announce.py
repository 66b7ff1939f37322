"""Which feeds exist, and how viewers are told: a hello, then small deltas.

A viewer that connects gets one ``hello`` declaring every feed. A feed added
while viewers are connected (push ingest creating one) used to re-send that
whole hello to each of them: K creations cost every viewer O(K²) bytes. Here
the additions wait for the hub's next flush and go out as one ``feeds``
message declaring only them (docs/protocol.md), before the batch with their
first points. The hub also announces right before a viewer connects or
subscribes, so that viewer's hello and snapshot never race an announcement:
each viewer learns of each feed exactly once, and before any of its points.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any, TypeVar

from dashboard.points import kind_of
from dashboard.protocol import encode_feeds_added, encode_hello
from feeds.base import FeedInfo, Series

Client = TypeVar("Client")


def too_many_feeds(feed: str, max_feeds: int) -> str:
    """Why a new feed *feed* is refused: the dashboard holds *max_feeds* already."""
    return (
        f"feed {feed!r} is not created: the dashboard already holds max_feeds {max_feeds} "
        "feeds (--max-feeds); push to an existing feed or raise the limit"
    )


def too_many_configured(count: int, max_feeds: int) -> str | None:
    """Why *count* configured feeds cannot start under *max_feeds*; None if they can."""
    if count <= max_feeds:
        return None
    return f"{count} feeds are configured, more than max_feeds {max_feeds}: raise --max-feeds"


def grown(held: FeedInfo, declared: FeedInfo, values: object) -> FeedInfo | None:
    """*declared*, a feed's declaration now, if it declares series of the point
    *values* that *held* (the dashboard's) lacks, and keeps every series of
    *held* as it was: a feed that finds series as it goes (a scrape) adds them.
    None otherwise: the point is checked against *held*, and refused."""
    if not isinstance(values, Mapping) or values.keys() <= held.series_names:
        return None
    if declared is held or declared.name != held.name:
        return None
    kept = {s.name: s for s in declared.series}
    if any(kept.get(s.name) != s for s in held.series):
        return None
    return declared


def merged(held: FeedInfo, declared: FeedInfo) -> FeedInfo | None:
    """*held* with the series of *declared* (the same pushed feed, as another
    request or instance grew it) that it lacks, after its own; None if it
    lacks none. A series both have stays as *held* declares it."""
    more = tuple(s for s in declared.series if s.name not in held.series_names)
    if not more or declared.name != held.name:
        return None
    return replace(held, series=held.series + more)


def with_series_of(info: FeedInfo, stored: Iterable[Mapping[str, Any]]) -> FeedInfo:
    """A pushed feed re-created after a restart (``--history-db``): *info*
    with the series its *stored* points' values hold that it lacks (those an
    earlier run's requests added), so those points are restored too."""
    more: dict[str, str] = {}
    for values in stored:
        for name, value in values.items():
            if name not in info.series_names and name not in more:
                more[name] = kind_of(value)
    if not more:
        return info
    series = info.series + tuple(Series(name, kind=kind) for name, kind in more.items())
    return replace(info, series=series)


class FeedAnnouncer:
    """The hub's feeds by name (``feeds``), the cached hello, and the
    declarations of feeds added since the last announcement."""

    def __init__(self, flush_interval: float) -> None:
        self.feeds: dict[str, FeedInfo] = {}
        self._flush_interval = flush_interval
        self._hello: tuple[tuple[str, bool], str] | None = None  # ((epoch, up), hello)
        self._added: list[dict[str, Any]] = []

    def add(self, info: FeedInfo) -> None:
        """Register *info*; viewers already connected learn of it at ``announce``."""
        if info.name in self.feeds:
            raise ValueError(f"feed {info.name!r} is already registered")
        self.feeds[info.name] = info
        self._hello = None
        self._added.append(info.to_dict())

    def grow(self, info: FeedInfo) -> None:
        """Take *info*, a feed's declaration with more series (see ``grown``):
        viewers get it at ``announce`` as a ``feeds`` message re-declaring the feed."""
        self.feeds[info.name] = info
        self._hello = None
        self._added.append(info.to_dict())

    def hello(self, epoch: str, backplane_up: bool = True) -> str:
        """The hello declaring every feed (encoded once per change)."""
        key = (epoch, backplane_up)
        if self._hello is None or self._hello[0] != key:
            feeds = [info.to_dict() for info in self.feeds.values()]
            hello = encode_hello(epoch, self._flush_interval, feeds, backplane_up)
            self._hello = (key, hello)
        return self._hello[1]

    def announce(self, clients: Iterable[Client], send: Callable[[Client, str], None]) -> None:
        """``send`` each of *clients* one ``feeds`` message declaring the feeds
        added since the last call; nothing when none were."""
        if not self._added:
            return
        frame = encode_feeds_added(self._added)
        self._added = []
        for client in clients:
            send(client, frame)
