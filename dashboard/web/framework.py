"""Every Hypercorn, Quart and wsproto internal the dashboard overrides or
reaches into, and the typed config carrying the settings they read.

Written for Hypercorn 0.18, Quart 0.22 and wsproto 1.3 (``WRITTEN_FOR``, the
pins in pyproject); each override says what it changes. The canary,
tests/codebase/test_framework_pins.py, names each overridden attribute whose
presence or signature differs on the installed versions. Importing this
changes nothing: ``install(app)``, called as serving starts, does. A misspelt
``ServerConfig`` setting is an error (mypy's, and AttributeError when set).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from hypercorn.asyncio import run as hypercorn_run
from hypercorn.protocol import h2, h11
from hypercorn.protocol.events import Body, Data, Event, Request, StreamClosed
from hypercorn.protocol.ws_stream import (
    ASGIWebsocketState,
    FrameTooLargeError,
    WebsocketBuffer,
    WSStream,
)
from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, WebsocketScope
from quart import Quart
from quart.asgi import ASGIWebsocketConnection
from quart.signals import websocket_received
from quart.wrappers import Websocket
from wsproto.connection import ConnectionState
from wsproto.events import CloseConnection, Message
from wsproto.events import Event as WSProtoEvent

from dashboard.backplane import BackplaneError
from dashboard.delivery import DeliveryProbe
from dashboard.limits import MESSAGE_TOO_BIG
from dashboard.protocol import CloseCode
from dashboard.web.direct_send import DIRECT_SEND_EXTENSION, DirectTransport
from dashboard.web.framework_connection import CONNECTION, TrackedTCPServer
from dashboard.web.ingest import INGEST_WS_PATH
from dashboard.web.probing import attach_probe, frame_and_probe, note_pong, periodic_ping
from dashboard.web.server_config import ServerConfig

#: The versions this module was written against (the pins in pyproject match).
WRITTEN_FOR = {"hypercorn": "0.18", "quart": "0.22", "wsproto": "1.3"}
#: Messages Quart holds for one WebSocket handler that has not read them yet.
QUEUED_MESSAGES = 4
#: How long a connection the server closed waits for the peer's close frame.
CLOSE_REPLY_TIMEOUT = 2.0
INGEST_PATH = INGEST_WS_PATH.encode()

ASGIMessage = dict[str, Any]
AppPut = Callable[[ASGIMessage], Awaitable[None]]


#: The settings of a stream served with a plain Hypercorn config: none changed.
_PLAIN = ServerConfig()


def install(app: Quart) -> None:
    """Put the overrides in place for serving *app*: Quart's per app, Hypercorn's
    for the process (it builds connections and streams by these module names).
    Idempotent; what a plain config serves is unchanged."""
    app.asgi_websocket_class = BoundedWebsocketConnection
    # Hypercorn 0.18: hypercorn.asyncio.run builds each connection as TCPServer(...).
    hypercorn_run.TCPServer = TrackedTCPServer  # type: ignore[attr-defined]
    # Hypercorn 0.18: the HTTP/1.1 and HTTP/2 protocols build WSStream(...) by name.
    h11.WSStream = h2.WSStream = ViewerAwareStream  # type: ignore[attr-defined]
    if not getattr(app.log_exception, "quiet_start_errors", False):
        app.log_exception = _quiet_start_errors(app.log_exception)  # type: ignore[method-assign,assignment]


# Override (Quart 0.22 log_exception, per app): Quart logs a startup error's
# traceback before Hypercorn raises LifespanFailureError. An unreachable
# backplane is a setting's problem: the command line says it in one line.
def _quiet_start_errors(log_exception: Callable[[Any], None]) -> Callable[[Any], None]:
    def log_unless_backplane(exception_info: Any) -> None:
        if not isinstance(exception_info[1], BackplaneError):
            log_exception(exception_info)

    log_unless_backplane.quiet_start_errors = True  # type: ignore[attr-defined]
    return log_unless_backplane


class ViewerAwareStream(WSStream):
    """Hypercorn 0.18's WebSocket stream, adjusted per override below:
    permessage-deflate optional, a close frame for frames that cannot be
    parsed, a smaller message size for viewers, an app queue that cannot
    deadlock, pings that stop with the stream, delivery probes and the fast
    send path for viewers."""

    # Class defaults: nothing allocated per connection until needed (10,000 at once).
    _refusal: bytes | None = None
    # Hypercorn 0.18 tells the app 1006 for every close the peer starts: the
    # peer's code, seen only as Hypercorn echoes it, goes in the disconnect.
    _peer_close: tuple[int, str] | None = None
    _app_finished = False
    _waiting_puts: set[asyncio.Future[None]] | None = None
    _pinger: asyncio.Task[None] | None = None
    _probe: DeliveryProbe | None = None
    _direct: DirectTransport | None = None
    _scope: WebsocketScope

    @property
    def settings(self) -> ServerConfig:
        config = self.config
        return config if isinstance(config, ServerConfig) else _PLAIN

    # Override (Hypercorn 0.18 __init__): the message buffer counts refusals;
    # the connection is kept (the fast send path).
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.buffer = _CountingBuffer(self.buffer.max_length, self)
        self._connection = CONNECTION.get(None)

    # Override (Hypercorn 0.18 sets ``scope`` and starts the app in one step,
    # in handle): a viewer's probe goes in before the app's task can run.
    @property
    def scope(self) -> WebsocketScope:
        return self._scope

    @scope.setter
    def scope(self, scope: WebsocketScope) -> None:
        # Compared undecoded, like the message size limit in handle.
        if scope["raw_path"] != INGEST_PATH:
            extensions = scope["extensions"]
            self._probe = attach_probe(extensions, self.settings.viewer_probe_spacing)
        self._scope = scope

    # Override (Hypercorn 0.18 handle): four adjustments, each said below.
    async def handle(self, event: Event) -> None:
        if isinstance(event, Request):
            viewer_limit = self.settings.viewer_max_message_size
            # Message size: every path but ingest's gets the viewer limit. Compared
            # undecoded: a percent-encoded ingest path gets the smaller one.
            if viewer_limit is not None and event.raw_path.partition(b"?")[0] != INGEST_PATH:
                self.buffer.max_length = viewer_limit
        if isinstance(event, StreamClosed) and self._peer_close and self.app_put is not None:
            put, (code, reason) = self.app_put, self._peer_close

            async def put_peer_code(message: ASGIMessage) -> None:
                if message["type"] == "websocket.disconnect":
                    message = {**message, "code": code, "reason": reason}
                await put(message)

            self.app_put = put_peer_code
        early = isinstance(event, Body | Data) and not (self.closed or self.handshake.accepted)
        await super().handle(event)
        if isinstance(event, Request) and self.app_put is not None:
            self.app_put = self._put_while_app_runs(self.app_put)
        if early and self.closed and self.app_put is not None:
            # Data before the handshake was answered: Hypercorn sends 400 and marks
            # the stream closed, but tells neither the app (a viewer would stay in
            # the hub for good) nor the connection (held open).
            await self.app_put({"type": "websocket.disconnect", "code": CloseCode.PROTOCOL_ERROR})
            await self.send(StreamClosed(stream_id=self.stream_id))
        if self.closed:
            self._end_direct()
        if self.closed and self._pinger is not None:
            # Hypercorn's ping loop would sleep out its interval before it saw the
            # stream closed, holding the connection (and a graceful shutdown) that
            # long. (A pinger closing the stream sees it once its send returns.)
            if self._pinger is not asyncio.current_task():
                self._pinger.cancel()
            self._pinger = None

    def _put_while_app_runs(self, put: AppPut) -> AppPut:
        """Hypercorn 0.18's ``app_put`` awaits room in the app's queue (with
        Quart's bounded, the back-pressure that stops reading the socket).
        Two such awaits would never end: a message's once the app has finished,
        the disconnect's while the app is stuck in a failed send (which the
        disconnect unblocks). So puts after the app's end are dropped, and a
        disconnect finding the queue full gets a task."""
        queue = getattr(put, "__self__", None)  # Hypercorn's asyncio.Queue

        async def app_put(message: ASGIMessage) -> None:
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

    # Override (Hypercorn 0.18 app_send): a viewer's data frame may carry a
    # probe (probing.py); the app's end (None) cancels puts still waiting.
    async def app_send(self, message: Any) -> None:
        if message is None:  # the app has finished
            self._app_finished = True
            for putting in list(self._waiting_puts or ()):
                putting.cancel()
        elif self._probe is not None and message["type"] == "websocket.send":
            if not self.closed and self.state is ASGIWebsocketState.CONNECTED:
                frames = frame_and_probe(self.connection, message, self._probe, time.monotonic())
                if frames is not None:
                    await self.send(Data(stream_id=self.stream_id, data=frames))
                    return
        await super().app_send(message)

    # Override (Hypercorn 0.18 _accept): Hypercorn always accepts
    # permessage-deflate when the client offers it (browsers always do).
    # Forgetting the offer before the handshake is answered leaves wsproto's
    # extension off: frames go out uncompressed and a compressed frame coming
    # in is a protocol error (1002), never inflated. And frames wsproto
    # cannot parse get a close frame (_refusing_bad_frames). A viewer over
    # HTTP/1.1 with no extension is offered the fast send path (direct_send.py).
    async def _accept(self, message: Any) -> None:
        if not self.settings.websocket_compression:
            self.handshake.extensions = None
        await super()._accept(message)
        # wsproto 1.3: Connection.events is a method; this connection's is wrapped.
        self.connection.events = self._refusing_bad_frames(self.connection.events)  # type: ignore[method-assign,assignment]
        plain = self.handshake.http_version == "1.1" and not self.handshake.extensions
        connection = self._connection
        if plain and connection is not None and self._probe is not None:  # a viewer
            self._direct = DirectTransport(connection.writer.transport, connection.writer.drain)
            self._scope["extensions"][DIRECT_SEND_EXTENSION] = self._direct  # type: ignore[assignment]

    def _end_direct(self) -> None:  # no data after a close frame, or once closed
        if self._direct is not None:
            self._direct.open = False

    def _refusing_bad_frames(
        self, events: Callable[[], Iterator[WSProtoEvent]]
    ) -> Callable[[], Iterator[WSProtoEvent]]:
        """A frame wsproto cannot parse (invalid UTF-8 in a text frame: 1007;
        a reserved bit or opcode: 1002) ends the connection, but Hypercorn
        0.18 then drops it without a close frame, so the client sees 1006 and
        no reason. Here wsproto's code and reason are sent first."""

        def wrapped() -> Iterator[WSProtoEvent]:
            for event in events():
                if isinstance(event, CloseConnection):
                    self._end_direct()
                # wsproto yields a close while still OPEN only for a frame it
                # failed to parse: a peer's close frame moves it to
                # REMOTE_CLOSING first.
                opened = self.connection.state is ConnectionState.OPEN
                if isinstance(event, CloseConnection) and opened:
                    self._refusal = self.connection.send(
                        CloseConnection(code=event.code, reason=event.reason)
                    )
                    return
                note_pong(self._probe, event)
                yield event

        return wrapped

    # Override (Hypercorn 0.18 _handle_events): sends the refusal queued above.
    async def _handle_events(self) -> None:
        await super()._handle_events()
        if self._refusal is not None:
            data, self._refusal = self._refusal, None
            await self.send(Data(stream_id=self.stream_id, data=data))
            await self.send(StreamClosed(stream_id=self.stream_id))

    # Override (Hypercorn 0.18 _send_pings): the loop can be cancelled when
    # the stream closes (handle), a viewer's ping carries its probe, and the
    # first waits an interval (Hypercorn's goes out at once).
    async def _send_pings(self) -> None:
        self._pinger = asyncio.current_task()  # cancelled when the stream closes
        interval = self.config.websocket_ping_interval
        if interval is None:  # Hypercorn starts the loop only with an interval
            return
        while not self.closed:  # the first after an interval: a connect costs a read less
            await asyncio.sleep(interval)
            await self._send_wsproto_event(periodic_ping(self._probe, time.monotonic()))

    # Override (Hypercorn 0.18 _send_wsproto_event): keeps the peer's close
    # code (see _peer_close), and says why a message was too big.
    async def _send_wsproto_event(self, event: WSProtoEvent) -> None:
        if isinstance(event, CloseConnection):
            self._end_direct()
            if self.connection.state == ConnectionState.REMOTE_CLOSING:
                self._peer_close = (event.code, event.reason or "")
            elif event.code == CloseCode.TOO_BIG and not event.reason:
                # Hypercorn's, for a big message: say why.
                reason = f"message over {self.buffer.max_length} bytes"
                event = CloseConnection(CloseCode.TOO_BIG, reason)
        await super()._send_wsproto_event(event)


