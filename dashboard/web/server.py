"""Serve the app on Hypercorn, and shut down so viewers see 1001, not 1011.

Hypercorn's and Quart's WebSocket classes are adjusted here (each says why):
permessage-deflate made optional, a close frame for frames wsproto cannot
parse, a smaller message size for viewers, bounded queues of received
messages, pings that stop with their stream, and connections that do not wait
for ever on a peer that has stopped reading (dashboard/web/stopping.py).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Iterator

from hypercorn.asyncio import run as hypercorn_run
from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config as HypercornConfig
from hypercorn.protocol import h2, h11
from hypercorn.protocol.events import Body, Data, Event, Request, StreamClosed
from hypercorn.protocol.ws_stream import FrameTooLargeError, WebsocketBuffer, WSStream
from quart import Quart
from quart.asgi import ASGIWebsocketConnection
from quart.signals import websocket_received
from wsproto.connection import ConnectionState
from wsproto.events import CloseConnection
from wsproto.events import Event as WSProtoEvent

from dashboard.limits import MESSAGE_TOO_BIG
from dashboard.listen_backlog import DEFAULT_LISTEN_BACKLOG
from dashboard.logs import log_event
from dashboard.protocol import CloseCode
from dashboard.web.ingest import INGEST_WS_PATH
from dashboard.web.probing import ProbingStream
from dashboard.web.state import runtime_of
from dashboard.web.stopping import Connections, TrackedTCPServer, stop_trigger

log = logging.getLogger(__name__)

#: Messages Quart holds for one WebSocket handler that has not read them yet.
QUEUED_MESSAGES = 4
#: How long a connection the server closed waits for the peer's close frame.
CLOSE_REPLY_TIMEOUT = 2.0
INGEST_PATH = INGEST_WS_PATH.encode()


def bind_socket(host: str, port: int, backlog: int = DEFAULT_LISTEN_BACKLOG) -> socket.socket:
    """A listening TCP socket; port 0 picks a free port (read it back with
    ``getsockname()``). Binding here, not in Hypercorn, is what lets the
    caller know the real address before serving starts. *backlog*: see
    dashboard/listen_backlog.py."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock


