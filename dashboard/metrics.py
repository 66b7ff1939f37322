"""Prometheus metrics of one app: ``GET /metrics`` renders ``Metrics.registry``.

Each app has its own ``CollectorRegistry`` (never prometheus-client's global
default one): several apps run in one test process and must not share counts.
Labels are bounded sets only: a close code, an ingest error code, a configured
feed's name. Never a client address or anything a client chooses.

The fan-out counters (frames, bytes, points) are updated for every frame
written to every viewer, 1,000+ times per flush: they are plain integers,
read by a collector only when ``/metrics`` is scraped. ``Counter.inc`` takes a
lock (about 0.4 us; an attribute add is about 0.07 us).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder


class Metrics:
    """The registry of one app and every metric object the dashboard updates."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        # Long: one declaration per metric, in the order /metrics lists them: read
        # as the catalogue of what the dashboard exposes, it is clearer whole.
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        # Memory, CPU and open files of the server process: what a bounded
        # memory claim is checked against.
        ProcessCollector(registry=r)

        # --- fan-out hot path: plain integers, see _SentCollector ---
        #: Frames written to viewer sockets (counted after the write returns).
        self.frames_sent = 0
        #: Bytes of those frames (UTF-8 payload, without WebSocket framing).
        self.bytes_sent = 0
        #: Of frames_sent, those written straight to the transport (the fast
        #: path, dashboard/web/direct_send.py).
        self.frames_sent_direct = 0
        #: Points in frames queued to viewers: a batch's points times the
        #: viewers it was queued for, plus snapshot and replay points. Counted
        #: by the hub when it queues (a frame does not carry its point count);
        #: frames later dropped with a slow viewer's outbox are included.
        self.points_sent = 0
        #: Of the viewers, those on Server-Sent Events (dashboard/web/sse.py).
        self.sse_viewers = 0
        #: Limit violations by reason; the app points this at Limits.violations.
        self.limit_violations: Mapping[str, int] = {}
        r.register(_SentCollector(self))

        # Set to functions of the hub's state by the hub (read at scrape time).
        self.viewers = Gauge("livefeed_viewers", "Viewer WebSocket connections open.", registry=r)
        self.hub_lag = Gauge(
            "livefeed_hub_lag_seconds",
            "How long the stalest point waited in the hub before being queued for every "
            "viewer: the oldest point still waiting for a flush, or, if longer, the oldest "
            "point of the last flush. About flush_interval when healthy; grows when the "
            "event loop is overloaded or flushing stalls.",
            registry=r,
        )
        self.viewer_lag = Gauge(
            "livefeed_viewer_lag_seconds",
            "Seconds of data the worst-served viewer misses: the age of its oldest frame not "
            "yet written to its socket, or, while it gets conflated batches, how long it has "
            "been behind. Stays near 0 when viewers keep up; past max_viewer_lag a viewer is "
            "conflated.",
            registry=r,
        )
        self.flush_seconds = Gauge(
            "livefeed_hub_flush_seconds",
            "Duration of the last flush (encode once per subscription, queue for every viewer).",
            registry=r,
        )
        self.backplane_up = Gauge(
            "livefeed_backplane_up",
            "1 while the backplane can be reached (always, for the in-memory one); 0 while "
            "a shared one (Redis) cannot: new points are paused and ingest answers 503.",
            registry=r,
        )
        self.feeds = Gauge(
            "livefeed_feeds", "Feeds the hub holds, configured and created by ingest.", registry=r
        )
        self.max_feeds = Gauge(
            "livefeed_max_feeds",
            "The --max-feeds cap: ingest creating a feed beyond it is refused and counted as "
            'livefeed_ingest_rejected{code="too_many_feeds"}.',
            registry=r,
        )
        # incremented by the slow-client conflation
        self.conflations = Counter(
            "livefeed_conflations",
            "Times a slow viewer's queued updates were conflated to the latest value per series.",
            registry=r,
        )
        self.disconnects = Counter(
            "livefeed_viewer_disconnects",
            "Viewer connections ended, by WebSocket close code (1006: ended without a close "
            "frame, e.g. the peer vanished).",
            ["code"],
            registry=r,
        )
        self.feed_restarts = Counter(
            "livefeed_feed_restarts", "Restarts of a feed after it raised.", ["feed"], registry=r
        )
        self.feed_paused_drops = Counter(
            "livefeed_feed_paused_drops",
            "Points a feed made while the backplane was down that were never published "
            "(more than its pause buffer holds, or held when the feed stopped).",
            ["feed"],
            registry=r,
        )
        self.ingest_points = Counter(
            "livefeed_ingest_points_accepted",
            "Points accepted by push ingest (HTTP and WebSocket).",
            registry=r,
        )
        self.login_failures = Counter(
            "livefeed_login_failures",
            "Wrong viewer tokens: at the login form or in an Authorization header. Attempts "
            "refused unchecked after too many are livefeed_limit_violations{reason="
            '"login_attempts"}.',
            registry=r,
        )
        self.ingest_rejected = Counter(
            "livefeed_ingest_rejected",
            "Ingest requests or messages rejected, by error code (see docs/protocol.md).",
            ["code"],
            registry=r,
        )

    def conflated(self) -> None:
        """Count one conflation of a slow viewer's updates."""
        self.conflations.inc()

    def disconnected(self, code: int) -> None:
        self.disconnects.labels(code=str(code)).inc()

    def render(self, accept: str | None) -> tuple[bytes, str]:
        """The exposition for ``GET /metrics`` and its content type: the format
        the scraper's ``Accept`` asks for (OpenMetrics), else Prometheus text 0.0.4."""
        encode, content_type = choose_encoder(accept or "")
        return encode(self.registry), content_type


class _SentCollector:
    """Reports the fan-out counters kept as plain integers on ``Metrics``."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        m = self._metrics
        yield CounterMetricFamily(
            "livefeed_frames_sent", "Frames written to viewer sockets.", value=m.frames_sent
        )
        yield CounterMetricFamily(
            "livefeed_frames_sent_direct",
            "Of livefeed_frames_sent, those written straight to the socket's transport (the "
            "fast send path); the others went through Quart and Hypercorn (WebSockets over "
            "HTTP/2, permessage-deflate).",
            value=m.frames_sent_direct,
        )
        yield CounterMetricFamily(
            "livefeed_bytes_sent",
            "Bytes of the frames written to viewer sockets (payload, UTF-8).",
            value=m.bytes_sent,
        )
        violations = CounterMetricFamily(
            "livefeed_limit_violations",
            "Clients that broke a limit, by reason (message_rate, subscribe_rate, "
            "subscribe_names, message_too_big, connections_per_address, login_attempts).",
            labels=["reason"],
        )
        for reason, count in sorted(m.limit_violations.items()):
            violations.add_metric([reason], count)
        yield violations
        yield GaugeMetricFamily(
            "livefeed_sse_viewers",
            "Of livefeed_viewers, those on Server-Sent Events (GET /sse) instead of a WebSocket.",
            value=m.sse_viewers,
        )
        yield CounterMetricFamily(
            "livefeed_points_sent",
            "Points in frames queued to viewers (batches times viewers, snapshots, replays).",
            value=m.points_sent,
        )
