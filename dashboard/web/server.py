"""Serve the app on Hypercorn, and shut down so viewers see 1001, not 1011.

``serve()`` binds nothing (``bind_socket`` does, so the caller knows the
address first): it builds Hypercorn's config from the dashboard's, puts the
Hypercorn and Quart overrides in place (dashboard/web/framework.py) and runs
until asked to stop (dashboard/web/stopping.py).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable

from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.utils import LifespanFailureError
from quart import Quart
from quart.signals import got_serving_exception

from dashboard.backplane import BackplaneError
from dashboard.listen_backlog import DEFAULT_LISTEN_BACKLOG
from dashboard.logs import log_event
from dashboard.web.framework import install
from dashboard.web.server_config import ServerConfig
from dashboard.web.state import Runtime, runtime_of
from dashboard.web.stopping import Connections, stop_trigger

log = logging.getLogger(__name__)


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


def url_of(sock: socket.socket, *, tls: bool = False) -> str:
    host, port = sock.getsockname()[:2]
    scheme = "https" if tls else "http"
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


def server_config(runtime: Runtime, fd: int, connections: Connections) -> ServerConfig:
    """Hypercorn's config for serving on the listening descriptor *fd*, with
    the settings the overrides read (dashboard/web/framework.py)."""
    settings = runtime.config
    config = ServerConfig()
    config.bind = [f"fd://{fd}"]
    config.accesslog = None
    # Hypercorn's own handler would print each of its lines a second time
    # beside the application's logging; route it through logging instead.
    config.errorlog = logging.getLogger("hypercorn.error")
    # Set again when the stop begins, to what is left of the grace (stopping.py).
    config.graceful_timeout = settings.shutdown_timeout
    # Hypercorn listens on the socket again with its own backlog (100 by default).
    config.backlog = settings.listen_backlog
    # The largest WebSocket message anyone may send is an ingest one; every
    # other path gets the viewer limit (ViewerAwareStream).
    config.websocket_max_message_size = max(
        settings.ingest_max_bytes, settings.viewer_max_message_bytes
    )
    config.viewer_max_message_size = settings.viewer_max_message_bytes
    # At most one probe per max_viewer_lag (dashboard/delivery.py): each costs a
    # pong read, which at load A was half the server's CPU at /4 (RESULTS.md).
    config.viewer_probe_spacing = settings.max_viewer_lag
    config.count_violation = runtime.limits.count
    config.websocket_compression = settings.ws_compression
    # Hypercorn never checks that pings are answered: a dead peer is found
    # only by read_timeout (no byte, not even a pong, for that long).
    config.websocket_ping_interval = settings.ws_ping_interval or None
    # Hypercorn 0.18 annotates read_timeout as int, and uses it as seconds:
    # a fraction works as well.
    config.read_timeout = settings.read_timeout or None  # type: ignore[assignment]
    if settings.certfile is not None:
        # With both set Hypercorn counts every bind, fd:// included, as a
        # secure one and wraps its connections in TLS (https, wss; ALPN h2).
        config.certfile = str(settings.certfile)
        config.keyfile = str(settings.keyfile)
    # Read by each TrackedTCPServer; aborted when the stop's grace ends.
    config.open_connections = connections
    return config


async def serve(
    app: Quart,
    sock: socket.socket,
    shutdown: asyncio.Event,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Serve *app* on the listening *sock* until *shutdown* is set;
    *on_ready* is called once the core has started and connections are taken.

    Hypercorn, asked to stop, waits for open connections and then cancels
    them, so WebSocket viewers would see 1011. Here the viewers are first
    closed with 1001 (going away) by the hub, and whatever is still open when
    ``shutdown_timeout`` has passed is aborted (dashboard/web/stopping.py).

    A backplane that cannot be reached as the core starts raises its
    ``BackplaneUnavailable`` here (not Hypercorn's LifespanFailureError), so
    the caller can say so in one line.
    """
    runtime = runtime_of(app)
    url = url_of(sock, tls=runtime.config.certfile is not None)
    connections = Connections()
    # Hypercorn takes ownership of the descriptor; ours is detached so it is
    # closed once, by Hypercorn.
    config = server_config(runtime, sock.detach(), connections)
    install(app)
    trigger = stop_trigger(
        shutdown,
        runner=runtime.runner,
        closing=runtime.closing,
        connections=connections,
        timeout=runtime.config.shutdown_timeout,
        hypercorn_config=config,
        url=url,
    )
    started = False

    async def ready_then_trigger() -> None:
        # Hypercorn awaits its shutdown trigger once the app's startup (the
        # core) is done and its servers are listening: the moment to say so.
        nonlocal started
        started = True
        log_event(log, logging.INFO, "server_started", url=url, feeds=len(runtime.hub.feeds))
        if on_ready is not None:
            on_ready()
        await trigger()

    failures: list[BaseException] = []

    def keep_failure(_sender: object, exception: BaseException, **_kwargs: object) -> None:
        failures.append(exception)

    got_serving_exception.connect(keep_failure, app, weak=False)
    try:
        await hypercorn_serve(app, config, shutdown_trigger=ready_then_trigger)
    except LifespanFailureError:
        if failures and isinstance(failures[0], BackplaneError):
            raise failures[0] from None
        raise
    finally:
        got_serving_exception.disconnect(keep_failure, app)
        if started:  # a start that failed has said why, once
            log_event(log, logging.INFO, "server_stopped", url=url)