class _WSStream(ProbingStream):
    """Hypercorn's WebSocket stream, adjusted: permessage-deflate optional, a
    close frame for frames that cannot be parsed, a smaller message size for
    viewers, an app queue that cannot deadlock, pings that stop with the stream.

    Compression: Hypercorn 0.18 always accepts the extension when the client
    offers it (browsers always do) and has no setting for it. Forgetting the
    client's offer before the handshake is answered leaves wsproto's extension
    disabled: frames go out uncompressed and a compressed frame coming in is
    a protocol error (1002), never inflated.

    A frame wsproto cannot parse (invalid UTF-8 in a text frame: 1007; a
    reserved bit or opcode: 1002) ends the connection, but Hypercorn 0.18
    then drops it without a close frame, so the client sees 1006 and no
    reason. Here the client is sent wsproto's code and reason first.

    Message size: Hypercorn has one ``websocket_max_message_size`` (the ingest
    limit); every other path gets ``viewer_max_message_size``. Over it
    Hypercorn closes with 1009; here the close also says why, and is counted.

    App queue: Hypercorn hands messages to the app through a queue of
    ``max_app_queue_size`` and awaits room in it; with Quart's queue bounded
    (``BoundedWebsocketConnection``) that is the back-pressure that stops
    reading the socket. Two of those awaits would then wait forever: for a
    message once the app has finished (nobody reads the queue any more), and
    for the disconnect while the app is itself stuck in a send that failed
    (the disconnect is what unblocks it). Puts after the app has finished are
    dropped, and a disconnect that finds the queue full is handed over by a
    task of its own.

    Delivery probes: see dashboard/web/probing.py.
    """

    _refusal: bytes | None = None
    # Hypercorn 0.18 tells the app 1006 for every close the peer starts, even
    # a clean 1000 or 1001: the peer's code is seen only as Hypercorn echoes
    # it back, and passed on in the app's disconnect event (ASGI's "code").
    _peer_close: tuple[int, str] | None = None

    # Class defaults: nothing is allocated per connection until it is needed
    # (a connection costs about 50 KB; 10,000 of them are served at once).
    _app_finished = False
    _waiting_puts: set[asyncio.Future[None]] | None = None
    _pinger: asyncio.Task[None] | None = None

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.buffer = _CountingBuffer(self.buffer.max_length, self)

    async def handle(self, event: Event) -> None:
        if isinstance(event, Request):
            viewer_limit = getattr(self.config, "viewer_max_message_size", None)
            # Compared undecoded: a percent-encoded ingest path gets the
            # smaller limit, never the larger one.
            if viewer_limit is not None and event.raw_path.partition(b"?")[0] != INGEST_PATH:
                self.buffer.max_length = viewer_limit
        if isinstance(event, StreamClosed) and self._peer_close and self.app_put is not None:
            put, (code, reason) = self.app_put, self._peer_close

            async def put_peer_code(message):  # type: ignore[no-untyped-def]
                if message["type"] == "websocket.disconnect":
                    message = {**message, "code": code, "reason": reason}
                await put(message)

            self.app_put = put_peer_code
        early = isinstance(event, Body | Data) and not (self.closed or self.handshake.accepted)
        await super().handle(event)
        if isinstance(event, Request) and self.app_put is not None:
            self.app_put = self._put_while_app_runs(self.app_put)
        if early and self.closed and self.app_put is not None:
            # Data before the handshake was answered: Hypercorn sends 400 and
            # marks the stream closed, but tells neither the app (a viewer
            # would stay in the hub for good) nor the connection (held open).
            await self.app_put({"type": "websocket.disconnect", "code": CloseCode.PROTOCOL_ERROR})
            await self.send(StreamClosed(stream_id=self.stream_id))
        if self.closed and self._pinger is not None:
            # Hypercorn's ping loop would sleep out its interval before it saw
            # the stream closed, holding the connection (and a graceful
            # shutdown) that long. (When the pinger itself is closing the
            # stream, it sees that as soon as its send returns.)
            if self._pinger is not asyncio.current_task():
                self._pinger.cancel()
            self._pinger = None

    def _put_while_app_runs(self, put):  # type: ignore[no-untyped-def]
        queue = getattr(put, "__self__", None)  # Hypercorn's asyncio.Queue

        async def app_put(message: dict) -> None:
            if self._app_finished:
                return  # nobody will ever read it
            if isinstance(queue, asyncio.Queue) and not queue.full():
                queue.put_nowait(message)  # the usual case: no task needed
                return
            # Waiting for room: cancelled if the app finishes first.
            putting = asyncio.ensure_future(put(message))
            if self._waiting_puts is None:
                self._waiting_puts = set()
            self._waiting_puts.add(putting)
            putting.add_done_callback(self._waiting_puts.discard)
            if message["type"] == "websocket.disconnect":
                return  # handed over: whoever is closing the stream goes on
            try:
                await asyncio.wait({putting})
            finally:
                putting.cancel()

        return app_put

    async def app_send(self, message):  # type: ignore[no-untyped-def]
        if message is None:  # the app has finished
            self._app_finished = True
            for putting in list(self._waiting_puts or ()):
                putting.cancel()
        await super().app_send(message)

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
                self._note_pong(event)
                yield event

        return wrapped

    async def _handle_events(self) -> None:
        await super()._handle_events()
        if self._refusal is not None:
            data, self._refusal = self._refusal, None
            await self.send(Data(stream_id=self.stream_id, data=data))
            await self.send(StreamClosed(stream_id=self.stream_id))

    async def _send_pings(self) -> None:
        self._pinger = asyncio.current_task()  # cancelled when the stream closes
        while not self.closed:
            await self._send_wsproto_event(self._periodic_ping())
            await asyncio.sleep(self.config.websocket_ping_interval)

    async def _send_wsproto_event(self, event: WSProtoEvent) -> None:
        if isinstance(event, CloseConnection):
            if self.connection.state == ConnectionState.REMOTE_CLOSING:
                self._peer_close = (event.code, event.reason or "")
            elif event.code == CloseCode.TOO_BIG and not event.reason:
                # Hypercorn's, for a big message: say why.
                reason = f"message over {self.buffer.max_length} bytes"
                event = CloseConnection(CloseCode.TOO_BIG, reason)
        await super()._send_wsproto_event(event)


class _CountingBuffer(WebsocketBuffer):
    """Hypercorn's message buffer, once over the limit: counted, emptied, and
    kept empty. Hypercorn leaves the refused message in the buffer and goes on
    appending whatever more of it the peer sends after the 1009."""

    def __init__(self, max_length: int, stream: WSStream) -> None:
        super().__init__(max_length)
        self._stream = stream
        self.refused = False

    def extend(self, event) -> None:  # type: ignore[no-untyped-def]
        if self.refused:
            raise FrameTooLargeError()
        try:
            super().extend(event)
        except FrameTooLargeError:
            self.refused = True
            self.clear()
            count = getattr(self._stream.config, "count_violation", None)
            if count is not None:
                count(MESSAGE_TOO_BIG, str((self._stream.client or ("",))[0]))
            raise


