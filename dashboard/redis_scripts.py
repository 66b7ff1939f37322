"""What dashboard/redis_backplane.py keeps in Redis, and how: keys, Lua, codecs.

Keys, all under one prefix (``livefeed:`` by default):

- ``epoch``: the epoch every instance numbers under. Made once (SET NX) when
  absent; gone means Redis lost its data, and the next instance to notice
  makes a new one (the script :data:`NEW_EPOCH` wins for exactly one).
- ``seqs``: a hash, each feed's last seq (HINCRBY by a batch's length).
- ``names``: a set, the feeds that have a stream.
- ``s:<feed>``: one stream per feed, capped near the history size (MAXLEN ~).
  An entry's fields: ``e`` epoch, ``s`` seq, ``t`` ts (ms), ``v`` values
  (JSON), ``g`` "1" when the line breaks before it.
- ``control``: a stream of news for every reader: ``feed`` (a feed's first
  point: read its stream from the start) and ``info`` (a pushed feed's
  declaration, as JSON).
- ``infos``: a hash, each announced feed's declaration, for late starters.

Helpers with no I/O: the script texts, the entry codec, the FeedInfo codec,
the reconnect backoff (with the clock passed in) and a queued write.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeout

from dashboard.backplane import BackplaneError, Position
from dashboard.protocol import Point
from feeds.base import FeedInfo, Series

DEFAULT_PREFIX = "livefeed:"
#: How many control entries (feed news) Redis keeps; a reader is never that far behind.
CONTROL_MAXLEN = 10_000

#: Number a batch of one feed and append it, atomically (one round trip).
#: KEYS: epoch, seqs, names, control, the feed's stream.
#: ARGV: feed, maxlen, gap ("0"/"1"), n, then n pairs of (ts, values JSON).
#: Returns {epoch, first seq}, or {"", 0} when there is no epoch (Redis lost
#: its data: make one with NEW_EPOCH, then publish again; nothing was written).
PUBLISH = """
local epoch = redis.call('GET', KEYS[1])
if not epoch then return {'', 0} end
local feed, maxlen, n = ARGV[1], ARGV[2], tonumber(ARGV[4])
local last = redis.call('HINCRBY', KEYS[2], feed, n)
local first = last - n + 1
if redis.call('SADD', KEYS[3], feed) == 1 then
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[5 + 2 * n], '*', 'feed', feed)
end
for i = 1, n do
  local gap = '0'
  if i == 1 then gap = ARGV[3] end
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', maxlen, '*',
    'e', epoch, 's', first + i - 1, 't', ARGV[3 + 2 * i], 'v', ARGV[4 + 2 * i], 'g', gap)
end
return {epoch, first}
"""

#: The epoch, made if absent, or replacing ARGV[3] if that is still the one
#: (Redis came back with older data: counters behind what was read). What
#: numbered under the old one goes too (counters, names, streams): the
#: numbering starts again at 1. Returns the epoch now in force.
#: KEYS: epoch, seqs, names. ARGV: a new epoch, the stream key prefix, the
#: epoch to replace ("" : none, only make one when absent).
NEW_EPOCH = """
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[3] then return current end
for _, name in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  redis.call('DEL', ARGV[2] .. name)
end
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
"""


@dataclass(frozen=True)
class Keys:
    """Every key name under *prefix*."""

    prefix: str = DEFAULT_PREFIX

    @property
    def epoch(self) -> str:
        return f"{self.prefix}epoch"

    @property
    def seqs(self) -> str:
        return f"{self.prefix}seqs"

    @property
    def names(self) -> str:
        return f"{self.prefix}names"

    @property
    def control(self) -> str:
        return f"{self.prefix}control"

    @property
    def infos(self) -> str:
        return f"{self.prefix}infos"

    @property
    def stream_prefix(self) -> str:
        return f"{self.prefix}s:"

    def stream(self, feed: str) -> str:
        return f"{self.stream_prefix}{feed}"


def publish_args(
    feed: str, maxlen: int, gap: bool, points: list[tuple[Mapping[str, Any], int]]
) -> list[Any]:
    """PUBLISH's ARGV for *points* (values, ts) of *feed*."""
    args: list[Any] = [feed, maxlen, "1" if gap else "0", len(points)]
    for values, ts in points:
        args += [ts, orjson.dumps(values)]
    args.append(CONTROL_MAXLEN)
    return args


