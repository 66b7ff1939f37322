"""Push ingest: external programs send points over HTTP or WebSocket.

``POST /api/feeds/<feed>/points`` takes a JSON array or NDJSON of points;
``/api/ingest`` is a WebSocket taking ``{"feed", "points"}`` messages, each
answered with an ack or an error. Both need ``Authorization: Bearer <token>``.
Every request is validated whole before anything is written: a rejected one
creates no feed and publishes nothing. Parsing and validation are the pure
functions below; the Quart layer at the end only moves bytes. See the "Push
ingest" section of docs/protocol.md.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from quart import Blueprint, Response, request, websocket
from werkzeug.exceptions import RequestEntityTooLarge

from dashboard.announce import too_many_feeds
from dashboard.logs import client_address, log_event
from dashboard.points import PointError, check_ts, check_value, now_ms, unknown_series
from dashboard.protocol import CloseCode
from feeds.base import FeedInfo, Series, check_name

if TYPE_CHECKING:
    from dashboard.hub_runner import HubRunner
    from dashboard.web.state import Runtime

log = logging.getLogger(__name__)

#: A feed created by ingest declares at most this many series.
MAX_SERIES = 256
#: WebSocket close code for a message over the size limit (RFC 6455: too big).
INGEST_WS_PATH = "/api/ingest"
DISABLED = "ingest is disabled (no token configured)"
NAME_RULE = "use 1-64 letters, digits, '_', '.', '-', starting with a letter or digit"
JSON, NDJSON = "application/json", "application/x-ndjson"


class IngestError(Exception):
    """A rejected request: HTTP ``status``, machine-readable ``code``, and the
    index of the first bad point where there is one."""

    def __init__(self, status: int, code: str, message: str, index: int | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.index = status, code, message, index

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.message, "code": self.code}
        if self.index is not None:
            body["index"] = self.index
        return body


@dataclass(frozen=True)
class Batch:
    """A validated request: points to publish in order, and the feed to create first."""

    feed: str
    points: list[tuple[dict[str, Any], int | None]]
    new_feed: FeedInfo | None = None


def _short(value: Any) -> str:
    """repr() cut short: error messages must not echo megabytes back."""
    text = repr(value)
    return text if len(text) <= 64 else text[:61] + "..."


# --- pure: auth, parsing, validation ------------------------------------------------


def authorized(header: str | None, token: str) -> bool:
    """True if the ``Authorization`` header carries ``Bearer <token>``."""
    scheme, _, given = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return False
    try:  # Quart decodes headers as latin-1: encoding back gives the bytes sent.
        sent = given.strip().encode("latin-1")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(sent, token.encode())


def check_feed_name(feed: Any) -> str:
    try:
        return check_name(feed, "feed")
    except ValueError:
        raise IngestError(
            400, "bad_feed_name", f"invalid feed name {_short(feed)}: {NAME_RULE}"
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
            f"Content-Type must be {JSON} or {NDJSON}, not {_short(mimetype or '(none)')}",
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
        raise IngestError(400, "bad_message", f"unknown field(s) {_short(sorted(extra))}")
    feed, points = check_feed_name(message.get("feed")), message.get("points")
    if not isinstance(points, list):
        raise IngestError(400, "bad_message", "'points' must be a JSON array of points")
    _check_count(len(points), max_points)
    return feed, points


_POINT_FIELDS = frozenset({"ts", "values"})


def _check_point(
    feed: str, i: int, raw: Any, known: Mapping[str, str] | None, now_ms: int, named: set[str]
) -> tuple[dict[str, Any], int | None]:
    """One point of a request; *named*: series names this request already
    found valid (a new feed's), not checked again."""
    if not isinstance(raw, dict):
        raise IngestError(400, "bad_point", f"point {i}: must be an object", i)
    if not raw.keys() <= _POINT_FIELDS:
        extra = raw.keys() - _POINT_FIELDS
        message = f"point {i}: unknown field(s) {_short(sorted(extra))}; a point has ts, values"
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
            if known is not None:
                kind = known.get(name)
                if kind is None:
                    raise unknown_series(feed, name, known)
            else:
                if name not in named:
                    try:
                        check_name(name, "series")
                    except ValueError:
                        message = f"point {i}: invalid series name {_short(name)}: {NAME_RULE}"
                        raise IngestError(400, "bad_series_name", message, i) from None
                    named.add(name)
                # A new feed's series are bars where the data sends objects.
                kind = kind_of(value)
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
) -> Batch:
    """Validate every point of a request for *feed*; raise at the first bad one.
    A new feed needs *create* and, if given, fewer than *max_feeds* feeds."""
    info = feeds.get(feed)
    if info is None and not create:
        raise IngestError(404, "unknown_feed", f"unknown feed {feed!r}")
    if info is None and max_feeds is not None and len(feeds) >= max_feeds:
        raise IngestError(409, "too_many_feeds", too_many_feeds(feed, max_feeds))
    known = info.series_kinds if info is not None else None
    points = []
    series: dict[str, str] = {}  # new feed: name -> kind, in order of first appearance
    named: set[str] = set()
    for i, raw in enumerate(raw_points):
        point = _check_point(feed, i, raw, known, now_ms, named)
        points.append(point)
        if known is None:
            series.update({k: kind_of(v) for k, v in point[0].items() if k not in series})
            if len(series) > MAX_SERIES:
                message = f"point {i}: a new feed may have at most {MAX_SERIES} series"
                raise IngestError(400, "too_many_series", message, i)
    if info is not None:
        return Batch(feed, points)
    declared = tuple(Series(name, kind=kind) for name, kind in series.items())
    return Batch(feed, points, FeedInfo(feed, series=declared))


