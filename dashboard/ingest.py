"""Push ingest's rules: parsing and validating what external programs send.

``POST /api/feeds/<feed>/points`` takes a JSON array or NDJSON of points;
``/api/ingest`` is a WebSocket taking ``{"feed", "points"}`` messages. Every
request is validated whole before anything is written: a rejected one creates
no feed, adds no series and publishes nothing. A feed created by ingest may
take new series in a later request (``Batch.grown``), up to MAX_SERIES. This
module is those checks, as pure functions raising :class:`IngestError`; it
loads no web framework. The routes that move the bytes are
dashboard/web/ingest.py; the bearer token check is
``dashboard.access.authorized``. See the "Push ingest" section of docs/protocol.md.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass, replace
from typing import Any

import orjson

from dashboard.announce import too_many_feeds
from dashboard.points import (
    MAX_FUTURE_MS,
    MAX_SAFE_INTEGER,
    MIN_TS_MS,
    PointError,
    check_ts,
    check_value,
    kind_of,
    unknown_series,
)
from dashboard.protocol import quote
from feeds.base import FeedInfo, Series, check_name

#: A feed created by ingest declares at most this many series, however many
#: requests add them.
MAX_SERIES = 256
NAME_RULE = "use 1-64 letters, digits, '_', '.', '-', starting with a letter or digit"
JSON, NDJSON = "application/json", "application/x-ndjson"


class IngestError(Exception):
    """A rejected request: HTTP ``status``, machine-readable ``code``, and the
    index of the first bad point where there is one."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        index: int | None = None,
        *,
        retry_after: int = 0,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.index = status, code, message, index
        #: Seconds to wait before sending it again (a 503's Retry-After); 0: none.
        self.retry_after = retry_after

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.message, "code": self.code}
        if self.index is not None:
            body["index"] = self.index
        if self.retry_after:
            body["retry_after"] = self.retry_after
        return body


@dataclass(frozen=True)
class Batch:
    """A validated request: points to publish in order, and the feed to create
    (or the grown declaration to take) first."""

    feed: str
    points: list[tuple[dict[str, Any], int | None]]
    new_feed: FeedInfo | None = None
    #: An existing pushed feed's declaration with the series this request adds.
    grown: FeedInfo | None = None


# --- parsing and validation ----------------------------------------------------------


def check_feed_name(feed: Any) -> str:
    try:
        return check_name(feed, "feed")
    except ValueError:
        raise IngestError(
            400, "bad_feed_name", f"invalid feed name {quote(feed)}: {NAME_RULE}"
        ) from None


def _loads(data: bytes | str, what: str, index: int | None = None) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise IngestError(400, "bad_json", f"{what} is not valid JSON: {exc}", index) from None


def _check_count(count: int, max_points: int) -> None:
    if count > max_points:
        raise IngestError(413, "too_many_points", f"more than {max_points} points in one request")
    if not count:
        raise IngestError(400, "no_points", "no points: send at least one")


def parse_json(data: bytes, max_points: int) -> list[Any]:
    """A JSON array of points (not yet validated)."""
    points = _loads(data, "the body")
    if not isinstance(points, list):
        raise IngestError(400, "bad_body", "the body must be a JSON array of points")
    _check_count(len(points), max_points)
    return points


def parse_ndjson(data: bytes, max_points: int) -> list[Any]:
    """One JSON point per line; blank lines are skipped and ``index`` counts points."""
    lines = [(n, line) for n, line in enumerate(data.split(b"\n"), 1) if line.strip()]
    _check_count(len(lines), max_points)
    return [_loads(line, f"line {n}", i) for i, (n, line) in enumerate(lines)]


def body_parser(mimetype: str) -> Callable[[bytes, int], list[Any]]:
    """The parser for a request's Content-Type (without parameters), else 415."""
    parser = {JSON: parse_json, NDJSON: parse_ndjson}.get(mimetype.lower())
    if parser is None:
        raise IngestError(
            415,
            "unsupported_media_type",
            f"Content-Type must be {JSON} or {NDJSON}, not {quote(mimetype or '(none)')}",
        )
    return parser


def parse_ws_message(data: str | bytes, max_points: int) -> tuple[str, list[Any]]:
    """One WebSocket message ``{"feed": ..., "points": [...]}``; raises
    :class:`IngestError` and nothing else (tests/unit/test_protocol_properties.py)."""
    if not data:
        raise IngestError(400, "bad_json", "empty message")
    message = _loads(data, "the message")
    if not isinstance(message, dict):
        raise IngestError(400, "bad_message", "a message must be a JSON object")
    extra = message.keys() - {"feed", "points"}
    if extra:
        raise IngestError(400, "bad_message", f"unknown field(s) {quote(sorted(extra))}")
    feed, points = check_feed_name(message.get("feed")), message.get("points")
    if not isinstance(points, list):
        raise IngestError(400, "bad_message", "'points' must be a JSON array of points")
    _check_count(len(points), max_points)
    return feed, points


_POINT_FIELDS = frozenset({"ts", "values"})


