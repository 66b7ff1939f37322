"""The Quart application: ``create_app(config)`` wires feeds, hub and routes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Iterable

from quart import (
    Quart,
    Response,
    abort,
    jsonify,
    request,
    send_file,
    send_from_directory,
    websocket,
)
from werkzeug.exceptions import HTTPException

from dashboard.assemble import assemble
from dashboard.backplane import Backplane
from dashboard.config import DashboardConfig
from dashboard.health import health_reasons
from dashboard.reduce import parse_history_query, reduce_points
from dashboard.web.assets import StaticAssets
from dashboard.web.gate import access_blueprint, session_end_of
from dashboard.web.ingest import ingest_blueprint
from dashboard.web.state import RUNTIME_KEY, Runtime
from dashboard.web.viewer import RecordPeerClose, serve_viewer
from feeds.base import FeedSource

IMMUTABLE = "public, max-age=31536000, immutable"
#: Feed titles, units and errors are shown as text (static/js); should one
#: ever reach the DOM as markup anyway, only the page's own script files run:
#: no inline script, no on* handler, no javascript: URL, no plugin. Markup
#: cannot call eval, so 'unsafe-eval' opens nothing to it; Plotly's WebGL
#: traces (regl) compile shaders' glue with Function(), and Playwright's
#: polling predicates are evaluated in the page.
PAGE_CSP = "script-src 'self' 'unsafe-eval'; object-src 'none'; base-uri 'none'"


#: Where a WebSocket's scope records the address it was counted under.
COUNTED_ADDRESS = "livefeed.counted_address"


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
    assets = StaticAssets(config.static_dir)  # before the core, which locks a history file
    core = assemble(config, sources=sources, backplane=backplane)
    runtime = Runtime(core, assets)
    hub, producers, metrics, limits, store = (
        core.hub,
        core.producers,
        core.metrics,
        core.limits,
        core.store,
    )
    app.extensions[RUNTIME_KEY] = runtime

    @app.while_serving
    async def run_feeds() -> AsyncGenerator[None, None]:
        async with core.running():
            yield

    @app.errorhandler(HTTPException)
    async def json_error(error: HTTPException) -> tuple[Response, int]:
        return jsonify(error=error.description or error.name), error.code or 500

    @app.get("/")
    async def index() -> Response:
        response = Response(runtime.assets.index_html, mimetype="text/html")
        response.headers["Cache-Control"] = "no-cache"
        response.headers["Content-Security-Policy"] = PAGE_CSP
        return response

    @app.get("/favicon.ico")
    async def favicon() -> Response:
        return await send_file(runtime.assets.directory / "favicon.svg", mimetype="image/svg+xml")

    @app.get("/static/<version>/vendor/plotly.min.js")
    async def plotly_js(version: str) -> Response:
        return _cached(await send_file(runtime.assets.plotly_js), version)

    @app.get("/static/<version>/<path:path>")
    async def static_file(version: str, path: str) -> Response:
        # send_from_directory refuses paths that leave the folder (404).
        return _cached(await send_from_directory(runtime.assets.directory, path), version)

    def _cached(response: Response, version: str) -> Response:
        # An old page asking for an old version still gets a file, just not
        # one it may keep: only the current version is immutable.
        current = version == runtime.assets.version
        response.headers["Cache-Control"] = IMMUTABLE if current else "no-cache"
        return response

    @app.get("/healthz")
    async def healthz() -> Response:
        # 200 whatever the reasons: the server is alive; "degraded" says what fails.
        reasons = health_reasons(store.failing if store else None, core.feed_states())
        return jsonify(
            status="degraded" if reasons else "ok",
            reasons=reasons,
            uptime_s=round(time.monotonic() - runtime.started, 3),
            epoch=hub.epoch,
            feeds=len(hub.feeds),
            clients=len(hub.clients),
        )

    @app.get("/metrics")
    async def prometheus_metrics() -> Response:
        body, content_type = metrics.render(request.headers.get("Accept"))
        return Response(body, content_type=content_type)

    @app.get("/api/feeds")
    async def list_feeds() -> Response:
        feeds = []
        for name, info in hub.feeds.items():
            status = producers.status.get(name)
            history = hub.histories[name]
            feeds.append(
                {
                    **info.to_dict(),
                    # Pushed-in feeds have no producer here: "external".
                    "status": status.state if status else "external",
                    "error": status.error if status else "",
                    "restarts": status.restarts if status else 0,
                    "published": status.published if status else history.last_seq,
                    "dropped": status.dropped if status else 0,
                    "skipped": status.skipped if status else 0,
                    "skipped_reason": status.skipped_reason if status else "",
                    "stall_after": producers.stall_after.get(name),
                    "last_seq": history.last_seq,
                    "held": len(history),
                }
            )
        return jsonify(epoch=hub.epoch, feeds=feeds)

    @app.get("/api/feeds/<feed>/history")
    async def feed_history(feed: str) -> Response:
        history = hub.histories.get(feed)
        if history is None:
            abort(404, f"unknown feed {feed!r}")
        try:
            query = parse_history_query(request.args)
        except ValueError as error:
            abort(400, str(error))
        if query.since is None:
            points, truncated = history.recent(), False
        else:
            truncated = len(history) > 0 and query.since < history.first_seq - 1
            points = history.since(query.since)
        if query.from_ts is not None:
            points = [p for p in points if p.ts >= query.from_ts]
        if query.max_points is None:
            wire = [p.to_dict() for p in points]
        else:
            # An hour is ~100 ms of Python: off the loop that flushes to viewers.
            wire = await asyncio.to_thread(reduce_points, points, query.max_points)
        return jsonify(feed=feed, epoch=hub.epoch, truncated=truncated, points=wire)

    app.register_blueprint(ingest_blueprint(runtime))
    # Origin check on WebSockets, viewer token and /login (hooks run before every route).
    app.register_blueprint(access_blueprint(runtime))

    @app.before_websocket
    async def count_connection() -> tuple[Response, int] | None:
        # Viewer and ingest WebSockets count against their client's address;
        # one over the limit is refused (HTTP 429) before its route runs.
        address = str(websocket.remote_addr or "")
        if not limits.open_connection(address):
            return jsonify(error=limits.too_many_connections(), code="too_many_connections"), 429
        websocket.scope[COUNTED_ADDRESS] = address
        return None

    @app.teardown_websocket
    async def uncount_connection(_error: BaseException | None) -> None:
        # Runs however the WebSocket ended, the handler cancelled included.
        address = websocket.scope.pop(COUNTED_ADDRESS, None)
        if address is not None:
            limits.close_connection(address)

    @app.websocket("/ws")
    async def ws() -> None:
        await serve_viewer(
            hub,
            await_subscribe=websocket.args.get("await_subscribe", "") in ("1", "true"),
            subscribe_timeout=config.await_subscribe_timeout,
            metrics=metrics,
            session_end=session_end_of(websocket),  # closes it when its login ends
        )

    return app
