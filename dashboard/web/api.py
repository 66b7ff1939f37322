"""The JSON and metrics endpoints: ``/healthz``, ``/metrics``, ``/api/feeds``
and ``/api/feeds/<feed>/history``. What they answer is decided by pure code
(dashboard/health.py, dashboard/reduce.py); these routes read the runtime."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from quart import Blueprint, Response, abort, current_app, jsonify, request

from dashboard.health import backplane_health, health_reasons
from dashboard.reduce import parse_history_query, reduce_points, select_history
from dashboard.web.state import Runtime, runtime_of

blueprint = Blueprint("api", __name__)


@blueprint.get("/healthz")
async def healthz() -> Response:
    runtime = runtime_of(current_app)
    hub, store = runtime.hub, runtime.store
    # 200 whatever the reasons: the server is alive; "degraded" says what fails.
    up = hub.backplane_up
    reasons = health_reasons(store.failing if store else None, runtime.core.feed_states(), up)
    return jsonify(
        status="degraded" if reasons else "ok",
        reasons=reasons,
        uptime_s=round(time.monotonic() - runtime.started, 3),
        epoch=hub.epoch,
        feeds=len(hub.feeds),
        clients=len(hub.clients),
        backplane=backplane_health(runtime.config.backplane, up),
    )


@blueprint.get("/metrics")
async def prometheus_metrics() -> Response:
    body, content_type = runtime_of(current_app).metrics.render(request.headers.get("Accept"))
    return Response(body, content_type=content_type)


def feed_rows(runtime: Runtime) -> list[dict[str, Any]]:
    """Every feed's info and how its producer is doing, as /api/feeds lists them."""
    hub, producers = runtime.hub, runtime.producers
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
    return feeds


@blueprint.get("/api/feeds")
async def list_feeds() -> Response:
    runtime = runtime_of(current_app)
    return jsonify(epoch=runtime.hub.epoch, feeds=feed_rows(runtime))


@blueprint.get("/api/feeds/<feed>/history")
async def feed_history(feed: str) -> Response:
    hub = runtime_of(current_app).hub
    history = hub.histories.get(feed)
    if history is None:
        abort(404, f"unknown feed {feed!r}")
    try:
        query = parse_history_query(request.args)
    except ValueError as error:
        abort(400, str(error))
    points, truncated = select_history(history, query)
    if query.max_points is None:
        wire = [p.to_dict() for p in points]
    else:
        # An hour is ~100 ms of Python: off the loop that flushes to viewers.
        wire = await asyncio.to_thread(reduce_points, points, query.max_points)
    return jsonify(feed=feed, epoch=hub.epoch, truncated=truncated, points=wire)
