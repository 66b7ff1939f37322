"""Metrics kept by the hub, without a server: counts, gauges, registries."""

import pytest
from prometheus_client import REGISTRY

from dashboard.metrics import Metrics
from dashboard.protocol import Subscribe
from tests.support.hubs import feed_points, make_hub


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def test_each_metrics_has_its_own_registry():
    """Two apps' Metrics never share a count, and nothing lands in the global registry."""
    a, b = Metrics(), Metrics()
    a.disconnected(1000)
    assert sample(a, "livefeed_viewer_disconnects_total", code="1000") == 1
    assert sample(b, "livefeed_viewer_disconnects_total", code="1000") == 0
    assert REGISTRY.get_sample_value("livefeed_viewer_disconnects_total", {"code": "1000"}) is None


def test_slow_client_disconnect_is_counted_as_1008():
    """A viewer closed for a full outbox is counted under code 1008 when it leaves."""
    hub = make_hub(client_max_frames=2, client_conflate_frames=2)
    slow = hub.connect()  # hello and snapshot: the outbox is full
    hub.receive(slow, '{"type":"ping","id":1}')  # a pong cannot be conflated
    assert slow.close_code == 1008
    hub.disconnect(slow)
    hub.disconnect(slow)  # a second call (cleanup paths overlap) is not a second disconnect
    assert sample(hub.metrics, "livefeed_viewer_disconnects_total", code="1008") == 1


def test_disconnect_counts_the_code_seen_on_the_socket():
    """The code the viewer saw (e.g. 1006, the peer vanished) is what is counted."""
    hub = make_hub()
    client = hub.connect()
    hub.disconnect(client, 1006)
    assert sample(hub.metrics, "livefeed_viewer_disconnects_total", code="1006") == 1


def test_viewers_gauge_follows_connects_and_disconnects():
    """livefeed_viewers reads the hub's open viewers at scrape time."""
    hub = make_hub()
    a, b = hub.connect(), hub.connect()
    assert sample(hub.metrics, "livefeed_viewers") == 2
    hub.disconnect(a)
    assert sample(hub.metrics, "livefeed_viewers") == 1
    hub.disconnect(b)
    assert sample(hub.metrics, "livefeed_viewers") == 0


def test_points_counted_per_batch_times_its_viewers():
    """A batch adds its points times the viewers it is queued for; snapshots add theirs."""
    hub = make_hub()
    feed_points(hub, "A", range(1, 3))
    hub.flush()
    hub.connect()  # snapshot: 2 points
    hub.connect()  # snapshot: 2 points
    only_a = hub.connect(subscribe=False)
    hub.subscribe(only_a, Subscribe(feeds=frozenset({"A"})))  # snapshot: 2 points
    assert hub.metrics.points_sent == 6
    feed_points(hub, "A", range(3, 6))
    feed_points(hub, "B", range(1, 3))
    hub.flush()
    assert hub.metrics.points_sent == 6 + 5 * 2 + 3 * 1
    assert sample(hub.metrics, "livefeed_points_sent_total") == 19


def test_hub_lag_grows_while_points_wait_and_holds_the_last_flush():
    """Lag is 0 before any point, grows while one waits, then is the last flush's."""
    hub = make_hub()
    assert hub.lag == 0 and sample(hub.metrics, "livefeed_hub_lag_seconds") == 0
    feed_points(hub, "A", range(1, 2))
    first = hub.lag
    assert 0 <= first <= hub.lag  # the point is still waiting: its age only grows
    hub.flush()
    assert hub.last_flush_lag >= first
    assert sample(hub.metrics, "livefeed_hub_lag_seconds") == hub.last_flush_lag
    assert sample(hub.metrics, "livefeed_hub_flush_seconds") == hub.last_flush_seconds >= 0


def test_conflations_counter_is_exposed():
    """conflated() adds one to livefeed_conflations_total (the slow-client conflation calls it)."""
    metrics = Metrics()
    metrics.conflated()
    metrics.conflated()
    assert sample(metrics, "livefeed_conflations_total") == 2


@pytest.mark.parametrize("accept", [None, "application/openmetrics-text; version=1.0.0"])
def test_render_follows_the_scrapers_accept_header(accept):
    """Plain Prometheus text 0.0.4 by default; OpenMetrics when the scraper asks."""
    body, content_type = Metrics().render(accept)
    if accept is None:
        assert content_type.startswith("text/plain; version=0.0.4")
    else:
        assert content_type.startswith("application/openmetrics-text")
        assert body.endswith(b"# EOF\n")
    assert b"livefeed_frames_sent_total 0.0" in body
