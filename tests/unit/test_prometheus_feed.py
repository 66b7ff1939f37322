"""The prometheus feed's decisions on real expositions made by prometheus_client:
what it selects, its series names and units, counters as rates, resets, caps."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary, generate_latest
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest

from dashboard.announce import grown
from feeds.base import FeedInfo, Series, Skipped
from feeds.loader import FeedLoadError, FeedSpec, load, parameters, resolve
from feeds.prometheus import Prometheus
from feeds.prometheus_samples import (
    Rates,
    Selection,
    SelectionError,
    select,
    series_name,
    unit_of,
)

TEXT = "text/plain; version=0.0.4; charset=utf-8"


def registry() -> tuple[CollectorRegistry, Counter, Gauge, Histogram]:
    reg = CollectorRegistry()
    requests = Counter("http_requests_total", "Requests", ["method", "code"], registry=reg)
    depth = Gauge("queue_depth_bytes", "Queued bytes", registry=reg)
    latency = Histogram("request_seconds", "Latency", registry=reg)
    return reg, requests, depth, latency


def body(reg: CollectorRegistry) -> str:
    return generate_latest(reg).decode()


def test_selects_counters_gauges_and_histogram_count_and_sum_with_units():
    reg, requests, depth, latency = registry()
    requests.labels("GET", "200").inc(5)
    requests.labels("POST", "500").inc()
    depth.set(1024)
    latency.observe(0.25)
    got = {
        r.key: (r.value, r.rate, r.unit) for r in select(body(reg), TEXT, Selection.parse([".*"]))
    }
    assert got == {
        'http_requests_total{code="200",method="GET"}': (5.0, True, "/s"),
        'http_requests_total{code="500",method="POST"}': (1.0, True, "/s"),
        "queue_depth_bytes": (1024.0, False, "B"),
        "request_seconds_count": (1.0, True, "/s"),
        "request_seconds_sum": (0.25, True, "s/s"),
    }  # no _bucket, no _created


def test_openmetrics_body_with_unit_and_eof_is_read_by_its_content_type():
    reg, requests, depth, _ = registry()
    requests.labels("GET", "200").inc(2)
    Summary("job_duration_seconds", "Jobs", registry=reg).observe(3.0)
    text = openmetrics_latest(reg).decode()
    assert text.endswith("# EOF\n")
    got = {
        r.key: (r.value, r.rate, r.unit) for r in select(text, OPENMETRICS, Selection.parse([".*"]))
    }
    assert got['http_requests_total{code="200",method="GET"}'] == (2.0, True, "/s")
    assert got["job_duration_seconds_sum"] == (3.0, True, "s/s")
    assert got["queue_depth_bytes"] == (0.0, False, "B")
    handmade = (
        "# TYPE room_temperature_celsius gauge\n# UNIT room_temperature_celsius celsius\n"
        'room_temperature_celsius{room="lab"} 21.5\n'
        "# TYPE parts_widgets counter\n# UNIT parts_widgets widgets\n"
        "parts_widgets_total 7\n# EOF\n"
    )
    got = {r.key: (r.value, r.unit) for r in select(handmade, OPENMETRICS, Selection.parse([".*"]))}
    assert got == {
        'room_temperature_celsius{room="lab"}': (21.5, "°C"),
        "parts_widgets_total": (7.0, "widgets/s"),
    }


def test_a_body_that_is_no_exposition_raises():
    with pytest.raises(ValueError):
        select("<html>oops</html>\n", TEXT, Selection.parse([".*"]))
    with pytest.raises(ValueError):  # OpenMetrics must end with # EOF
        select("up 1\n", OPENMETRICS, Selection.parse([".*"]))


def test_metric_patterns_and_promql_label_matchers_select():
    reg, requests, depth, latency = registry()
    for method, code in (("GET", "200"), ("GET", "404"), ("POST", "201"), ("PUT", "500")):
        requests.labels(method, code).inc()
    latency.observe(1)

    def keys(metrics: list[str], labels: list[str] = []) -> set[str]:  # noqa: B006
        return {r.key for r in select(body(reg), TEXT, Selection.parse(metrics, labels))}

    assert keys(["queue_depth_bytes"]) == {"queue_depth_bytes"}
    assert keys(["request_seconds"]) == {"request_seconds_count", "request_seconds_sum"}
    assert keys(["http_requests"], ["code=~2.."]) == {
        'http_requests_total{code="200",method="GET"}',
        'http_requests_total{code="201",method="POST"}',
    }
    assert keys(["http_.*"], ["method!=GET", "code!~5.."]) == {
        'http_requests_total{code="201",method="POST"}'
    }
    assert keys(["http_requests_total"], ['method="PUT"']) == {
        'http_requests_total{code="500",method="PUT"}'
    }
    assert keys(["queue"]) == set()  # a pattern matches the whole name
    assert keys(["queue_depth_bytes"], ["missing="]) == {"queue_depth_bytes"}  # "" as PromQL


@pytest.mark.parametrize(
    ("metrics", "labels", "message"),
    [
        ([], [], "metrics= names no metric"),
        (["http_(["], [], "metrics pattern 'http_([': bad regular expression"),
        (["up"], ["code"], "label matcher 'code' is not name=value"),
        (["up"], ["code=~(2"], "label matcher 'code=~(2': bad regular expression"),
    ],
)
def test_bad_selections_say_why(metrics, labels, message):
    with pytest.raises(SelectionError, match=message.replace("(", r"\(").replace("[", r"\[")):
        Selection.parse(metrics, labels)


@pytest.mark.parametrize(
    ("name", "declared", "rate", "unit"),
    [
        ("process_resident_memory_bytes", "", False, "B"),
        ("process_cpu_seconds_total", "", True, "s/s"),
        ("livefeed_bytes_sent_total", "", True, "B/s"),  # the unit is not last
        ("http_requests_total", "", True, "/s"),
        ("cache_hit_ratio", "", False, ""),
        ("request_seconds_count", "", True, "/s"),  # observations, not seconds
        ("parts_widgets_total", "widgets", True, "widgets/s"),
    ],
)
def test_units_from_the_unit_or_the_name(name, declared, rate, unit):
    assert unit_of(name, declared, rate) == unit


def test_rates_first_none_then_per_second_and_a_reset_never_goes_negative():
    rates = Rates()
    assert rates.rate("c", 100.0, at=10.0) is None
    assert rates.rate("c", 130.0, at=12.0) == 15.0
    assert rates.rate("c", 130.0, at=12.0) is None  # no time passed
    assert rates.rate("c", 4.0, at=14.0) == 2.0  # reset: counted from 0, as rate() does
    assert rates.rate("c", 10.0, at=16.0) == 3.0
    rates.forget()
    assert rates.rate("c", 20.0, at=18.0) is None


def test_series_names_are_readable_valid_and_distinct():
    assert series_name("up", {}, "up") == "up"
    name = series_name("http_requests_total", {"code": "200", "method": "GET"}, "k")
    assert name == "http_requests_total.code-200.method-GET"
    odd = series_name("http_requests_total", {"path": "/api/v1 x"}, "k")
    assert odd == "http_requests_total.path-_api_v1_x"
    long_a = series_name("a" * 40, {"path": "/" + "x" * 40}, "a")
    long_b = series_name("a" * 40, {"path": "/" + "x" * 40 + "y"}, "b")
    assert len(long_a) == len(long_b) == 64 and long_a != long_b
    Series(long_a)  # valid


def scraper(**params) -> Prometheus:
    return Prometheus("http://127.0.0.1:9/metrics", **{"metrics": [".*"], **params})


def test_feed_turns_two_scrapes_into_rates_and_values_and_declares_series_as_found():
    reg, requests, depth, _ = registry()
    feed = scraper(metrics=["http_requests_total", "queue_depth_bytes"])
    assert [s.name for s in feed.info.series] == ["scrape_duration_seconds"]
    requests.labels("GET", "200").inc(10)
    depth.set(7)
    readings = select(body(reg), TEXT, feed.selection)
    (first,) = feed.point(readings, 0.01, at=100.0)
    assert first == {"scrape_duration_seconds": 0.01, "queue_depth_bytes": 7.0}  # no rate yet
    declared = {s.name: s for s in feed.info.series}
    assert declared["http_requests_total.code-200.method-GET"].unit == "/s"
    assert declared["http_requests_total.code-200.method-GET"].y_min == 0
    assert declared["queue_depth_bytes"].unit == "B"
    requests.labels("GET", "200").inc(30)
    (second,) = feed.point(select(body(reg), TEXT, feed.selection), 0.01, at=102.0)
    assert second["http_requests_total.code-200.method-GET"] == 15.0


def test_series_over_max_series_are_left_out_and_counted_once():
    reg, requests, _, _ = registry()
    for code in ("200", "201", "202", "203"):
        requests.labels("GET", code).inc()
    feed = scraper(metrics=["http_requests_total"], max_series=2)
    readings = select(body(reg), TEXT, feed.selection)
    out = feed.point(readings, 0.0, at=1.0)
    skipped = [item.reason for item in out if isinstance(item, Skipped)]
    assert skipped == [
        'http_requests_total{code="202",method="GET"} left out: max_series=2',
        'http_requests_total{code="203",method="GET"} left out: max_series=2',
    ]
    assert len(feed.info.series) == 3  # the scrape duration and two
    again = feed.point(readings, 0.0, at=2.0)
    assert not [item for item in again if isinstance(item, Skipped)]
    assert set(again[0]) == {
        "scrape_duration_seconds",
        "http_requests_total.code-200.method-GET",
        "http_requests_total.code-201.method-GET",
    }


def test_growth_is_a_superset_of_what_the_dashboard_holds():
    held = FeedInfo("p", (Series("a"),))
    more = FeedInfo("p", (Series("a"), Series("b", unit="/s")))
    assert grown(held, more, {"a": 1, "b": 2}) is more
    assert grown(held, more, {"a": 1}) is None  # nothing new in the point
    assert grown(held, FeedInfo("p", (Series("a", unit="s"), Series("b"))), {"b": 1}) is None
    assert grown(held, FeedInfo("q", (Series("a"), Series("b"))), {"b": 1}) is None
    assert grown(held, more, "not a mapping") is None


def test_loaded_by_name_with_command_line_parameters():
    words = [
        "prometheus",
        "url=http://127.0.0.1:9100/metrics",
        "metrics=process_cpu_seconds_total,livefeed_.*",
        "labels=method=GET,code=~2..",
        "interval=0.5",
        "name=node",
    ]
    (feed,) = load(FeedSpec.parse(words))
    assert isinstance(feed, Prometheus)
    assert feed.info.name == "node" and feed.interval == 0.5 and feed.timeout == 0.5
    assert [m.label for m in feed.selection.labels] == ["method", "code"]
    listed = parameters(resolve("prometheus")[0])
    assert listed[:4] == [
        "url: str (required)",
        "metrics: list[str] (required)",
        "labels: list[str] | None = none",
        "interval: float = 15.0",
    ]


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["url=ftp://x/metrics", "metrics=up"], "url must be an http:// or https:// address"),
        (["url=http://x/metrics", "metrics=up", "interval=0"], "interval must be a finite"),
        (["url=http://x/metrics", "metrics=up", "max_series=0"], "max_series must be a whole"),
        (["url=http://x/metrics", "metrics=("], "bad regular expression"),
        (["metrics=up"], "url"),
    ],
)
def test_bad_parameters_are_one_line_errors(words, message):
    with pytest.raises(FeedLoadError, match=message) as caught:
        load(FeedSpec.parse(["prometheus", *words]))
    assert "\n" not in str(caught.value)


def test_a_config_files_list_keeps_commas_inside_patterns():
    spec = FeedSpec("prometheus", {"url": "http://x/metrics", "metrics": ["a{1,2}"]})
    (feed,) = load(spec)
    assert [p.pattern for p in feed.selection.metrics] == ["a{1,2}"]
