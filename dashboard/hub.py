"""The hub: sequenced points in, kept per feed and fanned out to viewers in batches.

Synchronous and with no task of its own, so every rule here runs step by step
in a test: ``take`` accepts a point the backplane numbered, ``flush`` appends
what was taken to each feed's history and sends one batch per subscription
(encoded once, the same string pushed to every client with that
subscription), ``connect``/``receive``/``subscribe``/``disconnect`` are a
viewer's life. What runs it on the event loop (the pump from the backplane,
the flush timer, ``publish``, start/stop, waiting for viewers to leave) is
dashboard/hub_runner.py; its settings are dashboard/hub_settings.py.

A viewer behind by frames, age or bytes gets the latest point per feed in one
``conflated`` batch once drained; one behind past ``slow_client_timeout`` is
closed with 1008 and resumes on reconnect (dashboard/lagging.py, channel.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dashboard.announce import FeedAnnouncer, with_series_of
from dashboard.backplane import Backplane
from dashboard.candle_board import CandleBoard
from dashboard.catchup import catch_up, feeds_of, resolve
from dashboard.channel import ALL, ClientChannel, Subscription
from dashboard.history import FeedHistory
from dashboard.hub_settings import HubSettings
from dashboard.lagging import Lagging, close_slow, worst_lag
from dashboard.limits import Limits
from dashboard.logs import log_event
from dashboard.metrics import Metrics
from dashboard.points import check_values
from dashboard.protocol import (
    CandlesRequest,
    CloseCode,
    Ping,
    Point,
    ProtocolError,
    Subscribe,
    encode_backplane,
    encode_batch,
    encode_error,
    encode_pong,
    encode_replay,
    encode_snapshot,
    encode_status,
    parse_client_message,
)
from feeds.base import FeedInfo

if TYPE_CHECKING:
    from dashboard.store import HistoryStore

log = logging.getLogger(__name__)


def _nothing() -> None:
    pass


class Hub:
    """Feeds, their histories and the viewers; see the module's docstring.

    *backplane* numbers the points the hub takes: the hub reads its ``epoch``
    (the runner reads its points). *clock* (monotonic seconds) stamps viewers'
    frames, to time how far behind they are.
    """

    def __init__(
        self,
        backplane: Backplane,
        settings: HubSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        limits: Limits | None = None,
        store: HistoryStore | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.backplane = backplane
        self.settings = settings = settings or HubSettings()
        #: Called whenever a flush has something to do (points, a feed, a
        #: status, held candles); the runner's flush timer waits for it.
        self.wake: Callable[[], None] = _nothing
        #: Called with the number of viewers after one connects or leaves.
        self.on_viewers: Callable[[int], None] = lambda count: None
        self._clock = clock
        self._bounds = (
            settings.client_conflate_frames,
            settings.max_viewer_lag,
            settings.max_viewer_bytes,
            clock,
        )
        self._lagging = Lagging(settings.slow_client_timeout)
        self._announcer = FeedAnnouncer(settings.flush_interval)
        self.feeds = self._announcer.feeds
        self.histories: dict[str, FeedHistory] = {}
        self._clients: set[ClientChannel] = set()
        self.candles = CandleBoard(self.feeds, self.histories, self._send, lambda: self.wake())
        self.limits = limits or Limits()  # default: no limits
        self._pending: list[Point] = []
        self._status: dict[str, Mapping[str, Any]] = {}
        self._status_version = 0  # bumped on every change
        self._status_sent = 0  # the version the last flush sent
        self._store = store  # None: history in memory only
        #: False while the shared backplane is unreachable (set_backplane);
        #: viewers are told with the next flush, new ones in their hello. Up
        #: to begin with: a backplane is not up before ``connect()`` (which
        #: stops the start when it cannot reach it), and says when it goes down.
        self.backplane_up = True
        self._backplane_told = True  # what viewers were last told
        # The runner may put its own callback here; it must call set_backplane.
        backplane.on_state = self.set_backplane
        self._restored: dict[str, Sequence[Point]] = {}
        #: Pushed feeds being created (reserve_feed), not yet shown to anyone;
        #: those added (here or by another instance), whose series may grow.
        self.reserved: dict[str, FeedInfo] = {}
        self.pushed: set[str] = set()
        # Hub lag: when the oldest waiting point was taken (monotonic), and
        # what the last flush measured; see ``lag``.
        self._waiting_since = 0.0
        self.last_flush_lag = 0.0
        self.last_flush_seconds = 0.0
        self.metrics = metrics if metrics is not None else Metrics()
        self.metrics.viewers.set_function(lambda: len(self._clients))
        self.metrics.hub_lag.set_function(lambda: self.lag)
        self.metrics.viewer_lag.set_function(lambda: worst_lag(self._clients, clock()))
        self.metrics.flush_seconds.set_function(lambda: self.last_flush_seconds)
        self.metrics.backplane_up.set_function(lambda: int(self.backplane_up))

    @property
    def epoch(self) -> str:
        return self.backplane.epoch

    @property
    def points_waiting(self) -> int:
        """Points taken since the last flush."""
        return len(self._pending)

    @property
    def clients(self) -> frozenset[ClientChannel]:
        return frozenset(self._clients)

    @property
    def lag(self) -> float:
        """Seconds the stalest point waited in the hub: the oldest point still
        waiting for a flush, or, if longer, the oldest point of the last flush
        (measured once that flush had queued it for every viewer). What a
        viewer's delay owes to the hub; about ``flush_interval`` when healthy."""
        waiting = time.monotonic() - self._waiting_since if self._pending else 0.0
        return max(waiting, self.last_flush_lag)

    # --- feeds in ---------------------------------------------------------

    def add_feed(self, info: FeedInfo, *, pushed: bool = False) -> None:
        """Register a feed (*pushed*: created over ingest, held to pushed_history_size,
        declaring its stored points' series too: ``announce.with_series_of``);
        viewers already connected learn of it at the next flush."""
        restored = self._restored.pop(info.name, ())
        if pushed:
            self.pushed.add(info.name)
            info = with_series_of(info, (p.values for p in restored))
        self._announcer.add(info)
        self.reserved.pop(info.name, None)
        held = self.settings.pushed_history if pushed else self.settings.history_size
        history = self.histories[info.name] = FeedHistory(held, self.settings.snapshot_size)
        if all(p.values.keys() <= info.series_names for p in restored):
            history.extend(restored)
        else:
            log.info("feed %s: stored points have other series; not restored", info.name)
        self.wake()  # announced (a `feeds` delta) by the next flush

    def grow_feed(self, info: FeedInfo) -> None:
        """A feed's declaration with more series (``announce.grown``, ``merged``)."""
        self._announcer.grow(info)
        self.wake()  # points may hold them now; viewers are told at the next flush

    def reserve_feed(self, info: FeedInfo) -> None:
        """Hold a pushed feed whose first batch is being published: it is added
        (and announced) when its first point is taken, or dropped by ``release_feed``."""
        self.reserved[info.name] = info

    def release_feed(self, name: str) -> None:
        """Forget a reserved feed whose first batch was refused: it never existed."""
        self.reserved.pop(name, None)

    def restore(self, points: Mapping[str, Sequence[Point]]) -> None:
        """Points kept from an earlier run (same epoch), per feed: a feed gets
        them when it is added. Feeds never added again keep theirs unshown."""
        self._restored = dict(points)

    def set_status(self, feed: str, status: Mapping[str, Any]) -> None:
        """Record a feed's state (running, restarting, ...); viewers get the
        changes of a flush interval in one status message."""
        if self._status.get(feed) != status:
            self._status[feed] = dict(status)
            self._status_version += 1
            self.wake()

    def set_backplane(self, up: bool) -> None:
        """Record whether the shared backplane can be reached (its ``on_state``):
        connected viewers get a ``backplane`` message at the next flush (only
        the last state of a flush interval: a flap within one sends nothing)."""
        if up == self.backplane_up:
            return
        self.backplane_up = up  # the backplane logs it; viewers are told here
        self.wake()

    @property
    def status(self) -> Mapping[str, Mapping[str, Any]]:
        return self._status

    def check(self, feed: str, values: Mapping[str, Any]) -> dict[str, Any]:
        """*values* as a point of *feed* holds them; KeyError for a feed not
        added, PointError for values its series cannot take."""
        info = self.feeds.get(feed)
        if info is None:
            raise KeyError(f"unknown feed {feed!r}")
        return check_values(feed, values, info.series_kinds)

    # --- fan-out ----------------------------------------------------------

    def take(self, point: Point) -> None:
        """Accept one sequenced point for the next flush."""
        if self.reserved and point.feed in self.reserved:
            self.add_feed(self.reserved[point.feed], pushed=True)  # announced before it
        if not self._pending:
            self._waiting_since = time.monotonic()
        self._pending.append(point)
        self.wake()
        if len(self._pending) >= self.settings.max_pending_points:
            self.flush()  # bound memory when producers outrun the interval

    @property
    def viewers_lagging(self) -> bool:
        """Viewers are held back: a flush is due even with no new point, to
        send them what they missed once drained or close them (1008)."""
        return bool(self._lagging)

    def flush(self, now: float | None = None) -> None:
        """Record pending points and send each subscription its batch.

        *now* (monotonic seconds) times lagging viewers; tests pass it.
        """
        now = self._clock() if now is None else now
        self._announcer.announce(self._clients, self._send)  # before points of new feeds
        if self._backplane_told != self.backplane_up:
            self._backplane_told = up = self.backplane_up
            frame = encode_backplane(up)
            for client in self._clients:
                self._send(client, frame)
        if self._status_sent != self._status_version:
            self._status_sent = version = self._status_version
            frame = encode_status(self._status)
            for client in self._clients:
                # Only subscribed viewers that have not seen this version yet.
                if 0 < client.status_version < version:
                    client.status_version = version
                    self._send(client, frame)
        points, self._pending = self._pending, []
        if points:
            self._fan_out(points, now)
        self.candles.update(points, now)  # also without points: changes held back
        if self._lagging:
            self._check_lagging(now)

    def _fan_out(self, points: list[Point], now: float) -> None:
        started = time.monotonic()
        waiting_since = self._waiting_since
        for point in points:
            history = self.histories.get(point.feed)
            if history is not None:
                history.extend((point,))
        if self._store is not None:
            self._store.append(points)  # queued for its writer thread: no I/O here
        groups: dict[Subscription, list[ClientChannel]] = {}
        for client in self._clients:
            if client.subscription is not None and not client.closing:
                groups.setdefault(client.subscription, []).append(client)
        for subscription, clients in groups.items():
            wanted = feeds_of(subscription, self.feeds)
            selected = points if subscription == ALL else [p for p in points if p.feed in wanted]
            if not selected:
                continue
            frame = None  # encoded once, and only if someone takes it
            sent = 0
            for client in clients:
                if client.lagging_since is None and not client.behind(now):
                    frame = frame or encode_batch(selected, subscription.series)
                    self._send(client, frame)
                    sent += 1
                    continue
                if self._lagging.hold(client, selected, now):
                    log_event(log, logging.INFO, "viewer_lagging", client=client.address)
            # Per batch, not per client or point: this loop is the hot path.
            self.metrics.points_sent += len(selected) * sent
        self.last_flush_seconds = (done := time.monotonic()) - started
        self.last_flush_lag = done - waiting_since

    def _check_lagging(self, now: float) -> None:
        """Send caught-up viewers their conflated points; close the hopeless."""
        caught_up, hopeless = self._lagging.due(now)
        for client, latest in caught_up:
            if latest and client.subscription is not None:
                self._send(client, encode_batch(latest, client.subscription.series, conflated=True))
                self.metrics.conflated()
                self.metrics.points_sent += len(latest)
        for client, behind in hopeless:
            close_slow(client, behind_s=round(behind, 1))

    # --- viewers ----------------------------------------------------------

    def hello(self) -> str:
        return self._announcer.hello(self.epoch, self.backplane_up)

    def connect(self, address: str = "", *, subscribe: bool = True) -> ClientChannel:
        """Register a viewer and queue its hello (and, by default, a snapshot of
        everything). With ``subscribe=False`` it receives nothing more until it
        sends a subscribe message."""
        self._announcer.announce(self._clients, self._send)  # its hello lists them all
        client = ClientChannel(self.settings.client_max_frames, address, *self._bounds)
        self._clients.add(client)
        self.limits.watch(client)
        self.on_viewers(len(self._clients))
        self._send(client, self.hello())
        if subscribe:
            self.subscribe(client, Subscribe())
        return client

    def disconnect(self, client: ClientChannel, code: int | None = None) -> None:
        """Forget *client* and count how its connection ended: *code* is the
        close code seen on the socket (default: the one the hub closed it
        with, else 1000)."""
        if client not in self._clients:
            return
        self._clients.discard(client)
        self.limits.forget(client)
        self._lagging.forget(client)
        self.candles.forget(client)
        self.metrics.disconnected(code or client.close_code or 1000)
        self.on_viewers(len(self._clients))

    def close_all(
        self, code: int = CloseCode.GOING_AWAY, reason: str = "server shutting down"
    ) -> None:
        for client in self._clients:
            client.close(code, reason)

    def receive(self, client: ClientChannel, data: str | bytes | None) -> None:
        """Handle one frame from *client*: answer goes to its outbox, errors too.
        Over its message or subscribe rate it is closed (1008) instead."""
        if client.closing or not self.limits.allow_message(client):
            return  # going, gone, or closed just now: nothing more is answered
        try:
            message = parse_client_message(data, max_names=self.limits.max_subscribe_names)
            if isinstance(message, Subscribe):
                if self.limits.allow_subscribe(client):  # each costs a snapshot or replay
                    self.subscribe(client, message)
            elif isinstance(message, Ping):
                self._send(client, encode_pong(message))
            elif isinstance(message, CandlesRequest):
                self.candles.subscribe(client, message)
        except ProtocolError as error:
            self.limits.note_error(client, error.code)
            self._send(client, encode_error(error))

    def subscribe(self, client: ClientChannel, request: Subscribe) -> None:
        """Replace *client*'s subscription and queue what it needs to catch up.

        Runs without awaiting, between two flushes: the history then holds
        exactly the points sent before, and the next batch starts right after.
        """
        self._announcer.announce(self._clients, self._send)  # before its snapshot's points
        subscription, feeds = resolve(request, self.feeds)
        client.subscription = subscription
        # The answer below brings it up to date: what was conflated is moot.
        self._lagging.forget(client)
        answer = catch_up(self.histories, self.epoch, feeds, request.resume)
        if answer.replay is not None:
            replay_feeds, points = answer.replay
            self._send(client, encode_replay(self.epoch, replay_feeds, points, subscription.series))
            self.metrics.points_sent += len(points)
        if answer.snapshot is not None:
            fresh, points = answer.snapshot
            frame = encode_snapshot(
                self.epoch, fresh, points, reset=answer.reset, series=subscription.series
            )
            self._send(client, frame)
            self.metrics.points_sent += len(points)
        if self._status and not client.status_version:
            # Once per connection, after its data; later changes come with flushes.
            self._send(client, encode_status(self._status))
        client.status_version = max(self._status_version, 1)

    def _send(self, client: ClientChannel, frame: str) -> None:
        if not client.push(frame):
            close_slow(client, queued=client.queued)
