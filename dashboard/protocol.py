"""The wire protocol as pure code: encode server messages, parse client ones.

No I/O here: the server layer only moves the strings this module makes. The
messages are documented in docs/protocol.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import orjson

from dashboard.points import MAX_SAFE_INTEGER

PROTOCOL_VERSION = 2

#: Bounds on what a client may ask for in one message.
MAX_NAMES = 1024
MAX_PING_ID_LENGTH = 64
MAX_EPOCH_LENGTH = 64
#: The error code of a subscribe listing more names than the server allows.
TOO_MANY_NAMES = "too_many_names"
#: How much of a client's own text an error message may quote back.
MAX_QUOTE = 64
MAX_QUOTED_NAMES = 5


class CloseCode(IntEnum):
    """Every WebSocket close code the dashboard sends or reads (RFC 6455 §7.4,
    and one of the application range 4000-4999)."""

    NORMAL = 1000
    GOING_AWAY = 1001  # the server shuts down: reconnect and resume
    PROTOCOL_ERROR = 1002
    NO_STATUS = 1005  # a close frame without a code (never sent)
    ABNORMAL = 1006  # no close frame at all (never sent)
    INVALID_DATA = 1007
    POLICY = 1008  # a limit was broken, or the viewer was too slow
    TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    #: The viewer's login session ended (logout or expiry): "401, on a WebSocket".
    SESSION_ENDED = 4401


class ProtocolError(Exception):
    """A client message was rejected; ``code`` is the machine-readable reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Point:
    """One update of one feed, as sequenced by the backplane.

    ``gap`` says the feed's line breaks before this point (the feed yielded a
    break, or restarted without continuing from its last point); on the wire
    the key is present only when true, so other points stay byte-identical.

    ``wire`` caches the point's JSON so that a point going to many batches,
    snapshots and replays is encoded once. It is kept as ``str``: orjson's
    ``bytes`` hold a 4 KiB allocation whatever their length, 30 times the
    text, which a history of 100,000s of points cannot afford.
    """

    __slots__ = ("feed", "seq", "ts", "values", "gap", "_wire")

    def __init__(
        self, feed: str, seq: int, ts: int, values: Mapping[str, Any], gap: bool = False
    ) -> None:
        self.feed = feed
        self.seq = seq
        self.ts = ts
        self.values = values
        self.gap = gap
        self._wire: str | None = None

    def to_dict(self) -> dict[str, Any]:
        point = {"feed": self.feed, "seq": self.seq, "ts": self.ts, "values": dict(self.values)}
        if self.gap:
            point["gap"] = True
        return point

    @classmethod
    def from_wire(cls, text: str) -> Point:
        """The point whose ``wire`` is *text* (as kept by a history store)."""
        data = orjson.loads(text)
        point = cls(data["feed"], data["seq"], data["ts"], data["values"], data.get("gap") is True)
        point._wire = text
        return point

    @property
    def wire(self) -> str:
        if self._wire is None:
            self._wire = orjson.dumps(self.to_dict()).decode()
        return self._wire

    def wire_for(self, series: frozenset[str] | None) -> str:
        """The JSON of this point narrowed to *series* (None: every series)."""
        if series is None:
            return self.wire
        values = {k: v for k, v in self.values.items() if k in series}
        point = {"feed": self.feed, "seq": self.seq, "ts": self.ts, "values": values}
        if self.gap:
            point["gap"] = True
        return orjson.dumps(point).decode()

    def __repr__(self) -> str:
        gap = ", gap=True" if self.gap else ""
        values = dict(self.values)
        return f"Point({self.feed!r}, seq={self.seq}, ts={self.ts}, values={values!r}{gap})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Point):
            return NotImplemented
        return (self.feed, self.seq, self.ts, dict(self.values), self.gap) == (
            other.feed,
            other.seq,
            other.ts,
            dict(other.values),
            other.gap,
        )

    __hash__ = None  # type: ignore[assignment]


# --- client -> server -------------------------------------------------------


@dataclass(frozen=True)
class Resume:
    epoch: str
    seqs: Mapping[str, int]


@dataclass(frozen=True)
class Subscribe:
    """``feeds``/``series`` None means "all"; ``resume`` asks for missed points."""

    feeds: frozenset[str] | None = None
    series: frozenset[str] | None = None
    resume: Resume | None = None


@dataclass(frozen=True)
class Ping:
    id: int | str | None = None


@dataclass(frozen=True)
class CandlesRequest:
    """Candles of one level series; ``interval`` None stops them."""

    feed: str
    series: str
    interval: str | None


ClientMessage = Subscribe | Ping | CandlesRequest