def kind_of(value: Any) -> str:
    """The series kind a pushed value implies: an object is a bar."""
    return "ohlc" if isinstance(value, dict) else "line"


# --- the Quart layer ------------------------------------------------------------------


def _error(error: IngestError) -> Response:
    response = Response(orjson.dumps(error.to_dict()), error.status, mimetype="application/json")
    if error.status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


class _Writer:
    """Creates feeds and publishes batches; a batch's points stay contiguous."""

    def __init__(self, runner: HubRunner) -> None:
        self.runner = runner
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def write(self, batch: Batch) -> int:
        # No await between validation and add_feed: no other request can
        # create the feed in between.
        if batch.new_feed is not None:
            self.runner.hub.add_feed(batch.new_feed, pushed=True)
            log.info(
                "ingest created feed %r: %s", batch.feed, ", ".join(batch.new_feed.series_names)
            )
        task = asyncio.ensure_future(self._publish(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        # Shielded: a client that disconnects mid-batch still gets all of it written.
        await asyncio.shield(task)
        return len(batch.points)

    async def _publish(self, batch: Batch) -> None:
        async with self._locks.setdefault(batch.feed, asyncio.Lock()):
            for values, ts in batch.points:
                await self.runner.publish(batch.feed, values, ts)


def ingest_blueprint(runtime: Runtime) -> Blueprint:
    blueprint = Blueprint("ingest", __name__)
    config, hub, metrics, limits = runtime.config, runtime.hub, runtime.metrics, runtime.limits
    writer = _Writer(runtime.runner)

    def rejected(error: IngestError, scope: Mapping[str, Any]) -> IngestError:
        """Count and log *error* (never the request's headers: they hold the token)."""
        metrics.ingest_rejected.labels(code=error.code).inc()
        level = logging.WARNING if error.status == 401 else logging.INFO
        log_event(log, level, "ingest_rejected", client=client_address(scope), **error.to_dict())
        return error

    def authorize(header: str | None) -> None:
        if not config.ingest_token:
            raise IngestError(404, "disabled", DISABLED)
        if not authorized(header, config.ingest_token):
            raise IngestError(401, "unauthorized", "missing or wrong bearer token")

    def batch_for(feed: str, raw_points: list[Any]) -> Batch:
        create, cap = config.ingest_create_feeds, config.max_feeds
        return prepare(feed, raw_points, hub.feeds, create=create, now_ms=now_ms(), max_feeds=cap)

    async def read_body() -> bytes:
        # Quart's app-wide MAX_CONTENT_LENGTH also refuses a larger declared body.
        limit = min(config.ingest_max_bytes, request.max_content_length or config.ingest_max_bytes)
        too_large = IngestError(413, "too_large", f"the body is over {limit} bytes")
        if request.content_length is not None and request.content_length > limit:
            raise too_large  # refused before a byte of it is read
        chunks, size = [], 0
        try:
            async with asyncio.timeout(request.body_timeout):
                async for chunk in request.body:  # consumed as it comes: bounded
                    size += len(chunk)
                    if size > limit:
                        raise too_large
                    chunks.append(chunk)
        except RequestEntityTooLarge:  # Quart's app-wide MAX_CONTENT_LENGTH
            raise too_large from None
        except TimeoutError:
            raise IngestError(408, "timeout", "the body did not arrive in time") from None
        return b"".join(chunks)

    async def receive_unless_closing() -> bytes | None:
        """The next message as bytes, or None once the server starts shutting down."""
        receive = asyncio.ensure_future(websocket.receive())
        closing = asyncio.ensure_future(runtime.closing.wait())
        try:
            await asyncio.wait({receive, closing}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closing.cancel()
            if not receive.done():
                receive.cancel()  # takes effect later: its result is not read
                receive = None
        if receive is None:
            return None
        data = receive.result()
        # Quart hands an empty binary frame over as None: it is an empty
        # message (answered with an error), not the end of the connection.
        return data.encode() if isinstance(data, str) else (data or b"")

    @blueprint.post("/api/feeds/<feed>/points")
    async def push(feed: str) -> Response:
        try:
            authorize(request.headers.get("Authorization"))
            check_feed_name(feed)
            parse = body_parser(request.mimetype)
            raw_points = parse(await read_body(), config.ingest_max_points)
            accepted = await writer.write(batch_for(feed, raw_points))
        except IngestError as error:
            return _error(rejected(error, request.scope))
        metrics.ingest_points.inc(accepted)
        return Response(
            orjson.dumps({"feed": feed, "accepted": accepted}), 200, mimetype="application/json"
        )

    @blueprint.websocket(INGEST_WS_PATH)
    async def ingest_socket() -> Response | None:
        try:
            authorize(websocket.headers.get("Authorization"))
        except IngestError as error:
            # Before accept: an HTTP refusal of the handshake.
            return _error(rejected(error, websocket.scope))
        await websocket.accept()
        rate = limits.ingest_messages.bucket()
        while True:
            # Over its rate it is slowed, not refused: the next message is not
            # read until there is a token, so TCP pushes back on the sender.
            ready = rate is None or await rate.take(runtime.closing)
            raw = await receive_unless_closing() if ready else None
            if raw is None:
                await websocket.close(CloseCode.GOING_AWAY, "server shutting down")
                return None
            if len(raw) > config.ingest_max_bytes:
                reason = f"message over {config.ingest_max_bytes} bytes"
                rejected(IngestError(413, "too_large", reason), websocket.scope)
                await websocket.close(CloseCode.TOO_BIG, reason)
                return None
            try:
                feed, raw_points = parse_ws_message(raw, config.ingest_max_points)
                accepted = await writer.write(batch_for(feed, raw_points))
                metrics.ingest_points.inc(accepted)
                answer: dict[str, Any] = {"type": "ack", "feed": feed, "accepted": accepted}
            except IngestError as error:
                rejected(error, websocket.scope)
                answer = {"type": "error", "code": error.code, "message": error.message}
                if error.index is not None:
                    answer["index"] = error.index
            await websocket.send(orjson.dumps(answer).decode())

    return blueprint