def _check_point(
    feed: str,
    i: int,
    raw: Any,
    known: Mapping[str, str],
    now_ms: int,
    added: dict[str, str] | None,
) -> tuple[dict[str, Any], int | None]:
    """One point of a request. A series *known* lacks is refused, unless
    *added* (a new or pushed feed's series this request adds, name -> kind)
    is given: then it is named there, its kind that of its first value."""
    if not isinstance(raw, dict):
        raise IngestError(400, "bad_point", f"point {i}: must be an object", i)
    if not raw.keys() <= _POINT_FIELDS:
        extra = raw.keys() - _POINT_FIELDS
        message = f"point {i}: unknown field(s) {quote(sorted(extra))}; a point has ts, values"
        raise IngestError(400, "bad_point", message, i)
    ts, values = raw.get("ts"), raw.get("values")
    if not isinstance(values, dict) or not values:
        message = f"point {i}: needs 'values', a non-empty object of series to numbers"
        raise IngestError(400, "bad_point", message, i)
    try:
        # The one rule for points (dashboard/points.py): a feed yielding the
        # same value is refused with the same message.
        if ts is not None:
            check_ts(ts, now_ms)
        checked: dict[str, Any] = {}
        for name, value in values.items():
            kind = known.get(name)
            if kind is None:
                if added is None:
                    raise unknown_series(feed, name, known)
                kind = added.get(name)
                if kind is None:
                    try:
                        check_name(name, "series")
                    except ValueError:
                        message = f"point {i}: invalid series name {quote(name)}: {NAME_RULE}"
                        raise IngestError(400, "bad_series_name", message, i) from None
                    # A new series is a bar where the data sends an object.
                    kind = added[name] = kind_of(value)
            checked[name] = check_value(name, value, kind)
    except PointError as error:
        raise IngestError(400, error.code, f"point {i}: {error.message}", i) from None
    return checked, ts


def prepare(
    feed: str,
    raw_points: list[Any],
    feeds: Mapping[str, FeedInfo],
    *,
    create: bool,
    now_ms: int,
    max_feeds: int | None = None,
    pushed: Container[str] = frozenset(),
) -> Batch:
    """Validate every point of a request for *feed*; raise at the first bad one.
    A new feed needs *create* and, if given, fewer than *max_feeds* feeds. A
    feed in *pushed* (created by ingest) may take series it lacks (``Batch.grown``);
    any other existing feed's series are fixed."""
    info = _target(feed, feeds, create=create, max_feeds=max_feeds)
    known: Mapping[str, str] = info.series_kinds if info is not None else {}
    # Series this request adds, name -> kind, in order of first appearance.
    added: dict[str, str] | None = {} if info is None or feed in pushed else None
    points = []
    for i, raw in enumerate(raw_points):
        points.append(_check_point(feed, i, raw, known, now_ms, added))
        if added and len(known) + len(added) > MAX_SERIES:
            raise IngestError(400, "too_many_series", too_many_series(feed, i, info), i)
    if not added:
        return Batch(feed, points)
    declared = tuple(Series(name, kind=kind) for name, kind in added.items())
    if info is None:
        return Batch(feed, points, FeedInfo(feed, series=declared))
    return Batch(feed, points, grown=replace(info, series=info.series + declared))


def too_many_series(feed: str, i: int, info: FeedInfo | None) -> str:
    """Why point *i* is refused: its feed would pass MAX_SERIES series."""
    if info is None:
        return f"point {i}: a new feed may have at most {MAX_SERIES} series"
    return (
        f"point {i}: feed {feed!r} would have more than {MAX_SERIES} series, "
        f"the most a pushed feed may have (it has {len(info.series)}); nothing was written"
    )


def _target(
    feed: str, feeds: Mapping[str, FeedInfo], *, create: bool, max_feeds: int | None
) -> FeedInfo | None:
    """*feed*'s info, or None for a feed this request may create; else refused."""
    info = feeds.get(feed)
    if info is None and not create:
        raise IngestError(404, "unknown_feed", f"unknown feed {feed!r}")
    if info is None and max_feeds is not None and len(feeds) >= max_feeds:
        raise IngestError(409, "too_many_feeds", too_many_feeds(feed, max_feeds))
    return info


def prepare_numbers(
    feed: str,
    points: list[tuple[dict[str, int | float], int]],
    feeds: Mapping[str, FeedInfo],
    *,
    create: bool,
    now_ms: int,
    max_feeds: int | None = None,
    pushed: Container[str] = frozenset(),
) -> Batch:
    """:func:`prepare` for points that are already (values, ts): values ints
    (not bools) and floats, ts ints, as line protocol's are. Checked by column
    (every ts, value and distinct series name once) rather than point by point,
    to the same Batch; where a check fails, :func:`prepare` checks them one by
    one, for its own answer (its error naming the point, or the same Batch)."""
    info = _target(feed, feeds, create=create, max_feeds=max_feeds)
    names: dict[str, int | float] = {}  # the keys: series in order of first appearance
    safe = MAX_SAFE_INTEGER
    fine = bool(points)
    for values, _ in points:
        names.update(values)
        for value in values.values():
            if not -safe <= value <= safe:  # inf, nan, a big int; or a big float: prepare sees
                fine = False
    if fine:
        stamps = [ts for _, ts in points]
        fine = MIN_TS_MS <= min(stamps) and max(stamps) <= now_ms + MAX_FUTURE_MS
    if fine and info is not None:
        kinds = info.series_kinds
        fine = all(kinds.get(name) == "line" for name in names)
    elif fine:
        fine = len(names) <= MAX_SERIES and all(_valid_name(name) for name in names)
    if not fine:
        raw = [{"ts": ts, "values": values} for values, ts in points]
        return prepare(
            feed, raw, feeds, create=create, now_ms=now_ms, max_feeds=max_feeds, pushed=pushed
        )
    if info is not None:
        return Batch(feed, list(points))
    declared = tuple(Series(name, kind="line") for name in names)
    return Batch(feed, list(points), FeedInfo(feed, series=declared))


def _valid_name(name: str) -> bool:
    try:
        check_name(name, "series")
    except ValueError:
        return False
    return True