class BoundedWebsocketConnection(ASGIWebsocketConnection):
    """Quart's WebSocket connection with a bounded queue of received messages,
    and a close that waits for the peer's answer.

    Quart 0.22 queues every received message whether or not the handler reads
    (an unbounded ``asyncio.Queue``): a client sending faster than its handler
    reads grows server memory without limit. Bounded, Quart's receiver waits
    for room, so it stops taking from Hypercorn's app queue; once that is full
    too, Hypercorn stops reading the socket and TCP flow control slows the
    client. What the server holds per connection is then at most
    ``QUEUED_MESSAGES + max_app_queue_size`` messages.

    Once the handler has closed the connection, Hypercorn closes the socket as
    soon as the handler returns. With a flood still arriving, unread bytes make
    that close a TCP reset, and the peer may lose the close frame (it sees
    1006, not why). So after its close the handler waits, up to
    ``CLOSE_REPLY_TIMEOUT``, for the peer's closing answer, and messages that
    arrive meanwhile are dropped unread so the answer gets through.
    """

    def __init__(self, app: Quart, scope) -> None:  # type: ignore[no-untyped-def]
        super().__init__(app, scope)
        self.queue = asyncio.Queue(maxsize=QUEUED_MESSAGES)

    async def handle_messages(self, receive) -> None:  # type: ignore[no-untyped-def]
        while True:
            event = await receive()
            if event["type"] == "websocket.receive" and not self._closed:
                message = event.get("bytes") or event["text"]
                await websocket_received.send_async(message)
                await self.queue.put(message)
            elif event["type"] == "websocket.disconnect":
                return

    async def handle_websocket(self, websocket, send) -> None:  # type: ignore[no-untyped-def]
        await super().handle_websocket(websocket, send)
        if self._closed:  # closed by the handler, not by the peer
            # A bounded wait for the peer's close frame: when it comes, the
            # receiver above returns and Quart cancels this handler at once.
            await asyncio.sleep(CLOSE_REPLY_TIMEOUT)


# Connections that a stop can abort at its deadline (dashboard/web/stopping.py).
hypercorn_run.TCPServer = TrackedTCPServer  # type: ignore[misc]


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
    closed with 1001 (going away) by the hub, and whatever is still open when
    ``shutdown_timeout`` has passed is aborted (dashboard/web/stopping.py).
    """
    runtime = runtime_of(app)
    url = url_of(sock, tls=runtime.config.certfile is not None)
    config = HypercornConfig()
    # Hypercorn takes ownership of the descriptor; ours is detached so it is
    # closed once, by Hypercorn.
    config.bind = [f"fd://{sock.detach()}"]
    config.accesslog = None
    # Hypercorn's own handler would print each of its lines a second time
    # beside the application's logging; route it through logging instead.
    config.errorlog = logging.getLogger("hypercorn.error")
    # Set again when the stop begins, to what is left of the grace (stopping.py).
    config.graceful_timeout = runtime.config.shutdown_timeout
    # Hypercorn listens on the socket again with its own backlog (100 by default).
    config.backlog = runtime.config.listen_backlog
    settings = runtime.config
    # The largest WebSocket message anyone may send is an ingest one; every
    # other path gets the viewer limit (_WSStream).
    config.websocket_max_message_size = max(
        settings.ingest_max_bytes, settings.viewer_max_message_bytes
    )
    config.viewer_max_message_size = settings.viewer_max_message_bytes
    config.viewer_probe_spacing = settings.max_viewer_lag / 4  # dashboard/delivery.py
    config.count_violation = runtime.limits.count
    config.websocket_compression = settings.ws_compression
    # Hypercorn never checks that pings are answered: a dead peer is found
    # only by read_timeout (no byte, not even a pong, for that long).
    config.websocket_ping_interval = settings.ws_ping_interval or None
    config.read_timeout = settings.read_timeout or None
    app.asgi_websocket_class = BoundedWebsocketConnection
    if runtime.config.certfile is not None:
        # With both set Hypercorn counts every bind, fd:// included, as a
        # secure one and wraps its connections in TLS (https, wss; ALPN h2).
        config.certfile = str(runtime.config.certfile)
        config.keyfile = str(runtime.config.keyfile)

    # Read by each TrackedTCPServer; aborted when the stop's grace ends.
    connections = Connections()
    config.open_connections = connections  # type: ignore[attr-defined]
    trigger = stop_trigger(
        shutdown,
        runner=runtime.runner,
        closing=runtime.closing,
        connections=connections,
        timeout=runtime.config.shutdown_timeout,
        hypercorn_config=config,
        url=url,
    )
    log_event(log, logging.INFO, "server_started", url=url, feeds=len(runtime.hub.feeds))
    try:
        await hypercorn_serve(app, config, shutdown_trigger=trigger)
    finally:
        log_event(log, logging.INFO, "server_stopped", url=url)