#: The fields each message may carry: anything else is refused.
_RESUME_FIELDS = frozenset({"epoch", "seqs"})
_SUBSCRIBE_FIELDS = frozenset({"type", "feeds", "series", "resume"})
_PING_FIELDS = frozenset({"type", "id"})
_CANDLES_FIELDS = frozenset({"type", "feed", "series", "interval"})


def quote(value: Any) -> str:
    """repr() cut short: an error must not echo a client's megabytes back."""
    text = repr(value)
    return text if len(text) <= MAX_QUOTE else text[: MAX_QUOTE - 3] + "..."


def quote_names(names: Iterable[str]) -> str:
    """A few of *names*, quoted, for an error message."""
    names = sorted(names)
    shown = ", ".join(quote(n) for n in names[:MAX_QUOTED_NAMES])
    more = len(names) - MAX_QUOTED_NAMES
    return shown + (f" and {more} more" if more > 0 else "")


def _check_fields(message: Mapping[str, Any], known: frozenset[str], what: str) -> None:
    # A misspelt field ("feed" for "feeds") would otherwise be ignored and
    # change the meaning silently (every feed instead of one).
    extra = message.keys() - known
    if extra:
        allowed = ", ".join(sorted(known))
        text = f"{what} has unknown field(s) {quote_names(extra)}; it may have {allowed}"
        raise ProtocolError("bad_message", text)


def _names(value: Any, field: str, max_names: int) -> frozenset[str] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise ProtocolError("bad_message", f"'{field}' must be a list of strings")
    if len(value) > max_names:
        raise ProtocolError(TOO_MANY_NAMES, f"'{field}' lists more than {max_names} names")
    if not all(isinstance(v, str) for v in value):
        raise ProtocolError("bad_message", f"'{field}' must be a list of strings")
    return frozenset(value)


def _resume(value: Any, max_names: int) -> Resume | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ProtocolError("bad_message", "'resume' must be an object")
    _check_fields(value, _RESUME_FIELDS, "'resume'")
    epoch, seqs = value.get("epoch"), value.get("seqs")
    if not isinstance(epoch, str) or len(epoch) > MAX_EPOCH_LENGTH:
        message = f"'resume.epoch' must be a string of <= {MAX_EPOCH_LENGTH} characters"
        raise ProtocolError("bad_message", message)
    if not isinstance(seqs, dict):
        raise ProtocolError("bad_message", "'resume.seqs' must be an object")
    if len(seqs) > max_names:
        raise ProtocolError(TOO_MANY_NAMES, f"'resume.seqs' lists more than {max_names} feeds")
    for feed, seq in seqs.items():
        # bool is an int subclass; beyond 2**53-1 no browser could have held it.
        if type(seq) is not int or not 0 <= seq <= MAX_SAFE_INTEGER:
            message = f"'resume.seqs' of {quote(feed)} must be an integer from 0 to 2**53-1"
            raise ProtocolError("bad_message", message)
    return Resume(epoch=epoch, seqs=dict(seqs))


def _parse_subscribe(message: dict[str, Any], max_names: int) -> Subscribe:
    _check_fields(message, _SUBSCRIBE_FIELDS, "subscribe")
    return Subscribe(
        feeds=_names(message.get("feeds"), "feeds", max_names),
        series=_names(message.get("series"), "series", max_names),
        resume=_resume(message.get("resume"), max_names),
    )


def _parse_ping(message: dict[str, Any], max_names: int) -> Ping:
    _check_fields(message, _PING_FIELDS, "ping")
    ping_id = message.get("id")
    if ping_id is not None and not (
        (type(ping_id) is int and abs(ping_id) <= MAX_SAFE_INTEGER)
        or (isinstance(ping_id, str) and len(ping_id) <= MAX_PING_ID_LENGTH)
    ):
        raise ProtocolError("bad_message", "'id' must be a safe integer or a short string")
    return Ping(id=ping_id)


def _parse_candles(message: dict[str, Any], max_names: int) -> CandlesRequest:
    # Names and intervals are checked against the feeds by the candle board.
    _check_fields(message, _CANDLES_FIELDS, "candles")
    feed, series, interval = message.get("feed"), message.get("series"), message.get("interval")
    if not isinstance(feed, str):
        raise ProtocolError("bad_message", "candles needs a string 'feed'")
    if not isinstance(series, str):
        raise ProtocolError("bad_message", "candles needs a string 'series'")
    if interval is not None and not isinstance(interval, str):
        raise ProtocolError("bad_message", "'interval' must be a string (or null to stop)")
    return CandlesRequest(feed=feed, series=series, interval=interval)


