"""A pushed feed takes series in a later request (pure rules, then the writer
with a real hub and runner): checked whole, declared to viewers before its
points, capped, and never for a configured feed."""

import asyncio
import json

import pytest

from dashboard.announce import merged, with_series_of
from dashboard.hub import Hub
from dashboard.hub_runner import HubRunner
from dashboard.hub_settings import HubSettings
from dashboard.influx_ingest import to_batch
from dashboard.ingest import MAX_SERIES, IngestError, prepare
from dashboard.ingest_writer import IngestWriter, take_grown
from dashboard.line_protocol import parse_points as parse
from dashboard.protocol import Point
from feeds.base import FeedInfo, Series
from tests.support.backplanes import SwitchableBackplane
from tests.support.waiting import wait_until

NOW = 1_764_096_123_456
BAR = {"open": 1, "high": 2, "low": 0, "close": 1}
LAB = FeedInfo("lab", series=(Series("temp"), Series("bar", kind="ohlc")))
CONFIGURED = FeedInfo("cpu", series=(Series("load", unit="%"),))
FEEDS = {"lab": LAB, "cpu": CONFIGURED}
PUSHED = frozenset({"lab"})


def prep(feed, values, feeds=FEEDS, pushed=PUSHED):
    raw = [{"values": v} for v in values]
    return prepare(feed, raw, feeds, create=True, now_ms=NOW, pushed=pushed)


def refused(feed, values, **kwargs) -> IngestError:
    with pytest.raises(IngestError) as info:
        prep(feed, values, **kwargs)
    return info.value


# --- the decision ---------------------------------------------------------------


def test_a_pushed_feed_takes_new_series_after_its_own_in_order():
    batch = prep("lab", [{"temp": 1, "hum": 40}, {"wind": BAR, "hum": 41}])
    assert batch.new_feed is None and batch.grown is not None
    assert [(s.name, s.kind) for s in batch.grown.series] == [
        ("temp", "line"),
        ("bar", "ohlc"),
        ("hum", "line"),
        ("wind", "ohlc"),
    ]
    assert batch.grown.series[:2] == LAB.series  # kept as they were
    assert [p[0] for p in batch.points] == [{"temp": 1, "hum": 40}, {"wind": BAR, "hum": 41}]


def test_a_request_with_only_known_series_grows_nothing():
    assert prep("lab", [{"temp": 1}, {"bar": BAR}]).grown is None


def test_a_configured_feed_keeps_its_series():
    error = refused("cpu", [{"load": 1}, {"other": 2}])
    assert (error.status, error.code, error.index) == (400, "unknown_series", 1)
    # ...and so does a pushed one when the caller says nothing is pushed.
    assert refused("lab", [{"hum": 1}], pushed=frozenset()).code == "unknown_series"


@pytest.mark.parametrize(
    ("values", "code", "index"),
    [
        ([{"temp": 1}, {"temp": BAR}], "bad_value", 1),  # temp stays a line
        ([{"bar": 3}], "bad_value", 0),  # bar stays a bar
        ([{"hum": 1}, {"hum": BAR}], "bad_value", 1),  # a new series' kind is its first value's
        ([{"temp": 1, "bad name": 2}], "bad_series_name", 0),
    ],
)
def test_a_conflicting_or_bad_series_refuses_the_whole_request(values, code, index):
    error = refused("lab", values)
    assert (error.status, error.code, error.index) == (400, code, index)


def test_passing_the_series_cap_refuses_the_request_naming_it():
    held = FeedInfo("big", series=tuple(Series(f"s{i}") for i in range(MAX_SERIES - 2)))
    feeds = {"big": held}
    ok = prep("big", [{"n0": 1, "n1": 2}], feeds=feeds, pushed={"big"})
    assert ok.grown is not None and len(ok.grown.series) == MAX_SERIES
    error = refused("big", [{"n0": 1}, {"n1": 1, "n2": 1}], feeds=feeds, pushed={"big"})
    assert (error.status, error.code, error.index) == (400, "too_many_series", 1)
    assert f"more than {MAX_SERIES} series" in error.message
    assert "'big'" in error.message and "nothing was written" in error.message


