"""The hub: feeds in, sequenced points kept and fanned out to viewers in batches.

``publish`` hands a point to the backplane, which sequences it; the hub's pump
collects sequenced points and ``flush`` appends them to the per-feed history
and sends one batch per subscription: encoded once, the same string pushed to
every client with that subscription.

When to flush: dashboard/flush_timing.py.

A viewer behind by frames, age or bytes gets the latest point per feed in one
``conflated`` batch once drained; one behind past ``slow_client_timeout`` is
closed with 1008 and resumes on reconnect (dashboard/lagging.py, channel.py).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dashboard.announce import FeedAnnouncer
from dashboard.backplane import Backplane
from dashboard.candle_board import CandleBoard
from dashboard.catchup import catch_up, feeds_of, resolve
from dashboard.channel import ALL, MAX_BYTES, MAX_LAG_S, ClientChannel, Subscription
from dashboard.flush_timing import flush_due
from dashboard.history import FeedHistory
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


class Hub:
    def __init__(
        self,
        backplane: Backplane,
        *,
        flush_interval: float = 0.05,
        coalesce: float = 0.002,
        history_size: int = 3000,
        snapshot_size: int | None = None,  # default: all of history_size
        pushed_history_size: int | None = None,  # feeds created over ingest; default history_size
        client_max_frames: int = 256,
        client_conflate_frames: int | None = None,
        slow_client_timeout: float = 30.0,
        max_viewer_lag: float = MAX_LAG_S,
        max_viewer_bytes: int = MAX_BYTES,
        clock: Callable[[], float] = time.monotonic,  # viewers' frames are stamped with it
        max_pending_points: int = 50_000,
        limits: Limits | None = None,
        store: HistoryStore | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        if flush_interval <= 0:
            raise ValueError(f"flush_interval must be > 0, not {flush_interval}")
        self.backplane = backplane
        self.flush_interval = flush_interval
        self.coalesce = coalesce
        self._waiting = asyncio.Event()  # set when a flush has something to send
        self._history_sizes = (history_size, snapshot_size, pushed_history_size or history_size)
        self._clock = clock
        self._client_max_frames = client_max_frames
        self._bounds = (client_conflate_frames, max_viewer_lag, max_viewer_bytes, clock)
        self._lagging = Lagging(slow_client_timeout)
        self._max_pending_points = max_pending_points
        self._announcer = FeedAnnouncer(flush_interval)
        self.feeds = self._announcer.feeds
        self.histories: dict[str, FeedHistory] = {}
        self._clients: set[ClientChannel] = set()
        self.candles = CandleBoard(self.feeds, self.histories, self._send, self._waiting.set)
        self.limits = limits or Limits()  # default: no limits
        self._no_clients = asyncio.Event()
        self._no_clients.set()
        self._pending: list[Point] = []
        self._status: dict[str, Mapping[str, Any]] = {}
        self._status_version = 0  # bumped on every change
        self._status_sent = 0  # the version the last flush sent
        self._tasks: list[asyncio.Task[None]] = []
        self._store = store  # None: history in memory only
        self._restored: dict[str, Sequence[Point]] = {}
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
        """Register a feed (*pushed*: created over ingest, held to pushed_history_size);
        viewers already connected learn of it at the next flush."""
        self._announcer.add(info)
        held, snapshot, pushed_held = self._history_sizes
        history = FeedHistory(pushed_held if pushed else held, snapshot)
        self.histories[info.name] = history
        restored = self._restored.pop(info.name, ())
        if all(p.values.keys() <= info.series_names for p in restored):
            history.extend(restored)
        else:
            log.info("feed %s: stored points have other series; not restored", info.name)
        self._waiting.set()  # announced (a `feeds` delta) by the next flush

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
            self._waiting.set()

    @property
    def status(self) -> Mapping[str, Mapping[str, Any]]:
        return self._status

    async def publish(
        self, feed: str, values: Mapping[str, Any], ts: int | None = None, *, gap: bool = False
    ) -> None:
        """Check one point of *feed* (PointError if bad) and hand it to the
        backplane; ``gap``: the feed's line breaks before this point."""
        info = self.feeds.get(feed)
        if info is None:
            raise KeyError(f"unknown feed {feed!r}")
        await self.backplane.publish(feed, check_values(feed, values, info.series_kinds), ts, gap)

    # --- lifecycle --------------------------------------------------------

    async def start(self) -> None:
        await self.backplane.connect()
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
        self.flush()
        await self.backplane.disconnect()

    async def _pump(self) -> None:
        async for point in self.backplane.points():
            self.take(point)

    def take(self, point: Point) -> None:
        """Accept one sequenced point for the next flush."""
        if not self._pending:
            self._waiting_since = time.monotonic()
        self._pending.append(point)
        self._waiting.set()
        if len(self._pending) >= self._max_pending_points:
            self.flush()  # bound memory when producers outrun the interval

    async def _flush_forever(self) -> None:
        loop = asyncio.get_running_loop()
        last_flush = -math.inf
        while True:
            await self._waiting.wait()
            now = loop.time()
            due = flush_due(now, last_flush, self.flush_interval, self.coalesce)
            await asyncio.sleep(due - now)
            # Cleared before flushing: a point taken from here on waits for
            # the next flush, and sets the event again.
            self._waiting.clear()
            last_flush = loop.time()
            try:
                self.flush()
            except Exception:
                # A bug in one flush must not stop live updates for everyone.
                log.exception("flush failed")
            if self._lagging:
                self._waiting.set()  # check on them at the next interval

    # --- fan-out ----------------------------------------------------------

    def flush(self, now: float | None = None) -> None:
        """Record pending points and send each subscription its batch.

        *now* (monotonic seconds) times lagging viewers; tests pass it.
        """
        now = self._clock() if now is None else now
        self._announcer.announce(self._clients, self._send)  # before points of new feeds
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
        return self._announcer.hello(self.epoch)

    def connect(self, address: str = "", *, subscribe: bool = True) -> ClientChannel:
        """Register a viewer and queue its hello (and, by default, a snapshot of
        everything). With ``subscribe=False`` it receives nothing more until it
        sends a subscribe message."""
        self._announcer.announce(self._clients, self._send)  # its hello lists them all
        client = ClientChannel(self._client_max_frames, address, *self._bounds)
        self._clients.add(client)
        self.limits.watch(client)
        self._no_clients.clear()
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
        if not self._clients:
            self._no_clients.set()

    async def wait_no_clients(self) -> None:
        await self._no_clients.wait()

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
