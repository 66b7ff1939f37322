"""Push ingest's routes: external programs send points over HTTP or WebSocket.

``POST /api/feeds/<feed>/points`` takes a JSON array or NDJSON of points;
``/api/ingest`` is a WebSocket taking ``{"feed", "points"}`` messages, each
answered with an ack or an error. Both need ``Authorization: Bearer <token>``.
The rules (parsing, validation) are the pure code of dashboard/ingest.py; this
module only moves bytes, then hands what passed to dashboard/ingest_writer.py. See the "Push ingest"
section of docs/protocol.md.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Container, Mapping
from typing import Any

import orjson
from flask.sansio.app import App
from quart import Blueprint, Response, current_app, request, websocket
from quart.blueprints import BlueprintSetupState
from werkzeug.exceptions import RequestEntityTooLarge

from dashboard.access import authorized
from dashboard.config import DashboardConfig
from dashboard.ingest import (
    Batch,
    IngestError,
    body_parser,
    check_feed_name,
    parse_ws_message,
    prepare,
)
from dashboard.ingest_writer import IngestWriter
from dashboard.logs import client_address, log_event
from dashboard.points import now_ms
from dashboard.protocol import CloseCode
from dashboard.web.errors import json_error
from dashboard.web.state import Runtime, runtime_of
from feeds.base import FeedInfo

log = logging.getLogger(__name__)

INGEST_WS_PATH = "/api/ingest"
DISABLED = "ingest is disabled (no token configured)"
#: Where an app keeps its ingest Writer (Quart's ``app.extensions``).
WRITER_KEY = "livefeed.ingest_writer"

blueprint = Blueprint("ingest", __name__)


@blueprint.record_once
def _add_writer(state: BlueprintSetupState) -> None:
    """One writer per app: its per-feed locks keep each feed's batches whole."""
    state.app.extensions[WRITER_KEY] = IngestWriter(runtime_of(state.app).hub)


def writer_of(app: App) -> IngestWriter:
    writer = app.extensions[WRITER_KEY]
    assert isinstance(writer, IngestWriter)
    return writer


def _error(error: IngestError) -> Response:
    return json_error(error.status, error.to_dict(), error.retry_after)


def rejected(runtime: Runtime, error: IngestError, scope: Mapping[str, Any]) -> IngestError:
    """Count and log *error* (never the request's headers: they hold the token)."""
    runtime.metrics.ingest_rejected.labels(code=error.code).inc()
    level = logging.WARNING if error.status == 401 else logging.INFO
    log_event(log, level, "ingest_rejected", client=client_address(scope), **error.to_dict())
    return error


def _authorize(config: DashboardConfig, header: str | None) -> None:
    if not config.ingest_token:
        raise IngestError(404, "disabled", DISABLED)
    if not authorized(header, config.ingest_token):
        raise IngestError(401, "unauthorized", "missing or wrong bearer token")


async def _write(runtime: Runtime, feed: str, raw_points: list[Any]) -> int:
    """Validate and publish one request's points (IngestError if refused)."""
    config = runtime.config

    def batch(feeds: Mapping[str, FeedInfo], pushed: Container[str]) -> Batch:
        return prepare(
            feed,
            raw_points,
            feeds,
            create=config.ingest_create_feeds,
            now_ms=now_ms(),
            max_feeds=config.max_feeds,
            pushed=pushed,
        )

    return await writer_of(current_app).write(feed, batch)


async def read_body(max_bytes: int) -> bytes:
    # Quart's app-wide MAX_CONTENT_LENGTH also refuses a larger declared body.
    limit = min(max_bytes, request.max_content_length or max_bytes)
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


async def _receive_unless_closing(closing: asyncio.Event) -> bytes | None:
    """The next message as bytes, or None once the server starts shutting down."""
    receive = asyncio.ensure_future(websocket.receive())
    closed = asyncio.ensure_future(closing.wait())
    try:
        waiting: set[asyncio.Future[Any]] = {receive, closed}
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    finally:
        closed.cancel()
        received = receive.done()
        if not received:
            receive.cancel()  # takes effect later: its result is not read
    if not received:
        return None
    data = receive.result()
    # Quart hands an empty binary frame over as None: it is an empty
    # message (answered with an error), not the end of the connection.
    return data.encode() if isinstance(data, str) else (data or b"")


@blueprint.post("/api/feeds/<feed>/points")
async def push(feed: str) -> Response:
    runtime = runtime_of(current_app)
    config = runtime.config
    try:
        _authorize(config, request.headers.get("Authorization"))
        check_feed_name(feed)
        parse = body_parser(request.mimetype)
        raw_points = parse(await read_body(config.ingest_max_bytes), config.ingest_max_points)
        accepted = await _write(runtime, feed, raw_points)
    except IngestError as error:
        return _error(rejected(runtime, error, request.scope))
    runtime.metrics.ingest_points.inc(accepted)
    return Response(
        orjson.dumps({"feed": feed, "accepted": accepted}), 200, mimetype="application/json"
    )


@blueprint.websocket(INGEST_WS_PATH)
async def ingest_socket() -> Response | None:
    runtime = runtime_of(current_app)
    config = runtime.config
    try:
        _authorize(config, websocket.headers.get("Authorization"))
    except IngestError as error:
        # Before accept: an HTTP refusal of the handshake.
        return _error(rejected(runtime, error, websocket.scope))
    await websocket.accept()
    rate = runtime.limits.ingest_messages.bucket()
    while True:
        # Over its rate it is slowed, not refused: the next message is not
        # read until there is a token, so TCP pushes back on the sender.
        ready = rate is None or await rate.take(runtime.closing)
        raw = await _receive_unless_closing(runtime.closing) if ready else None
        if raw is None:
            await websocket.close(CloseCode.GOING_AWAY, "server shutting down")
            return None
        if len(raw) > config.ingest_max_bytes:
            reason = f"message over {config.ingest_max_bytes} bytes"
            rejected(runtime, IngestError(413, "too_large", reason), websocket.scope)
            await websocket.close(CloseCode.TOO_BIG, reason)
            return None
        answer = await _answer(runtime, raw)
        await websocket.send(orjson.dumps(answer).decode())


async def _answer(runtime: Runtime, raw: bytes) -> dict[str, Any]:
    """Publish one WebSocket message's points; the ack or error to send back."""
    try:
        feed, raw_points = parse_ws_message(raw, runtime.config.ingest_max_points)
        accepted = await _write(runtime, feed, raw_points)
    except IngestError as error:
        rejected(runtime, error, websocket.scope)
        answer: dict[str, Any] = {"type": "error", "code": error.code, "message": error.message}
        if error.index is not None:
            answer["index"] = error.index
        if error.retry_after:
            answer["retry_after"] = error.retry_after  # the socket stays open
        return answer
    runtime.metrics.ingest_points.inc(accepted)
    return {"type": "ack", "feed": feed, "accepted": accepted}