def test_line_protocol_grows_a_pushed_feed_and_names_the_line_over_the_cap():
    feeds = {"tg": FeedInfo("tg", series=(Series("cpu.usage.a"),))}
    lines = parse("cpu,host=a usage=1\ncpu,host=b usage=2\n", "ns", NOW, 10)
    batch = to_batch("tg", lines, feeds, create=True, now_ms=NOW, pushed={"tg"})
    assert batch.grown is not None
    assert [s.name for s in batch.grown.series] == ["cpu.usage.a", "cpu.usage.b"]
    many = "\n".join(f"m,host=h{i} v=1" for i in range(MAX_SERIES))
    with pytest.raises(IngestError) as info:
        to_batch("tg", parse(many, "ns", NOW, 1000), feeds, create=True, now_ms=NOW, pushed={"tg"})
    error = info.value
    assert (error.code, error.index) == ("too_many_series", MAX_SERIES)
    assert error.message.startswith(f"line {MAX_SERIES}: ")


def test_merged_adds_what_the_held_declaration_lacks_and_keeps_the_rest():
    other = FeedInfo("lab", series=(Series("temp", kind="ohlc"), Series("hum")))
    both = merged(LAB, other)
    assert both is not None
    assert [(s.name, s.kind) for s in both.series] == [
        ("temp", "line"),
        ("bar", "ohlc"),
        ("hum", "line"),
    ]
    assert merged(LAB, LAB) is None and merged(both, other) is None


def test_a_recreated_pushed_feed_declares_its_stored_points_series():
    """After a restart the first request re-creates the feed with its own
    series; the series earlier requests added come back from the stored points."""
    info = FeedInfo("lab", series=(Series("temp"),))
    back = with_series_of(info, [{"temp": 1, "hum": 2}, {"wind": BAR}])
    assert [(s.name, s.kind) for s in back.series] == [
        ("temp", "line"),
        ("hum", "line"),
        ("wind", "ohlc"),
    ]
    assert with_series_of(info, [{"temp": 3}]) is info


# --- the writer ------------------------------------------------------------------


def request(feed, values):
    raw = [{"values": v} for v in values]
    return feed, lambda feeds, pushed: prepare(
        feed, raw, feeds, create=True, now_ms=NOW, pushed=pushed
    )


def messages(viewer) -> list[dict]:
    return [json.loads(frame) for frame in viewer.take_all()]


async def test_a_grown_feed_is_announced_then_redeclared_before_its_points():
    backplane = SwitchableBackplane()
    runner = HubRunner(Hub(backplane, HubSettings(flush_interval=0.01)))
    await runner.start()
    try:
        hub, writer = runner.hub, IngestWriter(runner.hub)
        hub.add_feed(CONFIGURED)
        await writer.write(*request("lab", [{"temp": 1}]))
        await wait_until(lambda: "lab" in hub.feeds, what="lab created")
        viewer = hub.connect()
        seen = messages(viewer)
        assert await writer.write(*request("lab", [{"hum": 40}])) == 1
        assert [info.series_names for info in backplane.announced] == [
            {"temp"},
            {"temp", "hum"},
        ]

        def got_batch() -> bool:
            seen.extend(messages(viewer))
            return any(m["type"] == "batch" for m in seen)

        await wait_until(got_batch, what="the new series' point")
        order = [m["type"] for m in seen if m["type"] in ("feeds", "batch")]
        assert order == ["feeds", "batch"]
        (declared,) = next(m for m in seen if m["type"] == "feeds")["added"]
        assert [s["name"] for s in declared["series"]] == ["temp", "hum"]
        with pytest.raises(IngestError) as info:  # a configured feed does not grow
            await writer.write(*request("cpu", [{"other": 1}]))
        assert info.value.code == "unknown_series"
    finally:
        await runner.stop()


