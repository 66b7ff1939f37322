"""The viewer WebSocket ``/ws``: moves frames between a socket and the hub.

Everything the viewer is told comes from the hub as ready-made strings; this
module only reads, writes and closes. Its blueprint also counts every
WebSocket (viewer and ingest) against its client's address.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

from hypercorn.typing import ASGIReceiveCallable, ASGIReceiveEvent, ASGISendCallable, Scope
from quart import Blueprint, Response, current_app, jsonify, websocket

from dashboard.channel import ClientChannel
from dashboard.delivery import DELIVERY_EXTENSION
from dashboard.frames import WireFrames
from dashboard.hub import Hub
from dashboard.logs import client_address, log_event
from dashboard.metrics import Metrics
from dashboard.protocol import CloseCode
from dashboard.web.direct_send import DIRECT_SEND_EXTENSION, DirectSend
from dashboard.web.gate import session_end_of
from dashboard.web.state import runtime_of, scope_of

log = logging.getLogger(__name__)

#: How long a close frame may wait behind data a stalled peer is not reading.
CLOSE_TIMEOUT = 2.0
#: The scope key where ``RecordPeerClose`` keeps a peer's close code and reason.
PEER_CLOSE = "livefeed.peer_close"
#: Where a WebSocket's scope records the address it was counted under.
COUNTED_ADDRESS = "livefeed.counted_address"

blueprint = Blueprint("viewer", __name__)


@blueprint.before_app_websocket
async def count_connection() -> tuple[Response, int] | None:
    # Viewer and ingest WebSockets count against their client's address;
    # one over the limit is refused (HTTP 429) before its route runs.
    limits = runtime_of(current_app).limits
    address = str(websocket.remote_addr or "")
    if not limits.open_connection(address):
        return jsonify(error=limits.too_many_connections(), code="too_many_connections"), 429
    scope_of(websocket)[COUNTED_ADDRESS] = address
    return None


@blueprint.teardown_app_websocket
async def uncount_connection(_error: BaseException | None) -> None:
    # Runs however the WebSocket ended, the handler cancelled included.
    address = scope_of(websocket).pop(COUNTED_ADDRESS, None)
    if address is not None:
        runtime_of(current_app).limits.close_connection(address)


@blueprint.websocket("/ws")
async def ws() -> tuple[Response, int] | None:
    runtime = runtime_of(current_app)
    if "ws" not in runtime.config.transports:  # refused before the handshake
        return jsonify(error="WebSockets are off here (--transports): use /sse"), 404
    await serve_viewer(
        runtime.hub,
        await_subscribe=websocket.args.get("await_subscribe", "") in ("1", "true"),
        subscribe_timeout=runtime.config.await_subscribe_timeout,
        metrics=runtime.metrics,
        session_end=session_end_of(websocket),  # closes it when its login ends
        wire=runtime.wire_frames,
    )
    return None


async def serve_viewer(
    hub: Hub,
    *,
    await_subscribe: bool,
    subscribe_timeout: float,
    metrics: Metrics | None = None,
    session_end: Callable[[], Awaitable[str]] | None = None,
    wire: WireFrames | None = None,
) -> None:
    """Serve one viewer. *session_end*, for a viewer that logged in, waits
    until its session ends (expiry or logout) and returns why: the viewer is
    then closed with 4401 and that reason. With *wire* (the app's frame
    cache), a connection that offers it takes the fast send path."""
    metrics = metrics if metrics is not None else hub.metrics
    await websocket.accept()
    address = client_address(websocket.scope)
    client = hub.connect(address, subscribe=not await_subscribe)
    send_path = _equip(client, scope_of(websocket).get("extensions", {}), wire, metrics)
    log_event(log, logging.INFO, "viewer_connected", client=address, send_path=send_path)
    started = time.monotonic()
    sent_code: int | None = None  # the close code we sent, if we did
    try:
        async with asyncio.TaskGroup() as tasks:
            helpers = [tasks.create_task(_read(hub, client))]
            if await_subscribe:
                helpers.append(tasks.create_task(_require_subscribe(client, subscribe_timeout)))
            if session_end is not None:
                helpers.append(tasks.create_task(_end_with_session(client, session_end)))
            writer = tasks.create_task(_write(client, metrics))
            # A write blocked on a peer that stopped reading (TCP window full)
            # never returns by itself: when the hub gives up on this client,
            # the write is cancelled so the connection can be closed.
            client.on_discard(writer.cancel)
            await asyncio.wait([writer])  # ends when written out, or cancelled
            for task in helpers:
                task.cancel()
        sent_code = client.close_code or CloseCode.NORMAL
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await websocket.close(sent_code, client.close_reason)
        except TimeoutError:
            # The close frame is queued behind unread data; the peer gets it
            # if it ever reads. Nothing more is written, so memory stays bounded.
            log_event(log, logging.INFO, "close_not_flushed", client=address, code=sent_code)
    finally:
        # The peer closing (or vanishing) cancels this handler: its code is
        # the one RecordPeerClose kept.
        peer_close = scope_of(websocket).get(PEER_CLOSE, (CloseCode.ABNORMAL, ""))
        code, reason, by = how_it_ended(sent_code, peer_close, client.closing, client.close_reason)
        hub.disconnect(client, code)
        log_event(
            log,
            logging.INFO,
            "viewer_closed",
            client=address,
            code=code,
            reason=reason,
            by=by,
            duration=round(time.monotonic() - started, 3),
        )


def _equip(
    client: ClientChannel, extensions: dict[str, Any], wire: WireFrames | None, metrics: Metrics
) -> str:
    """Give *client* what its connection offers: the delivery probe (frames
    unread in socket buffers count as lag, dashboard/delivery.py), and the
    fast send path when the framework found it possible. Returns the path."""
    client.delivery = extensions.get(DELIVERY_EXTENSION)
    direct = extensions.get(DIRECT_SEND_EXTENSION)
    if direct is None or wire is None:
        return "framework"
    client.attach(DirectSend(direct, client.delivery, wire, metrics))
    return "direct"


def how_it_ended(
    sent_code: int | None, peer_close: tuple[int, str], server_closing: bool, server_reason: str
) -> tuple[int, str, str]:
    """A viewer's close code, reason, and who closed it ("server" or "peer"):
    the code we sent if we did, else the peer's (*peer_close*, 1006 when no
    close frame came)."""
    if sent_code is not None:
        return sent_code, server_reason, "server"
    code, reason = peer_close
    if code == CloseCode.ABNORMAL and server_closing:
        # Closed by the server, but neither side's close frame got through:
        # the server cut the socket (a stop's grace ended on a peer that was
        # not reading).
        return code, server_reason, "server"
    return code, reason, "peer"


async def _read(hub: Hub, client: ClientChannel) -> None:
    while True:
        hub.receive(client, await websocket.receive())


async def _write(client: ClientChannel, metrics: Metrics) -> None:
    # On the fast path frames are written as the hub queues them: this only
    # waits for the channel to close, then, like the last write of the
    # ordinary path, for the transport to take what it holds (a peer that
    # stopped reading holds it until the hub gives up and cancels this).
    while (frame := await client.next_frame()) is not None:
        await websocket.send(frame)
        # Plain integer adds, per frame per viewer: see dashboard/metrics.py.
        metrics.frames_sent += 1
        metrics.bytes_sent += len(frame) if frame.isascii() else len(frame.encode())
    if client.sink is not None:
        await client.sink.drained()


async def _require_subscribe(client: ClientChannel, timeout: float) -> None:
    await asyncio.sleep(timeout)  # a deadline, not a wait for a condition
    if client.subscription is None:
        client.close(CloseCode.POLICY, "no subscribe message in time")


async def _end_with_session(
    client: ClientChannel, session_end: Callable[[], Awaitable[str]]
) -> None:
    reason = await session_end()
    # What is queued is for a viewer no longer allowed to see it: dropped.
    client.close(CloseCode.SESSION_ENDED, reason, discard=True)


ASGIApp = Callable[[Scope, ASGIReceiveCallable, ASGISendCallable], Awaitable[None]]


class RecordPeerClose:
    """ASGI middleware: keep a WebSocket peer's close code and reason in the scope.

    Quart reads the ``websocket.disconnect`` event and drops it, then cancels
    the handler; the handler's cleanup reads what was kept here to count and
    log why the peer left. (Hypercorn reports every peer close as 1006 unless
    ``dashboard.web.framework`` passes the real code on.)
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        # The scope's own keys are typed; this key is the dashboard's.
        extra = cast(dict[str, Any], scope)

        async def receive_and_record() -> ASGIReceiveEvent:
            event = await receive()
            if event["type"] == "websocket.disconnect":
                extra[PEER_CLOSE] = (
                    event.get("code", CloseCode.NO_STATUS),
                    event.get("reason") or "",
                )
            return event

        await self.app(scope, receive_and_record, send)
