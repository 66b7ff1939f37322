"""What is wrong with a running dashboard, for ``/healthz`` and ``/metrics``.

``/healthz`` is a liveness check: it answers 200 as long as the server
answers at all. Its ``status`` is "ok", or "degraded" with ``reasons`` when
something a viewer would notice is failing: the history store cannot write,
feeds are restarting, have failed or have stalled, or the shared backplane
(Redis) cannot be reached: new points are paused. It needs no token
(docs/security.md), so the reasons carry counts and the store's SQLite error,
never a feed's name or error: those are in ``/api/feeds`` and the log. The
backplane's URL is shown redacted (never its password).

The same causes are gauges on ``/metrics``, read at scrape time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from dashboard.backplane_url import parse_backplane_url, redact_url
from dashboard.store import HistoryStore

#: Every state a supervised feed can be in (dashboard/producers.py).
FEED_STATES = ("idle", "running", "stalled", "restarting", "stopped", "failed", "standby", "paused")
#: The feed states that make the dashboard degraded.
DEGRADED_FEED_STATES = ("restarting", "failed", "stalled")


#: The reason /healthz gives while the shared backplane cannot be reached.
BACKPLANE_DOWN = "backplane down"


def health_reasons(
    store_failing: str | None, feed_states: Iterable[str], backplane_up: bool = True
) -> list[str]:
    """Why the dashboard is degraded; empty when it is not."""
    reasons = []
    if not backplane_up:
        reasons.append(BACKPLANE_DOWN)
    if store_failing is not None:
        reasons.append(f"history store failing: {store_failing}")
    counts = Counter(feed_states)
    for state in DEGRADED_FEED_STATES:
        if counts[state]:
            feeds = "feed" if counts[state] == 1 else "feeds"
            reasons.append(f"{counts[state]} {feeds} {state}")
    return reasons


def backplane_health(url: str | None, up: bool) -> dict[str, Any]:
    """/healthz's ``backplane``: ``kind`` ("memory" for the embedded one, else
    the URL's family: "redis"), ``url`` redacted (None for memory), ``up``."""
    if url is None:
        return {"kind": "memory", "url": None, "up": up}
    try:
        shown = parse_backplane_url(url).redacted
    except ValueError:  # the config refuses such a URL; never show a password anyway
        shown = redact_url(url)
    return {"kind": "redis", "url": shown, "up": up}


class HealthCollector:
    """The gauges of the causes: feeds per state, and the history store's state."""

    def __init__(self, feed_states: Callable[[], Iterable[str]], store: HistoryStore | None):
        self._feed_states = feed_states
        self._store = store

    def collect(self) -> Iterator[Metric]:
        feeds = GaugeMetricFamily(
            "livefeed_feed_states",
            "Feeds run by this dashboard, by state (restarting, failed and stalled make "
            "/healthz degraded; pushed-in feeds are not counted).",
            labels=["state"],
        )
        counts = Counter(self._feed_states())
        for state in FEED_STATES:
            feeds.add_metric([state], counts[state])
        yield feeds
        store = self._store
        if store is None:
            return  # no --history-db: nothing to fail
        yield GaugeMetricFamily(
            "livefeed_history_store_failing",
            "1 while writes to the history file fail (they are retried, points kept in "
            "memory), else 0.",
            value=int(store.failing is not None),
        )
        yield GaugeMetricFamily(
            "livefeed_history_points_queued",
            "Points waiting to be written to the history file.",
            value=store.queued,
        )
        yield CounterMetricFamily(
            "livefeed_history_points_lost",
            "Points never written to the history file: more were waiting than memory keeps.",
            value=store.lost,
        )
