"""Serve the app on Hypercorn, and shut down so viewers see 1001, not 1011."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Iterator

from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config as HypercornConfig
from hypercorn.protocol import h2, h11
from hypercorn.protocol.events import Data, StreamClosed
from hypercorn.protocol.ws_stream import WSStream
from quart import Quart
from wsproto.connection import ConnectionState
from wsproto.events import CloseConnection
from wsproto.events import Event as WSProtoEvent

from dashboard.logs import log_event

log = logging.getLogger(__name__)


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket; port 0 picks a free port (read it back with
    ``getsockname()``). Binding here, not in Hypercorn, is what lets the
    caller know the real address before serving starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(1024)
    except OSError:
        sock.close()
        raise
    return sock


class _WSStream(WSStream):
    """Hypercorn's WebSocket stream, with permessage-deflate made optional.

    Hypercorn 0.18 always accepts the extension when the client offers it
    (browsers always do) and has no setting for it. Forgetting the client's
    offer before the handshake is answered leaves wsproto's extension
    disabled: frames go out uncompressed and a compressed frame coming in is
    a protocol error (1002), never inflated.

    A frame wsproto cannot parse (invalid UTF-8 in a text frame: 1007; a
    reserved bit or opcode: 1002) ends the connection, but Hypercorn 0.18
    then drops it without a close frame, so the client sees 1006 and no
    reason. Here the client is sent wsproto's code and reason first.
    """

    _refusal: bytes | None = None

    async def _accept(self, message):  # type: ignore[no-untyped-def]
        if not getattr(self.config, "websocket_compression", True):
            self.handshake.extensions = None
        await super()._accept(message)
        self.connection.events = self._refusing_bad_frames(self.connection.events)

    def _refusing_bad_frames(
        self, events: Callable[[], Iterator[WSProtoEvent]]
    ) -> Callable[[], Iterator[WSProtoEvent]]:
        def wrapped() -> Iterator[WSProtoEvent]:
            for event in events():
                # wsproto yields a close while still OPEN only for a frame it
                # failed to parse: a peer's close frame moves it to
                # REMOTE_CLOSING first.
                opened = self.connection.state is ConnectionState.OPEN
                if isinstance(event, CloseConnection) and opened:
                    self._refusal = self.connection.send(
                        CloseConnection(code=event.code, reason=event.reason)
                    )
                    return
                yield event

        return wrapped

    async def _handle_events(self) -> None:
        await super()._handle_events()
        if self._refusal is not None:
            data, self._refusal = self._refusal, None
            await self.send(Data(stream_id=self.stream_id, data=data))
            await self.send(StreamClosed(stream_id=self.stream_id))

    # Hypercorn 0.18 tells the app 1006 for every close the peer starts, even
    # a clean 1000 or 1001: the peer's code is seen only as Hypercorn echoes
    # it back, and passed on in the app's disconnect event (ASGI's "code").
    _peer_close: tuple[int, str] | None = None

    async def _send_wsproto_event(self, event):  # type: ignore[no-untyped-def]
        if isinstance(event, CloseConnection) and (
            self.connection.state == ConnectionState.REMOTE_CLOSING
        ):
            self._peer_close = (event.code, event.reason or "")
        await super()._send_wsproto_event(event)

    async def handle(self, event):  # type: ignore[no-untyped-def]
        if isinstance(event, StreamClosed) and self._peer_close and self.app_put is not None:
            put, (code, reason) = self.app_put, self._peer_close

            async def put_peer_code(message):  # type: ignore[no-untyped-def]
                if message["type"] == "websocket.disconnect":
                    message = {**message, "code": code, "reason": reason}
                await put(message)

            self.app_put = put_peer_code
        await super().handle(event)


# Hypercorn builds its streams by these module names; the subclass only acts
# on configs that carry ``websocket_compression`` (those serve() builds).
h11.WSStream = h2.WSStream = _WSStream  # type: ignore[misc]


def url_of(sock: socket.socket, *, tls: bool = False) -> str:
    host, port = sock.getsockname()[:2]
    scheme = "https" if tls else "http"
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


async def serve(app: Quart, sock: socket.socket, shutdown: asyncio.Event) -> None:
    """Serve *app* on the listening *sock* until *shutdown* is set.

    Hypercorn, asked to stop, waits for open connections and then cancels
    them, so WebSocket viewers would see 1011. Here the viewers are first
    closed with 1001 (going away) by the hub, and Hypercorn is told to stop
    once they have gone or the configured timeout has passed.
    """
    runtime = app.extensions["livefeed"]
    url = url_of(sock)
    config = HypercornConfig()
    # Hypercorn takes ownership of the descriptor; ours is detached so it is
    # closed once, by Hypercorn.
    config.bind = [f"fd://{sock.detach()}"]
    config.accesslog = None
    # Hypercorn's own handler would print each of its lines a second time
    # beside the application's logging; route it through logging instead.
    config.errorlog = logging.getLogger("hypercorn.error")
    config.graceful_timeout = runtime.config.shutdown_timeout
    # The largest WebSocket message anyone may send is an ingest one.
    config.websocket_max_message_size = runtime.config.ingest_max_bytes
    config.websocket_compression = runtime.config.ws_compression
    if runtime.config.certfile is not None:
        # With both set Hypercorn counts every bind, fd:// included, as a
        # secure one and wraps its connections in TLS (https, wss; ALPN h2).
        config.certfile = str(runtime.config.certfile)
        config.keyfile = str(runtime.config.keyfile)

    async def close_viewers_then_stop() -> None:
        await shutdown.wait()
        runtime.closing.set()
        hub = runtime.hub
        log_event(log, logging.INFO, "server_stopping", url=url, viewers=len(hub.clients))
        hub.close_all()
        try:
            # Each handler leaves the hub once its close frame is written; the
            # timeout bounds a peer that never reads.
            async with asyncio.timeout(runtime.config.shutdown_timeout):
                await hub.wait_no_clients()
        except TimeoutError:
            log_event(log, logging.WARNING, "viewers_not_closed", viewers=len(hub.clients))

    log_event(log, logging.INFO, "server_started", url=url, feeds=len(runtime.hub.feeds))
    try:
        await hypercorn_serve(app, config, shutdown_trigger=close_viewers_then_stop)
    finally:
        log_event(log, logging.INFO, "server_stopped", url=url)
