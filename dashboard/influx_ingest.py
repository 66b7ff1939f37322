"""InfluxDB writes as push ingest: line protocol mapped onto feeds and series.

The bucket (2.x) or database (1.x) names the feed; each field of each line is
a series named ``<measurement>.<field>`` followed by ``.<value>`` of every tag,
in the order of the tag keys (``cpu,host=web1,cpu=cpu0 usage_user=3`` is
series ``cpu.usage_user.cpu0.web1``), any character a series name may not hold
(anything but letters, digits, ``_``, ``.``, ``-``) written ``_``; one line is
one point. A new series is drawn on the chart of its measurement and field
(its ``panel`` is ``<measurement>.<field>``): the hosts of ``cpu usage_user``
share a chart, and a percentage is not drawn flat on the axis of a byte count
(line protocol carries no units). The points then go through push ingest's own checks
(dashboard/ingest.py ``prepare``: the series rule, the values, timestamps,
``max_feeds``...), with the message's ``point <i>`` told as ``line <n>``.

Also the pieces of the two write APIs that are rules, not web: the token as
InfluxDB clients send it, a gzip body inflated within a cap, and InfluxDB's
error body. Pure: no web framework. See docs/protocol.md "InfluxDB line protocol".
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import zlib
from collections.abc import Container, Mapping
from dataclasses import replace
from typing import Any

from dashboard.ingest import Batch, IngestError, prepare_numbers
from dashboard.line_protocol import (
    Line,
    LineProtocolError,
    Points,
    check_precision,
    parse_points,
)
from dashboard.protocol import quote
from feeds.base import FeedInfo, Series

#: InfluxDB's error ``code`` for each HTTP status it answers.
INFLUX_CODES = {
    400: "invalid",
    401: "unauthorized",
    404: "not found",
    408: "invalid",
    409: "conflict",
    413: "request too large",
    415: "unsupported media type",
    503: "unavailable",
}
_NOT_IN_NAMES = re.compile(r"[^A-Za-z0-9_.\-]")
_POINT_PREFIX = re.compile(r"^point (\d+): ")
#: Decompressed per call while inflating: a bomb is stopped within this of its cap.
_INFLATE_STEP = 1 << 16


def series_name(measurement: str, tags: tuple[tuple[str, str], ...], field: str) -> str:
    """The series a field of a line is plotted as (see the module's docstring)."""
    parts = [measurement, field, *(value for _, value in sorted(tags))]
    return _NOT_IN_NAMES.sub("_", ".".join(parts))


def to_batch(
    feed: str,
    points: Points,
    feeds: Mapping[str, FeedInfo],
    *,
    create: bool,
    now_ms: int,
    max_feeds: int | None = None,
    pushed: Container[str] = frozenset(),
) -> Batch:
    """Push ingest's Batch for *points* written to *feed*, checked as a JSON
    request's points are (a *pushed* feed may grow); IngestError naming the first bad line."""
    checked: list[tuple[dict[str, int | float], int]] = []
    # Series keys repeat from line to line: each is named once per request.
    names: dict[str, dict[str, str]] = {}  # head as written -> field -> series
    origin: dict[str, tuple[str, tuple[tuple[str, str], ...], str]] = {}
    for i, (head, fields, ts) in enumerate(points.rows):
        named = names.get(head)
        if named is None:
            named = names[head] = {}
        values: dict[str, int | float] = {}
        for field, value in fields:
            name = named.get(field)
            if name is None:
                name = named[field] = _new_name(points.line(i), field, origin)
            values[name] = value
        checked.append((values, ts))
    try:
        batch = prepare_numbers(
            feed,
            checked,
            feeds,
            create=create,
            now_ms=now_ms,
            max_feeds=max_feeds,
            pushed=pushed,
        )
    except IngestError as error:
        if error.index is None:
            raise
        number = points.numbers[error.index]
        message = _POINT_PREFIX.sub(f"line {number}: ", error.message)
        raise IngestError(error.status, error.code, message, number) from None
    held = feeds.get(feed)
    return _with_panels(batch, origin, held.series_names if held else frozenset())


def _with_panels(
    batch: Batch,
    origin: Mapping[str, tuple[str, tuple[tuple[str, str], ...], str]],
    held: Container[str],
) -> Batch:
    """*batch* with the series it declares (a new feed's, or those a feed
    grows by; not the *held* ones, which keep their declaration) on the chart
    of their measurement and field."""

    def hinted(info: FeedInfo) -> FeedInfo:
        series = tuple(
            s if s.name in held or s.name not in origin else replace(s, panel=_panel(s, origin))
            for s in info.series
        )
        return replace(info, series=series)

    if batch.new_feed is not None:
        return replace(batch, new_feed=hinted(batch.new_feed))
    if batch.grown is not None:
        return replace(batch, grown=hinted(batch.grown))
    return batch


def _panel(series: Series, origin: Mapping[str, tuple[str, Any, str]]) -> str:
    measurement, _, field = origin[series.name]
    return _NOT_IN_NAMES.sub("_", f"{measurement}.{field}")


def _new_name(
    line: Line, field: str, origin: dict[str, tuple[str, tuple[tuple[str, str], ...], str]]
) -> str:
    """The series name of a field not named yet in this request; refused if
    another measurement, tag set or field of it has the same name."""
    tags = tuple(sorted(line.tags))
    name = series_name(line.measurement, tags, field)
    key = (line.measurement, tags, field)
    if origin.setdefault(name, key) != key:
        message = (
            f"line {line.number}: measurement {quote(line.measurement)}, field "
            f"{quote(field)} and its tags make series name {quote(name)}, as other "
            "names do in this request (characters other than letters, digits, "
            "'_', '.', '-' become '_')"
        )
        raise IngestError(400, "series_name_clash", message, line.number)
    return name


def parse_body(data: bytes, precision: str | None, now_ms: int, max_points: int) -> Points:
    """The lines of a write request's (inflated) body; IngestError if refused
    (``index``: the bad line's number)."""
    try:
        checked = check_precision(precision)
    except ValueError as error:
        raise IngestError(400, "bad_precision", str(error)) from None
    try:
        text = data.decode()
    except UnicodeDecodeError as error:
        number = data.count(b"\n", 0, error.start) + 1
        raise IngestError(400, "bad_encoding", f"line {number}: not UTF-8", number) from None
    try:
        lines = parse_points(text, checked, now_ms, max_points)
    except LineProtocolError as error:
        if not error.line:
            raise IngestError(413, "too_many_points", error.message) from None
        raise IngestError(400, "bad_line", error.message, error.line) from None
    if not lines:
        raise IngestError(400, "no_points", "no points: send at least one line")
    return lines


def gunzip(data: bytes, max_bytes: int) -> bytes:
    """*data* inflated, or 413 as soon as it passes *max_bytes* (a gzip bomb is
    never inflated whole); 400 if it is not gzip."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    too_large = IngestError(413, "too_large", f"the decompressed body is over {max_bytes} bytes")
    out: list[bytes] = []
    size = 0
    try:
        pending = data
        while True:
            chunk = inflater.decompress(pending, _INFLATE_STEP)
            size += len(chunk)
            if size > max_bytes:
                raise too_large
            out.append(chunk)
            pending = inflater.unconsumed_tail
            if not pending and not chunk:
                break
        if not inflater.eof:
            raise IngestError(400, "bad_gzip", "the gzip body is cut short")
    except zlib.error as error:
        raise IngestError(400, "bad_gzip", f"the body is not valid gzip: {error}") from None
    return b"".join(out)


def token_of(authorization: str | None, password: str | None = None) -> str | None:
    """The token a write carries: ``Authorization: Token <t>`` or ``Bearer <t>``
    (2.x and 1.x), else ``Basic`` user:<t> or the ``p`` parameter (1.x clients:
    *password*); None if none."""
    scheme, _, value = (authorization or "").strip().partition(" ")
    scheme, value = scheme.lower(), value.strip()
    if scheme in ("token", "bearer") and value:
        return value
    if scheme == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("latin-1")
        except (binascii.Error, ValueError):
            return None
        return decoded.partition(":")[2] or None
    return password or None


def token_matches(given: str | None, token: str) -> bool:
    """*given* is the ingest token; constant time in its contents."""
    if not given or not token:
        return False
    try:  # Quart decodes headers as latin-1: encoding back gives the bytes sent.
        sent = given.encode("latin-1")
    except UnicodeEncodeError:
        sent = given.encode()
    return hmac.compare_digest(sent, token.encode())


def influx_error(error: IngestError) -> dict[str, Any]:
    """InfluxDB's error body for *error*: ``code`` and ``message``, ``line``
    when one line is at fault, and push ingest's own code as ``livefeed_code``."""
    body: dict[str, Any] = {
        "code": INFLUX_CODES.get(error.status, "invalid"),
        "message": error.message,
        "livefeed_code": error.code,
    }
    if error.index is not None:
        body["line"] = error.index
    return body