def entry_point(feed: str, fields: Mapping[bytes, bytes]) -> tuple[str, Point]:
    """A stream entry as (its epoch, the Point)."""
    point = Point(
        feed,
        int(fields[b"s"]),
        int(fields[b"t"]),
        orjson.loads(fields[b"v"]),
        fields.get(b"g") == b"1",
    )
    return fields[b"e"].decode(), point


def encode_info(info: FeedInfo) -> bytes:
    """A feed's declaration as JSON, every field (not only what viewers see)."""
    data = {f.name: getattr(info, f.name) for f in dataclasses.fields(info) if f.init}
    data["series"] = [dataclasses.asdict(s) for s in info.series]
    return orjson.dumps(data)


def decode_info(raw: bytes | str) -> FeedInfo:
    """The FeedInfo *raw* declares; ValueError (or TypeError) if it is not one."""
    data = orjson.loads(raw)
    if not isinstance(data, dict) or not isinstance(data.get("series"), list):
        raise ValueError("not a feed declaration")
    series = tuple(Series(**s) for s in data.pop("series"))
    return FeedInfo(series=series, **data)


@dataclass
class Reconnect:
    """When to try reaching Redis again: exponential backoff from *base* up to
    *cap* seconds. Pure: every decision takes ``now`` (monotonic seconds)."""

    base: float = 0.05
    cap: float = 2.0
    failures: int = 0
    next_at: float = 0.0

    def failed(self, now: float) -> float:
        """Count a failed attempt; the delay before the next one."""
        delay = min(self.cap, self.base * 2.0**self.failures)
        self.failures += 1
        self.next_at = now + delay
        return delay

    def succeeded(self) -> None:
        self.failures = 0
        self.next_at = 0.0

    def retry_after(self, now: float) -> float:
        """Seconds a refused writer should wait: until the next attempt, at least 0.1."""
        return max(0.1, self.next_at - now)


#: Errors that mean Redis cannot be reached (a refused or broken connection,
#: a timeout): the backplane is down, not the request wrong.
UNREACHABLE = (RedisConnectionError, RedisTimeout, OSError, asyncio.TimeoutError)


@dataclass
class WriteRequest:
    feed: str
    points: list[tuple[Mapping[str, Any], int]]
    gap: bool
    future: asyncio.Future[list[Position]] = field(repr=False)


def settle(
    request: WriteRequest, positions: list[Position] | None = None, error: Exception | None = None
) -> None:
    if request.future.done():
        return  # its caller gave up waiting
    if error is not None:
        request.future.set_exception(error)
    else:
        request.future.set_result(positions or [])


def settle_all(requests: list[WriteRequest], results: list[Any]) -> list[WriteRequest]:
    """Settle each request with its PUBLISH result; those to send again (a
    script or the epoch Redis lost: nothing of them was written)."""
    again = []
    for request, result in zip(requests, results, strict=True):
        if isinstance(result, NoScriptError) or (isinstance(result, list) and not result[0]):
            again.append(request)
        elif isinstance(result, Exception):
            settle(request, error=BackplaneError(f"Redis refused the write: {result}"))
        else:
            epoch, first = result[0].decode(), int(result[1])
            settle(request, [Position(first + i, epoch) for i in range(len(request.points))])
    return again


def reason(error: BaseException) -> str:
    """One line about *error* (redis-py's messages name host:port, never a password)."""
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