async def test_growth_refused_by_the_backplane_takes_nothing_and_a_reserved_feed_grows():
    backplane = SwitchableBackplane()
    runner = HubRunner(Hub(backplane, HubSettings(flush_interval=0.01)))
    await runner.start()
    try:
        hub, writer = runner.hub, IngestWriter(runner.hub)
        backplane.gate = asyncio.Event()  # the first batch is still on its way...
        first = asyncio.create_task(writer.write(*request("lab", [{"temp": 1}])))
        await wait_until(lambda: "lab" in hub.reserved, what="lab reserved")
        second = asyncio.create_task(writer.write(*request("lab", [{"hum": 2}])))
        backplane.gate.set()
        assert await first == 1 and await second == 1
        await wait_until(lambda: hub.histories.get("lab") and hub.histories["lab"].last_seq == 2)
        assert hub.feeds["lab"].series_names == {"temp", "hum"}

        backplane.go_down()
        with pytest.raises(IngestError) as info:
            await writer.write(*request("lab", [{"wind": 3}]))
        assert info.value.code == "backplane_down"
        assert hub.feeds["lab"].series_names == {"temp", "hum"}  # nothing taken
    finally:
        await runner.stop()


async def test_a_feed_grown_on_another_instance_grows_here_once():
    backplane = SwitchableBackplane()
    runner = HubRunner(Hub(backplane, HubSettings(flush_interval=0.01)))
    hub = runner.hub
    backplane.on_feed(FeedInfo("lab", series=(Series("temp"),)))  # created elsewhere
    hub.add_feed(FeedInfo("cfg", series=(Series("x"),)))
    backplane.on_feed(FeedInfo("lab", series=(Series("temp"), Series("hum"))))
    backplane.on_feed(FeedInfo("cfg", series=(Series("x"), Series("y"))))  # not pushed
    backplane.on_feed(FeedInfo("lab", series=(Series("temp"), Series("hum"))))  # again
    assert [s.name for s in hub.feeds["lab"].series] == ["temp", "hum"]
    assert hub.feeds["cfg"].series_names == {"x"}


def test_a_pushed_feed_recreated_after_a_restart_gets_its_stored_points_back():
    """--history-db: the first request after a restart re-creates the feed
    with its own series; the points stored with series added later come
    back, declared, instead of the whole history being dropped."""
    hub = Hub(SwitchableBackplane(), HubSettings(flush_interval=0.01))
    stored = [Point("lab", 1, NOW, {"temp": 1.0}), Point("lab", 2, NOW, {"hum": 40.0})]
    hub.restore({"lab": stored, "cfg": [Point("cfg", 1, NOW, {"x": 1.0, "y": 2.0})]})
    hub.add_feed(FeedInfo("lab", series=(Series("temp"),)), pushed=True)
    hub.add_feed(FeedInfo("cfg", series=(Series("x"),)))  # configured: not widened
    assert [s.name for s in hub.feeds["lab"].series] == ["temp", "hum"]
    assert [p.seq for p in hub.histories["lab"].recent()] == [1, 2]
    assert hub.feeds["cfg"].series_names == {"x"} and not hub.histories["cfg"].recent()


def test_a_feed_still_reserved_is_reserved_again_grown_and_told_to_nobody_yet():
    hub = Hub(SwitchableBackplane(), HubSettings(flush_interval=0.01))
    viewer = hub.connect()
    messages(viewer)
    hub.reserve_feed(FeedInfo("lab", series=(Series("temp"),)))
    take_grown(hub, FeedInfo("lab", series=(Series("temp"), Series("hum"))))
    hub.flush()
    assert "lab" not in hub.feeds and not messages(viewer)
    assert [s.name for s in hub.reserved["lab"].series] == ["temp", "hum"]