_PARSERS: dict[str, Callable[[dict[str, Any], int], ClientMessage]] = {
    "subscribe": _parse_subscribe,
    "ping": _parse_ping,
    "candles": _parse_candles,
}


def parse_client_message(data: str | bytes | None, max_names: int = MAX_NAMES) -> ClientMessage:
    """Parse one client frame, or raise :class:`ProtocolError` (and nothing else:
    tests/unit/test_protocol_properties.py throws generated input at it). A
    subscribe may list at most *max_names* feeds, series or resumed feeds.

    *data* is ``None`` for an empty binary frame: Quart hands that over as
    ``None``, not ``b""``. orjson refuses what must not get further: invalid
    UTF-8 and lone surrogates, numbers that overflow a double (``1e400``, a
    5,000-digit integer), and nesting deeper than 1024 levels.
    """
    if not data:
        raise ProtocolError("bad_json", "empty message")
    try:
        message = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError("bad_json", f"not valid JSON: {exc}") from None
    if not isinstance(message, dict):
        raise ProtocolError("bad_message", "a message must be a JSON object")
    kind = message.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("bad_message", "a message needs a string 'type'")
    parser = _PARSERS.get(kind)
    if parser is None:
        known = ", ".join(sorted(_PARSERS))
        raise ProtocolError("unknown_type", f"unknown message type {quote(kind)}; known: {known}")
    return parser(message, max_names)


# --- server -> client -------------------------------------------------------


def _points_array(points: Iterable[Point], series: frozenset[str] | None) -> str:
    return "[" + ",".join([p.wire_for(series) for p in points]) + "]"


def _frame(head: Mapping[str, Any], points: str) -> str:
    # The head is tiny; splice the pre-encoded points array in as raw JSON.
    return orjson.dumps(head).decode()[:-1] + ',"points":' + points + "}"


def encode_hello(
    epoch: str,
    flush_interval: float,
    feeds: Sequence[Mapping[str, Any]],
    backplane_up: bool = True,
) -> str:
    """``backplane_up``: False while the shared backplane cannot be reached
    (points paused); later changes come as ``backplane`` messages."""
    return orjson.dumps(
        {
            "type": "hello",
            "protocol": PROTOCOL_VERSION,
            "epoch": epoch,
            "flush_interval_ms": round(flush_interval * 1000),
            "backplane_up": backplane_up,
            "feeds": list(feeds),
        }
    ).decode()


def encode_backplane(up: bool) -> str:
    """The shared backplane went down (no new points until it is back) or up."""
    return orjson.dumps({"type": "backplane", "up": up}).decode()


def encode_feeds_added(feeds: Sequence[Mapping[str, Any]]) -> str:
    """Feeds created since the viewer's hello, declared as the hello declares them."""
    return orjson.dumps({"type": "feeds", "added": list(feeds)}).decode()


def encode_snapshot(
    epoch: str,
    feeds: Sequence[str],
    points: Iterable[Point],
    *,
    reset: bool,
    series: frozenset[str] | None = None,
) -> str:
    head = {"type": "snapshot", "epoch": epoch, "reset": reset, "feeds": list(feeds)}
    return _frame(head, _points_array(points, series))


def encode_replay(
    epoch: str, feeds: Sequence[str], points: Iterable[Point], series: frozenset[str] | None = None
) -> str:
    head = {"type": "replay", "epoch": epoch, "feeds": list(feeds)}
    return _frame(head, _points_array(points, series))


def encode_batch(
    points: Iterable[Point], series: frozenset[str] | None = None, *, conflated: bool = False
) -> str:
    """Live points. ``conflated``: the client fell behind and gets only the
    latest point per feed of what it missed (its seqs jump)."""
    head = {"type": "batch", "conflated": True} if conflated else {"type": "batch"}
    return _frame(head, _points_array(points, series))


def encode_status(feeds: Mapping[str, Mapping[str, Any]]) -> str:
    return orjson.dumps({"type": "status", "feeds": feeds}).decode()


def encode_candles(
    feed: str, series: str, interval: str, bars: Iterable[Mapping[str, Any]], *, reset: bool
) -> str:
    """Bars of one candle subscription: all of them (``reset``), or those a
    flush opened or changed."""
    head = {"type": "candles", "feed": feed, "series": series, "interval": interval}
    return orjson.dumps({**head, "reset": reset, "bars": list(bars)}).decode()


def encode_pong(ping: Ping) -> str:
    return orjson.dumps({"type": "pong", "id": ping.id}).decode()


def encode_error(error: ProtocolError) -> str:
    return orjson.dumps({"type": "error", "code": error.code, "message": error.message}).decode()