class _CountingBuffer(WebsocketBuffer):
    """Hypercorn 0.18's message buffer, once over the limit: counted, emptied,
    and kept empty. Hypercorn leaves the refused message in the buffer and goes
    on appending whatever more of it the peer sends after the 1009."""

    def __init__(self, max_length: int, stream: ViewerAwareStream) -> None:
        super().__init__(max_length)
        self._stream = stream
        self.refused = False

    # Override (Hypercorn 0.18 WebsocketBuffer.extend).
    def extend(self, event: Message[Any]) -> None:
        if self.refused:
            raise FrameTooLargeError()
        try:
            super().extend(event)
        except FrameTooLargeError:
            self.refused = True
            self.clear()
            count = self._stream.settings.count_violation
            if count is not None:
                count(MESSAGE_TOO_BIG, str((self._stream.client or ("",))[0]))
            raise


class BoundedWebsocketConnection(ASGIWebsocketConnection):
    """Quart 0.22's WebSocket connection with a bounded queue of received
    messages, and a close that waits for the peer's answer."""

    # Override (Quart 0.22 __init__): Quart's queue of received messages is
    # unbounded: a client sending faster than its handler reads grows memory
    # without limit. Bounded, Quart's receiver waits for room and stops taking
    # from Hypercorn's app queue; once that is full too, Hypercorn stops reading
    # and TCP slows the client (``QUEUED_MESSAGES + max_app_queue_size`` held).
    def __init__(self, app: Quart, scope: WebsocketScope) -> None:
        super().__init__(app, scope)
        self.queue = asyncio.Queue(maxsize=QUEUED_MESSAGES)

    # Override (Quart 0.22 handle_messages): after the handler's close,
    # messages are dropped unread so the peer's closing answer gets through.
    async def handle_messages(self, receive: ASGIReceiveCallable) -> None:
        while True:
            event = await receive()
            if event["type"] == "websocket.receive" and not self._closed:
                message = event.get("bytes") or event["text"]
                await websocket_received.send_async(message)
                await self.queue.put(message)
            elif event["type"] == "websocket.disconnect":
                return

    # Override (Quart 0.22 handle_websocket): once the handler has closed the
    # connection, Hypercorn closes the socket as the handler returns. With a
    # flood still arriving, unread bytes make that a TCP reset and the peer may
    # lose the close frame (1006). So it waits up to CLOSE_REPLY_TIMEOUT.
    async def handle_websocket(self, websocket: Websocket, send: ASGISendCallable) -> None:
        await super().handle_websocket(websocket, send)
        if self._closed:  # closed by the handler, not by the peer
            await asyncio.sleep(CLOSE_REPLY_TIMEOUT)  # cancelled as the peer's close comes
