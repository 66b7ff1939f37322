"""``GET /sse``: the viewer stream as Server-Sent Events, for networks that
block WebSockets (docs/protocol.md, "Server-Sent Events").

A viewer here is a hub client like a WebSocket one: the same hello, snapshot
or replay, batches and status, the same bounded outbox and slow-viewer rules
(dashboard/channel.py, lagging.py), the same per-address connection count.
The events and their ids are dashboard/sse.py's; this module reads the
request, streams and ends. The origin and viewer-token checks run before it
(dashboard/web/gate.py).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable

import orjson
from quart import Blueprint, Response, current_app, request

from dashboard.channel import ClientChannel
from dashboard.hub import Hub
from dashboard.limits import CONNECTIONS_PER_ADDRESS, Limits
from dashboard.logs import client_address, log_event
from dashboard.metrics import Metrics
from dashboard.protocol import CloseCode, Resume, Subscribe
from dashboard.sse import (
    HEARTBEAT,
    BadEventId,
    SeqTracker,
    close_event,
    decode_id,
    encode_event,
    retry_field,
)
from dashboard.web.errors import json_error
from dashboard.web.gate import session_end_of
from dashboard.web.state import runtime_of
from dashboard.web.viewer import CLOSE_TIMEOUT

log = logging.getLogger(__name__)

#: The browser's own reconnect waits this long (ms), drawn per stream so
#: that after a restart the browsers do not all come back at once.
RETRY_MS = (1000, 3000)
#: The query parameter a page uses to resume when it opens a new stream
#: itself (a new EventSource sends no Last-Event-ID).
RESUME_PARAM = "last_event_id"

blueprint = Blueprint("sse", __name__)


@blueprint.get("/sse")
async def sse() -> Response:
    runtime = runtime_of(current_app)
    config = runtime.config
    if "sse" not in config.transports:
        body = {"error": "Server-Sent Events are off here (--transports): use /ws"}
        return json_error(404, {**body, "code": "transport_off"})
    if runtime.closing.is_set():
        return json_error(503, {"error": "the server is shutting down", "code": "closing"}, 1)
    given = request.headers.get("Last-Event-ID") or request.args.get(RESUME_PARAM)
    try:
        resume = decode_id(given, config.viewer_max_subscribe_names) if given else None
    except BadEventId as exc:
        body = {"error": f"Last-Event-ID {exc}", "code": "bad_event_id"}
        return json_error(400, body)
    try:
        candles = candles_asked(request.args.get("candles", ""), config.viewer_max_subscribe_names)
    except ValueError as exc:
        return json_error(400, {"error": str(exc), "code": "bad_candles"})
    limits = runtime.limits
    address = str(request.remote_addr or "")
    limit = limits.max_connections_per_address
    if limit and limits.connections[address] >= limit:
        limits.count(CONNECTIONS_PER_ADDRESS, address)
        body = {"error": limits.too_many_connections(), "code": "too_many_connections"}
        return json_error(429, body)
    stream = EventStream(
        runtime.hub,
        limits,
        runtime.metrics,
        address=address,
        peer=client_address(request.scope),
        resume=resume,
        candles=candles,
        heartbeat=config.sse_heartbeat,
        session_end=session_end_of(request),
    )
    response = Response(stream, mimetype="text/event-stream")
    response.timeout = None  # Quart's RESPONSE_TIMEOUT (60 s) would cut the stream
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    origin = request.headers.get("Origin")
    if origin:  # gate.py let it through: the page's own origin or an allowed one
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
    return response


def candles_asked(text: str, most: int) -> list[str]:
    """``?candles=FEED:SERIES:INTERVAL,...`` as the ``candles`` messages a
    WebSocket viewer would send (the hub checks the names and intervals)."""
    asked = [entry for entry in text.split(",") if entry]
    if len(asked) > most:
        raise ValueError(f"'candles' lists more than {most} series")
    messages = []
    for entry in asked:
        feed, series, interval = (entry.split(":") + ["", "", ""])[:3]
        if not (feed and series and interval) or entry.count(":") != 2:
            raise ValueError(f"'candles' entry {entry[:64]!r} is not FEED:SERIES:INTERVAL")
        message = {"type": "candles", "feed": feed, "series": series, "interval": interval}
        messages.append(orjson.dumps(message).decode())
    return messages


class EventStream:
    """One viewer's events, pulled by Quart as the response body.

    The hub client is made on the first pull and let go by ``aclose``, which
    Quart calls however the response ends (written out, or cancelled when the
    peer goes); so nothing is counted for a stream that never started. While
    Quart writes an event (``_writing``) a peer that stopped reading holds the
    write: when the hub gives up on the viewer (``discard``) the request's
    task is cancelled, as the WebSocket path cancels its writer.
    """

    def __init__(
        self,
        hub: Hub,
        limits: Limits,
        metrics: Metrics,
        *,
        address: str,
        peer: str,
        resume: Resume | None,
        candles: list[str],
        heartbeat: float,
        session_end: Callable[[], Awaitable[str]] | None,
    ) -> None:
        self.hub, self.limits, self.metrics = hub, limits, metrics
        self.address, self.peer, self.resume = address, peer, resume
        self.candles = candles
        self.heartbeat = heartbeat
        self.session_end = session_end
        self.tracker = SeqTracker(resume)
        self.client: ClientChannel | None = None
        self._next: asyncio.Task[str | None] | None = None
        self._helper: asyncio.Task[None] | None = None
        self._task: asyncio.Task[object] | None = None
        self._writing = False
        self._close_sent: int | None = None
        self._done = False
        self._cut: asyncio.TimerHandle | None = None
        self._started = 0.0

    def __aiter__(self) -> EventStream:
        return self

    def _start(self) -> str:
        hub = self.hub
        self.limits.connections[self.address] += 1
        self.client = client = hub.connect(self.peer, subscribe=self.resume is None)
        if self.resume is not None:
            hub.subscribe(client, Subscribe(resume=self.resume))
        for message in self.candles:  # answered as on /ws: bars, or an error message
            hub.receive(client, message)
        self.metrics.sse_viewers += 1
        self._task = asyncio.current_task()
        client.on_discard(self._discarded)
        if self.session_end is not None:
            self._helper = asyncio.ensure_future(self._end_with_session(client, self.session_end))
        self._started = time.monotonic()
        log_event(log, logging.INFO, "viewer_connected", client=self.peer, transport="sse")
        return retry_field(random.randint(*RETRY_MS))

    async def __anext__(self) -> str:
        self._writing = False
        if self._done:
            raise StopAsyncIteration
        client = self.client
        if client is None:
            return self._start()
        if self._next is None:
            self._next = asyncio.ensure_future(client.next_frame())
        done, _ = await asyncio.wait([self._next], timeout=self.heartbeat)
        if not done:
            self._writing = True
            return HEARTBEAT
        frame, self._next = self._next.result(), None
        if frame is None:  # closing: say why, then end
            self._done = True
            self._close_sent = code = client.close_code or CloseCode.NORMAL
            # Behind data a peer is not reading, the last event may never go:
            # given CLOSE_TIMEOUT, as a WebSocket's close frame is.
            self._cut = asyncio.get_running_loop().call_later(CLOSE_TIMEOUT, self._abandon)
            return close_event(code, client.close_reason)
        self.metrics.frames_sent += 1
        self.metrics.bytes_sent += len(frame) if frame.isascii() else len(frame.encode())
        self._writing = True
        return encode_event(frame, event_id=self.tracker.take(frame))

    def _discarded(self) -> None:
        # Queued frames were dropped: a write in progress is abandoned with them.
        if self._writing:
            self._abandon()

    def _abandon(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _end_with_session(
        self, client: ClientChannel, session_end: Callable[[], Awaitable[str]]
    ) -> None:
        reason = await session_end()
        client.close(CloseCode.SESSION_ENDED, reason, discard=True)

    async def aclose(self) -> None:
        client, self.client = self.client, None
        self._done = True
        if self._cut is not None:
            self._cut.cancel()
        for task in (self._next, self._helper):
            if task is not None:
                task.cancel()
        if client is None:
            return
        self.limits.close_connection(self.address)
        self.metrics.sse_viewers -= 1
        sent = self._close_sent
        # The peer closing an event stream sends nothing: counted as 1006.
        code = sent or (client.close_code if client.closing else CloseCode.ABNORMAL)
        by = "server" if sent or client.closing else "peer"
        reason = client.close_reason if by == "server" else ""
        self.hub.disconnect(client, code)
        log_event(
            log,
            logging.INFO,
            "viewer_closed",
            client=self.peer,
            transport="sse",
            code=code,
            reason=reason,
            by=by,
            duration=round(time.monotonic() - self._started, 3),
        )
