"""InfluxDB's write APIs: Telegraf and the influxdb clients push points unchanged.

``POST /api/v2/write?bucket=<feed>&precision=ns|us|ms|s`` (InfluxDB 2) and
``POST /write?db=<feed>&precision=...`` (InfluxDB 1.x) take line protocol,
gzip-compressed or not, with the ingest token. A request is push ingest's:
parsed and checked whole (dashboard/line_protocol.py, dashboard/influx_ingest.py),
then written with push ingest's writer (dashboard/ingest_writer.py) as one
batch, or not at all. 204 on success; refusals are InfluxDB's error bodies,
counted and logged as push ingest's (``ingest_rejected``). See
docs/protocol.md "InfluxDB line protocol".
"""

from __future__ import annotations

import asyncio
from collections.abc import Container, Mapping

import orjson
from quart import Blueprint, Response, current_app, request

from dashboard.influx_ingest import (
    gunzip,
    influx_error,
    parse_body,
    to_batch,
    token_matches,
    token_of,
)
from dashboard.ingest import Batch, IngestError, check_feed_name
from dashboard.line_protocol import Points
from dashboard.points import now_ms
from dashboard.web.ingest import DISABLED, read_body, rejected, writer_of
from dashboard.web.state import Runtime, runtime_of
from feeds.base import FeedInfo

#: A body up to this size is parsed on the event loop (about 1,000 lines, a
#: few ms); a larger one in a thread.
INLINE_PARSE_BYTES = 64 * 1024

blueprint = Blueprint("influx", __name__)


def _answer(error: IngestError) -> Response:
    response = Response(
        orjson.dumps(influx_error(error)), error.status, mimetype="application/json"
    )
    if error.status == 401:
        response.headers["WWW-Authenticate"] = 'Token realm="livefeed"'
    if error.retry_after:
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def _authorize(runtime: Runtime, *, v1: bool) -> None:
    token = runtime.config.ingest_token
    if not token:
        raise IngestError(404, "disabled", DISABLED)
    password = request.args.get("p") if v1 else None
    given = token_of(request.headers.get("Authorization"), password)
    if not token_matches(given, token):
        raise IngestError(401, "unauthorized", "missing or wrong token (the ingest token)")


async def _lines(runtime: Runtime, precision: str | None) -> Points:
    config = runtime.config
    body = await read_body(config.ingest_max_bytes)
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding == "gzip":
        body = gunzip(body, config.ingest_max_bytes)
    elif encoding not in ("identity", ""):
        message = f"Content-Encoding {encoding!r} is not supported: send gzip or none"
        raise IngestError(415, "unsupported_encoding", message)
    if len(body) <= INLINE_PARSE_BYTES:
        return parse_body(body, precision, now_ms(), config.ingest_max_points)
    # Python parses a few hundred thousand plain lines a second: a 16 MiB
    # body would hold the event loop, and every viewer, for a second or more.
    return await asyncio.to_thread(parse_body, body, precision, now_ms(), config.ingest_max_points)


async def _write(*, v1: bool) -> Response:
    runtime = runtime_of(current_app)
    config = runtime.config
    try:
        _authorize(runtime, v1=v1)
        what = "db" if v1 else "bucket"
        given = request.args.get(what)
        if not given:
            raise IngestError(400, "no_feed", f"the {what} parameter (the feed) is missing")
        feed = check_feed_name(given)
        lines = await _lines(runtime, request.args.get("precision"))

        def batch(feeds: Mapping[str, FeedInfo], pushed: Container[str]) -> Batch:
            return to_batch(
                feed,
                lines,
                feeds,
                create=config.ingest_create_feeds,
                now_ms=now_ms(),
                max_feeds=config.max_feeds,
                pushed=pushed,
            )

        accepted = await writer_of(current_app).write(feed, batch)
    except IngestError as error:
        return _answer(rejected(runtime, error, request.scope))
    runtime.metrics.ingest_points.inc(accepted)
    return Response(b"", 204)


@blueprint.post("/api/v2/write")
async def write_v2() -> Response:
    return await _write(v1=False)


@blueprint.post("/write")
async def write_v1() -> Response:
    return await _write(v1=True)
