"""The backplane over Redis Streams: several instances act as one dashboard.

Implements dashboard/backplane.py's contract; keys and Lua: redis_scripts.py.

- **Writing.** ``publish``/``publish_many`` queue a request and wait for its
  Position; one writer task sends everything queued, of every feed, in one
  pipeline of EVALSHAs (one per request, each all or nothing), so a busy
  instance makes one round trip per flush, not one per point.
- **Reading.** ``points()`` runs one blocking XREAD over the control stream
  and every feed's stream, from the last entry ID seen of each, and yields
  each feed's points in seq order. ``connect()`` reads what the streams
  already hold (up to ``history_size`` per feed): ``backlog()`` hands it to
  the hub's rings before anything else, so a late starter answers history,
  snapshots and resume like the others.
- **Epoch.** Read from Redis at connect and on every read; when its key is
  gone (Redis lost its data), or Redis came back with counters behind what
  was read, one instance makes a new one (in Lua) and every instance
  switches to it: ``on_epoch`` is called, in order with the points.
- **Down.** A lost connection makes ``up`` False (``on_state(False)``);
  the reader retries with backoff (redis_scripts.Reconnect) and continues
  from the last IDs it saw. While down, publishing raises BackplaneDown
  with the backoff's ``retry_after``; nothing is written.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from dashboard import redis_scripts as rs
from dashboard.backplane import (
    BackplaneDown,
    BackplaneError,
    BackplaneUnavailable,
    KeptRun,
    Pending,
    Position,
    new_epoch,
)
from dashboard.backplane_url import BackplaneUrl
from dashboard.points import now_ms
from dashboard.protocol import Point
from feeds.base import FeedInfo

log = logging.getLogger(__name__)

#: How long one XREAD blocks before the reader checks the epoch again (ms);
#: also how long ``disconnect()`` may wait for the read in flight.
BLOCK_MS = 250
#: Entries per stream per read, and requests per write pipeline.
READ_COUNT = 1000
WRITE_BATCH = 1000


def _ignore(*args: object) -> None:
    pass


class RedisBackplane:
    """Numbers and shares points through the Redis at *url*; see the module's docstring.

    *history_size* caps each feed's stream (MAXLEN ~) and the backlog a
    starting instance reads; *prefix* puts every key under one namespace
    (``.client`` and ``.prefix`` are for dashboard/leases.py).
    """

    remote = True

    def __init__(
        self,
        url: BackplaneUrl,
        *,
        history_size: int = 3000,
        prefix: str = rs.DEFAULT_PREFIX,
        max_pending: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.keys = rs.Keys(prefix)
        self.history_size = history_size
        # No retries inside the client: a write retried after a broken
        # connection may run twice; the backplane decides what to do instead.
        self.client: Redis = Redis.from_url(
            url.url,
            socket_connect_timeout=2.0,
            socket_timeout=BLOCK_MS / 1000 + 4.0,
            retry=Retry(NoBackoff(), 0),
        )
        self.epoch = ""
        self.on_state: Callable[[bool], None] = _ignore
        self.on_feed: Callable[[FeedInfo], None] = _ignore
        self.on_epoch: Callable[[str], None] = _ignore
        self._clock = clock
        self._up = False
        self._reconnect = rs.Reconnect()
        self._queue: asyncio.Queue[rs.WriteRequest] = asyncio.Queue(maxsize=max_pending)
        self._writer: asyncio.Task[None] | None = None
        self._writing: asyncio.Future[None] | None = None
        self._read: asyncio.Future[tuple[str | None, list[Any]]] | None = None
        self._shas: dict[str, str] = {}
        self._last_ids: dict[str, bytes] = {}  # feed -> last stream entry ID read
        self._read_seqs: dict[str, int] = {}  # feed -> last seq read under this epoch
        self._control_id = b"0-0"
        self._backlog: list[Point] = []

    def __repr__(self) -> str:
        return f"RedisBackplane({self.url.redacted})"

    @property
    def up(self) -> bool:
        return self._up

    def restore(self, kept: KeptRun) -> None:
        raise BackplaneError(
            "a history file cannot be continued over a Redis backplane: Redis keeps the history"
        )

    # --- lifecycle --------------------------------------------------------

    async def connect(self) -> None:
        """Reach Redis, take (or make) the epoch and read the kept history;
        BackplaneUnavailable naming host:port when Redis cannot be reached."""
        try:
            self.epoch = await self._prepare()
            await self._read_kept()
        except (*rs.UNREACHABLE, RedisError) as error:
            await self.client.aclose()
            raise BackplaneUnavailable(
                f"cannot reach the Redis backplane at {self.url.address}: {rs.reason(error)}"
            ) from None
        self._up = True
        self._writer = asyncio.create_task(self._write_forever(), name="redis-writer")
        log.info("backplane %s: epoch %s, %d feeds kept", self.url.redacted, self.epoch,
                 len(self._last_ids))  # fmt: skip

    async def disconnect(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
        while not self._queue.empty():
            rs.settle(self._queue.get_nowait(), error=BackplaneError("disconnected"))
        self._up = False
        # Let a read or write in flight end by itself (a read blocks 250 ms at
        # most): a redis-py call cancelled mid-reply can leave its task hanging.
        for call in (self._read, self._writing):
            if call is not None:
                await asyncio.wait({call}, timeout=BLOCK_MS / 1000 + 2.0)
                if call.done() and not call.cancelled():
                    call.exception()  # seen: nobody awaits it any more
        await self.client.aclose()

    def backlog(self) -> list[Point]:
        """What the streams held at connect (each feed's in seq order), once."""
        points, self._backlog = self._backlog, []
        return points

    async def _prepare(self, replace: str = "") -> str:
        """Scripts loaded (again after a restart) and the epoch in Redis, made
        if absent (or if it is still *replace*). Only the reader switches to
        it (in order with the points)."""
        self._shas["publish"] = await self.client.script_load(rs.PUBLISH)
        self._shas["epoch"] = await self.client.script_load(rs.NEW_EPOCH)
        keys = self.keys
        args = [keys.epoch, keys.seqs, keys.names]
        made = await self.client.evalsha(
            self._shas["epoch"], 3, *args, new_epoch(), keys.stream_prefix, replace
        )
        return made.decode() if isinstance(made, bytes) else str(made)

    async def _read_kept(self) -> None:
        """The feeds so far, their declarations and each one's newest points."""
        keys = self.keys
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.smembers(keys.names)
            pipe.hgetall(keys.infos)
            pipe.xrevrange(keys.control, count=1)
            names, infos, control = await pipe.execute()
        self._control_id = control[0][0] if control else b"0-0"
        for raw in infos.values():
            self._declare(raw)
        feeds = sorted(name.decode() for name in names)
        async with self.client.pipeline(transaction=False) as pipe:
            for feed in feeds:
                pipe.xrevrange(keys.stream(feed), count=self.history_size)
            kept = await pipe.execute()
        for feed, entries in zip(feeds, kept, strict=True):
            self._last_ids[feed] = entries[0][0] if entries else b"0-0"
            for _, fields in reversed(entries):
                epoch, point = rs.entry_point(feed, fields)
                if epoch == self.epoch:
                    self._backlog.append(point)
                    self._read_seqs[feed] = point.seq

    def _declare(self, raw: bytes) -> None:
        try:
            info = rs.decode_info(raw)
        except (ValueError, TypeError) as error:
            log.warning("backplane: a feed declaration in Redis is not one (%s)", error)
            return
        self.on_feed(info)

    # --- writing ----------------------------------------------------------

    async def publish(
        self, feed: str, values: Mapping[str, Any], ts: int | None = None, gap: bool = False
    ) -> Position:
        (position,) = await self.publish_many(feed, [(values, ts)], gap)
        return position

    async def publish_many(
        self, feed: str, points: Sequence[Pending], gap: bool = False
    ) -> list[Position]:
        if not points:
            return []
        self._refuse_if_down()
        stamped = [(values, now_ms() if ts is None else ts) for values, ts in points]
        future: asyncio.Future[list[Position]] = asyncio.get_running_loop().create_future()
        await self._queue.put(rs.WriteRequest(feed, stamped, gap, future))
        return await future

    async def announce(self, info: FeedInfo) -> None:
        self._refuse_if_down()
        raw = rs.encode_info(info)
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.hset(self.keys.infos, info.name, raw)
                pipe.xadd(
                    self.keys.control, {"info": raw}, maxlen=rs.CONTROL_MAXLEN, approximate=True
                )
                await pipe.execute()
        except rs.UNREACHABLE as error:
            self._went_down(error)
            raise self._down() from None

    def _refuse_if_down(self) -> None:
        if not self._up:
            raise self._down()

    def _down(self) -> BackplaneDown:
        retry_after = self._reconnect.retry_after(self._clock())
        return BackplaneDown(f"the Redis backplane at {self.url.address} is down", retry_after)

    async def _write_forever(self) -> None:
        queue = self._queue
        while True:
            requests = [await queue.get()]
            while not queue.empty() and len(requests) < WRITE_BATCH:
                requests.append(queue.get_nowait())
            if not self._up:
                for request in requests:
                    rs.settle(request, error=self._down())
                continue
            self._writing = asyncio.ensure_future(self._write(requests))
            try:
                await asyncio.shield(self._writing)  # see disconnect()
            except rs.UNREACHABLE as error:
                # Written or not is unknown for these; their callers hear "down".
                self._went_down(error)
                for request in requests:
                    rs.settle(request, error=self._down())
            except Exception as error:  # a bug or a Redis refusal: those callers hear it
                log.exception("backplane: writing %d requests failed", len(requests))
                for request in requests:
                    rs.settle(request, error=BackplaneError(f"Redis refused the write: {error}"))

    async def _write(self, requests: list[rs.WriteRequest]) -> None:
        """One pipeline for all *requests*; each settled with its positions.
        A script Redis lost (a restart) or a lost epoch: reload, and again."""
        keys = self.keys
        for _attempt in range(3):
            async with self.client.pipeline(transaction=False) as pipe:
                for r in requests:
                    args = rs.publish_args(r.feed, self.history_size, r.gap, r.points)
                    key_names = [keys.epoch, keys.seqs, keys.names, keys.control]
                    pipe.evalsha(self._shas["publish"], 5, *key_names, keys.stream(r.feed), *args)
                results = await pipe.execute(raise_on_error=False)
            again = rs.settle_all(requests, results)
            if not again:
                return
            requests = again
            await self._prepare()
        for request in requests:
            rs.settle(request, error=BackplaneError("Redis lost its scripts or epoch again"))

    # --- reading ----------------------------------------------------------

    async def points(self) -> AsyncIterator[Point]:
        while True:
            if not self._up:
                await self._come_back()
            self._read = asyncio.ensure_future(self._read_once())
            try:
                # Shielded: cancelling points() does not cancel the read itself.
                epoch, reply = await asyncio.shield(self._read)
            except rs.UNREACHABLE as error:
                self._went_down(error)
                continue
            if epoch is None:
                try:
                    epoch = await self._prepare()  # a new one, made once for everyone
                except rs.UNREACHABLE as error:
                    self._went_down(error)
                    continue
            if epoch != self.epoch:
                self._switch_epoch(epoch)
                continue  # read again from the start of every stream
            for point in self._take(reply):
                yield point

    async def _read_once(self) -> tuple[str | None, list[Any]]:
        streams = {self.keys.control: self._control_id}
        streams.update({self.keys.stream(f): i for f, i in self._last_ids.items()})
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.get(self.keys.epoch)
            pipe.xread(streams, count=READ_COUNT, block=BLOCK_MS)  # type: ignore[arg-type]
            epoch, reply = await pipe.execute()
        return (epoch.decode() if epoch else None), reply or []

    def _take(self, reply: list[Any]) -> list[Point]:
        """Points of one XREAD reply, after the control news it brought."""
        stream_prefix = self.keys.stream_prefix.encode()
        points: list[Point] = []
        for stream, entries in reply:
            if stream == self.keys.control.encode():
                for entry_id, fields in entries:
                    self._control_id = entry_id
                    self._control(fields)
                continue
            feed = stream[len(stream_prefix) :].decode()
            for entry_id, fields in entries:
                self._last_ids[feed] = entry_id
                epoch, point = rs.entry_point(feed, fields)
                if epoch == self.epoch:
                    points.append(point)
                    self._read_seqs[feed] = point.seq
        return points

    def _control(self, fields: Mapping[bytes, bytes]) -> None:
        if b"info" in fields:
            self._declare(fields[b"info"])
        if b"feed" in fields:
            # A feed's first point: its whole stream is new to this reader.
            self._last_ids.setdefault(fields[b"feed"].decode(), b"0-0")

    def _switch_epoch(self, epoch: str) -> None:
        """Redis lost its data: every stream starts again under *epoch*."""
        log.warning("backplane %s: epoch %s is gone; now %s", self.url.redacted, self.epoch, epoch)
        self.epoch = epoch
        self._last_ids = dict.fromkeys(self._last_ids, b"0-0")
        self._read_seqs = {}
        self.on_epoch(epoch)

    def _went_down(self, error: BaseException) -> None:
        if self._reconnect.failures == 0:
            self._reconnect.failed(self._clock())
        if self._up:
            self._up = False
            log.warning("backplane %s is down: %s", self.url.redacted, rs.reason(error))
            self.on_state(False)

    async def _went_back(self) -> bool:
        """Some feed's counter in Redis is below the last seq read from it."""
        feeds = list(self._read_seqs)
        if not feeds:
            return False
        counters = await self.client.hmget(self.keys.seqs, feeds)
        return any(int(c or 0) < self._read_seqs[f] for f, c in zip(feeds, counters, strict=True))

    async def _come_back(self) -> None:
        """Try again with backoff until Redis answers; then up again."""
        while True:
            await asyncio.sleep(max(0.0, self._reconnect.next_at - self._clock()))
            # None left broken from before (idle ones: the writer is idle while down).
            await self.client.connection_pool.disconnect(inuse_connections=False)
            try:
                epoch = await self._prepare()
                if epoch == self.epoch and await self._went_back():
                    # Same epoch, older numbers (an fsync-less restart, an old
                    # snapshot): seqs would be given twice; a new epoch instead.
                    epoch = await self._prepare(replace=epoch)
            except rs.UNREACHABLE as error:
                self._reconnect.failed(self._clock())
                log.debug("backplane still down: %s", rs.reason(error))
                continue
            self._reconnect.succeeded()
            if epoch != self.epoch:
                self._switch_epoch(epoch)  # Redis came back without its data
            self._up = True
            log.warning("backplane %s is up again", self.url.redacted)
            self.on_state(True)
            return
