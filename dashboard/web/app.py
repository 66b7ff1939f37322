"""The Quart application: ``create_app(config)`` wires the core to the routes.

The routes live in module-level blueprints that read the app's Runtime
(dashboard/web/state.py): pages (the page and its files), api (health,
metrics, feeds, history), gate (origins, the viewer token, login), ingest
(points pushed in), influx (InfluxDB's write APIs), viewer (``/ws``) and sse
(``/sse``). This module only puts them together.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Iterable

from quart import Quart
from werkzeug.exceptions import HTTPException

from dashboard.assemble import Core, assemble
from dashboard.backplane import Backplane
from dashboard.config import DashboardConfig
from dashboard.web import api, gate, influx, ingest, pages, sse, viewer
from dashboard.web.assets import StaticAssets
from dashboard.web.errors import http_error_as_json
from dashboard.web.front import front_door
from dashboard.web.state import RUNTIME_KEY, Runtime
from dashboard.web.viewer import RecordPeerClose
from feeds.base import FeedSource


def create_app(
    config: DashboardConfig | None = None,
    *,
    sources: Iterable[FeedSource] | None = None,
    backplane: Backplane | None = None,
) -> Quart:
    config = config or DashboardConfig()
    app = Quart(__name__, static_folder=None)
    # Bodies are only taken by ingest; Quart fixes the limit when a request is
    # built, so the ingest limit must be the app's.
    app.config["MAX_CONTENT_LENGTH"] = config.ingest_max_bytes
    # Quart drops a WebSocket peer's close code; viewers count and log it.
    app.asgi_app = RecordPeerClose(app.asgi_app)  # type: ignore[method-assign]
    # Outermost: the Host check and forwarded headers before anything else.
    app.asgi_app = front_door(app.asgi_app, config.trusted_proxies, config.allowed_hosts)  # type: ignore[method-assign]
    # Before the core, which locks a history file.
    assets = StaticAssets(config.static_dir, transports=config.transports)
    core = assemble(config, sources=sources, backplane=backplane)
    app.extensions[RUNTIME_KEY] = Runtime(core, assets)  # before the blueprints read it
    app.while_serving(_running(core))
    app.register_error_handler(HTTPException, http_error_as_json)
    app.register_blueprint(pages.blueprint)
    app.register_blueprint(api.blueprint)
    app.register_blueprint(ingest.blueprint)
    app.register_blueprint(influx.blueprint)  # after ingest: it shares ingest's writer
    # The Origin and viewer checks run before every request and WebSocket;
    # registered before viewer's connection count, so a refused handshake is
    # never counted against its address.
    app.register_blueprint(gate.blueprint)
    app.register_blueprint(viewer.blueprint)
    app.register_blueprint(sse.blueprint)
    return app


def _running(core: Core) -> Callable[[], AsyncGenerator[None, None]]:
    """The feeds, hub and store run while the app serves."""

    async def run_core() -> AsyncGenerator[None, None]:
        async with core.running():
            yield

    return run_core
