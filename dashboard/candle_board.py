"""Candle subscriptions: one builder per (feed, series, interval), shared.

A viewer asks for the candles of a level series with a ``candles`` message
(docs/protocol.md). The first ask builds that key's bars from the history the
hub holds; from then on each flush adds its points, and every viewer of the
key gets the same frame: the bars the flush opened or changed, encoded once.
A subscriber gets all bars (``reset``) when it asks, so a late joiner holds
exactly what the others hold. Builders are kept when their last viewer goes
(there are at most three per level series, of bounded size): a viewer coming
back gets the bars as they were, not a new build from a shorter history.

A key's changes go out at most every ``min_gap`` seconds (changed bars are
whole bars, so holding them loses nothing): a frame per key per 50 ms flush
would fill a viewer's outbox, whose frame count decides when it is lagging,
several times faster than its batches do; 4 a second is as smooth as a
person can tell. Held changes ask the hub (``wake``) for another flush.

A viewer that is lagging gets no candle deltas (they would only lengthen its
queue); it is owed a reset, sent with the first change after it caught up.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

from dashboard.candles import INTERVALS, Bar, CandleBuilder, Number
from dashboard.channel import ClientChannel
from dashboard.history import FeedHistory
from dashboard.protocol import CandlesRequest, Point, ProtocolError, encode_candles, quote
from feeds.base import FeedInfo

#: The series summed into a bar's volume, when the feed has one.
VOLUME_SERIES = "volume"

Key = tuple[str, str, str]  # feed, series, interval name

#: Seconds between two candle frames of one key.
MIN_GAP = 0.25


def ticks(
    points: Iterable[Point], series: str, volume: str | None
) -> Iterator[tuple[int, Number | None, Number | None]]:
    """(ts, price, volume) of the points carrying *series* or *volume*."""
    for point in points:
        values = point.values
        price = values.get(series)
        traded = values.get(volume) if volume is not None else None
        if price is not None or traded is not None:
            yield point.ts, price, traded


def check_request(request: CandlesRequest, feeds: Mapping[str, FeedInfo]) -> FeedInfo:
    """The feed of *request* if it names a level series of a known feed and
    a known interval (or None); else ProtocolError."""
    info = feeds.get(request.feed)
    if info is None:
        raise ProtocolError("unknown_feed", f"unknown feed {quote(request.feed)}")
    series = next((s for s in info.series if s.name == request.series), None)
    if series is None:
        raise ProtocolError(
            "unknown_series", f"feed {quote(info.name)} has no series {quote(request.series)}"
        )
    if not series.level or series.kind != "line":
        message = f"series {quote(series.name)} of {quote(info.name)} is not a level: no candles"
        raise ProtocolError("not_a_level", message)
    if request.interval is not None and request.interval not in INTERVALS:
        known = ", ".join(INTERVALS)
        message = f"unknown candle interval {quote(request.interval)}; known: {known}"
        raise ProtocolError("bad_interval", message)
    return info


class CandleBoard:
    def __init__(
        self,
        feeds: Mapping[str, FeedInfo],
        histories: Mapping[str, FeedHistory],
        send: Callable[[ClientChannel, str], None],
        wake: Callable[[], object] = lambda: None,
        min_gap: float = MIN_GAP,
    ) -> None:
        self._feeds = feeds
        self._wake = wake
        self._min_gap = min_gap
        self._held: dict[Key, dict[int, Bar]] = {}  # changed bars not sent yet
        self._sent_at: dict[Key, float] = {}
        self._histories = histories
        self._send = send
        self._builders: dict[Key, CandleBuilder] = {}
        self._watchers: dict[Key, set[ClientChannel]] = {}
        self._of_client: dict[ClientChannel, dict[tuple[str, str], Key]] = {}
        self._owed_reset: set[tuple[ClientChannel, Key]] = set()
        # A key's reset frame, until its bars change: many viewers asking at
        # once (a reload of many pages) cost one encoding.
        self._reset_frames: dict[Key, str] = {}
        #: Builders made: one per key, however many viewers.
        self.builds = 0

    def builder(self, key: Key) -> CandleBuilder | None:
        return self._builders.get(key)

    def subscribe(self, client: ClientChannel, request: CandlesRequest) -> None:
        """Start, switch or (interval None) stop *client*'s candles of one
        series, answering with all bars; ProtocolError for a bad request."""
        check_request(request, self._feeds)
        mine = self._of_client.setdefault(client, {})
        old = mine.pop((request.feed, request.series), None)
        if old is not None:
            self._unwatch(client, old)
        if request.interval is None:
            return
        key = (request.feed, request.series, request.interval)
        if key not in self._builders:
            self._builders[key] = self._build(key)
        mine[request.feed, request.series] = key
        self._watchers.setdefault(key, set()).add(client)
        self._send(client, self._reset_frame(key))

    def forget(self, client: ClientChannel) -> None:
        for key in self._of_client.pop(client, {}).values():
            self._unwatch(client, key)

    def update(self, points: Sequence[Point], now: float) -> None:
        """Add a flush's points to every builder of their feeds and send each
        key's viewers the bars that changed. *now* (the channels' clock)
        tells lagging viewers apart."""
        if not self._builders:
            return  # nobody has asked for candles: the flush costs nothing more
        watched = {key[0] for key in self._builders}
        by_feed: dict[str, list[Point]] = {}
        for point in points:
            if point.feed in watched:
                by_feed.setdefault(point.feed, []).append(point)
        for key, builder in self._builders.items():
            feed_points = by_feed.get(key[0])
            if not feed_points:
                continue
            changed = builder.extend(ticks(feed_points, key[1], self._volume_of(key[0])))
            if changed:
                self._reset_frames.pop(key, None)
                if key in self._watchers:
                    self._held.setdefault(key, {}).update((bar.t, bar) for bar in changed)
        for key in [
            k for k in self._held if now - self._sent_at.get(k, -math.inf) >= self._min_gap
        ]:
            self._sent_at[key] = now
            held = self._held.pop(key)
            oldest = next(iter(self._builders[key])).t  # bars held since may be gone
            bars = [held[t].to_wire() for t in sorted(held) if t >= oldest]
            watchers = self._watchers.get(key)
            if bars and watchers:
                self._send_changes(key, watchers, encode_candles(*key, bars, reset=False), now)
        if self._held:
            self._wake()  # a flush after the gap sends them

    def _send_changes(self, key: Key, watchers: set[ClientChannel], delta: str, now: float) -> None:
        for client in list(watchers):  # a send may close a client, and forget it
            if client.closing:
                continue
            if client.lagging_since is not None or client.behind(now):
                self._owed_reset.add((client, key))
            elif (client, key) in self._owed_reset:
                self._owed_reset.discard((client, key))
                self._send(client, self._reset_frame(key))
            else:
                self._send(client, delta)

    def _volume_of(self, feed: str) -> str | None:
        info = self._feeds.get(feed)
        if info is not None and info.series_kinds.get(VOLUME_SERIES) == "line":
            return VOLUME_SERIES
        return None

    def _build(self, key: Key) -> CandleBuilder:
        feed, series, interval = key
        volume = self._volume_of(feed)
        builder = CandleBuilder(INTERVALS[interval], has_volume=volume is not None)
        history = self._histories.get(feed)
        held = history.recent() if history is not None else []
        builder.extend(ticks(held, series, volume))
        if held and held[0].seq > 1:
            # The history lost this feed's first points: its oldest bar may
            # lack some of its ticks (a wrong open, too little volume).
            builder.drop_oldest()
        self.builds += 1
        return builder

    def _reset_frame(self, key: Key) -> str:
        frame = self._reset_frames.get(key)
        if frame is None:
            bars = [bar.to_wire() for bar in self._builders[key]]
            frame = self._reset_frames[key] = encode_candles(*key, bars, reset=True)
        return frame

    def _unwatch(self, client: ClientChannel, key: Key) -> None:
        self._owed_reset.discard((client, key))
        watchers = self._watchers.get(key)
        if watchers is not None:
            watchers.discard(client)
            if not watchers:
                del self._watchers[key]
