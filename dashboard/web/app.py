"""The Quart application: ``create_app(config)`` wires feeds, hub and routes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Iterable
from dataclasses import dataclass, field

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

from dashboard.announce import too_many_configured
from dashboard.backplane import Backplane, MemoryBackplane
from dashboard.config import DashboardConfig
from dashboard.health import HealthCollector, health_reasons
from dashboard.hub import Hub
from dashboard.limits import Limits, limits_from_config
from dashboard.metrics import Metrics
from dashboard.producers import Backoff, Producers
from dashboard.reduce import parse_history_query, reduce_points
from dashboard.store import HistoryStore, open_history_store
from dashboard.web.assets import StaticAssets
from dashboard.web.gate import access_blueprint, session_end_of
from dashboard.web.ingest import ingest_blueprint
from dashboard.web.viewer import RecordPeerClose, serve_viewer
from feeds.base import FeedSource
from feeds.loader import FeedLoadError, FeedSpec
from feeds.loader import load as load_feed

IMMUTABLE = "public, max-age=31536000, immutable"
#: Feed titles, units and errors are shown as text (static/js); should one
#: ever reach the DOM as markup anyway, only the page's own script files run:
#: no inline script, no on* handler, no javascript: URL, no plugin. Markup
#: cannot call eval, so 'unsafe-eval' opens nothing to it; Plotly's WebGL
#: traces (regl) compile shaders' glue with Function(), and Playwright's
#: polling predicates are evaluated in the page.
PAGE_CSP = "script-src 'self' 'unsafe-eval'; object-src 'none'; base-uri 'none'"


@dataclass
class Runtime:
    """What the routes share; one per app, reached as ``app.extensions["livefeed"]``."""

    config: DashboardConfig
    hub: Hub
    producers: Producers
    assets: StaticAssets
    #: This app's Prometheus registry and metric objects (GET /metrics).
    metrics: Metrics = field(default_factory=Metrics)
    #: Per-client limits, and the count of their violations by reason.
    limits: Limits = field(default_factory=Limits)
    started: float = field(default_factory=time.monotonic)
    #: Set when the server begins to shut down, so long-lived sockets that are
    #: not viewers (ingest) can close with 1001 instead of being cut off.
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    #: Where the history is kept across restarts (--history-db); None: memory only.
    store: HistoryStore | None = None


#: Where a WebSocket's scope records the address it was counted under.
COUNTED_ADDRESS = "livefeed.counted_address"

#: What runs when no feed is configured; loaded like any other feed.
DEFAULT_FEED = "feeds.ticker:tickers"


def default_sources(config: DashboardConfig) -> list[FeedSource]:
    """The configured feeds, or the simulated tickers; raises FeedLoadError."""
    specs = config.feeds or (
        FeedSpec(
            DEFAULT_FEED,
            {
                "symbols": config.symbols,
                "rate": config.rate,
                "seed": config.seed,
                "drift": config.drift,
                "volatility": config.volatility,
            },
        ),
    )
    sources = [source for spec in specs for source in load_feed(spec)]
    names = [s.info.name for s in sources]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise FeedLoadError(f"two feeds are named {', '.join(duplicates)}: rename one (name=...)")
    return sources


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
    metrics = Metrics()  # a registry of this app's own, not the process-global one
    # Everything that can fail on bad settings first, the file (locked) last.
    sources = list(default_sources(config) if sources is None else sources)
    if too_many := too_many_configured(len(sources), config.max_feeds):
        raise FeedLoadError(too_many)
    assets = StaticAssets(config.static_dir)
    store = stored = None
    if config.history_db is not None:
        if backplane is not None:
            raise ValueError("history_db keeps the in-memory backplane's numbering: no backplane=")
        # Raises HistoryStoreError (clear message) for a file that cannot be used.
        store, stored = open_history_store(config.history_db, config.history_size)
        # Each feed numbered on from its last kept seq; after an unclean stop
        # (a new epoch) its first new point is drawn after a break.
        breaks = () if stored.complete else stored.points.keys()
        backplane = MemoryBackplane(epoch=stored.epoch, seqs=stored.last_seqs, breaks=breaks)
    limits = limits_from_config(config)
    metrics.limit_violations = limits.violations  # read at scrape time
    hub = Hub(
        backplane or MemoryBackplane(),
        flush_interval=config.flush_interval,
        history_size=config.history_size,
        snapshot_size=config.snapshot_size,
        pushed_history_size=config.pushed_history_size,
        client_max_frames=config.client_max_frames,
        client_conflate_frames=config.client_conflate_frames,
        slow_client_timeout=config.slow_client_timeout,
        max_viewer_lag=config.max_viewer_lag,
        max_viewer_bytes=config.max_viewer_bytes,
        store=store,
        metrics=metrics,
        limits=limits,
    )
    metrics.feeds.set_function(lambda: len(hub.feeds))
    metrics.max_feeds.set(config.max_feeds)
    if stored is not None:
        hub.restore(stored.points)
    backoff = Backoff(config.restart_backoff, config.restart_backoff_max, config.max_restarts)
    producers = Producers(hub, sources, backoff, metrics)
    runtime = Runtime(config, hub, producers, assets, metrics, limits, store=store)

    def feed_states() -> list[str]:
        return [status.state for status in producers.status.values()]

    metrics.registry.register(HealthCollector(feed_states, store))
    app.extensions["livefeed"] = runtime

    @app.while_serving
    async def run_feeds() -> AsyncGenerator[None, None]:
        if store is not None:
            store.start()
        await hub.start()
        producers.start()
        try:
            yield
        finally:
            try:
                await producers.stop()
                hub.close_all()
                await hub.stop()  # its last flush is still saved
            finally:
                if store is not None:
                    await store.close()  # writes what is queued first

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
        reasons = health_reasons(store.failing if store else None, feed_states())
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
