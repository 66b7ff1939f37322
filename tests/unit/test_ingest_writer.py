"""Push ingest's writes: whole batches, feeds created once, nothing when the
backplane is down (a switchable in-memory backplane, a real hub and runner)."""

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from dashboard.hub import Hub
from dashboard.hub_runner import HubRunner
from dashboard.hub_settings import HubSettings
from dashboard.ingest import IngestError, prepare
from dashboard.ingest_writer import IngestWriter
from feeds.base import FeedInfo, Series
from tests.support.backplanes import RETRY_AFTER, SwitchableBackplane
from tests.support.waiting import wait_until

NOW = 1_764_096_123_456


@pytest.fixture
async def runner() -> AsyncIterator[HubRunner]:
    runner = HubRunner(Hub(SwitchableBackplane(), HubSettings(flush_interval=0.01)))
    await runner.start()
    yield runner
    await runner.stop()


def backplane_of(runner: HubRunner) -> SwitchableBackplane:
    backplane = runner.hub.backplane
    assert isinstance(backplane, SwitchableBackplane)
    return backplane


def request(feed: str, values: list[dict], max_feeds: int | None = None):
    """What the route hands the writer: a request's validation, run under the lock."""
    raw = [{"values": v} for v in values]
    return feed, lambda feeds, pushed: prepare(
        feed, raw, feeds, create=True, now_ms=NOW, max_feeds=max_feeds, pushed=pushed
    )


def frames(client) -> list[dict]:
    return [json.loads(frame) for frame in client.take_all()]


async def test_a_refused_batch_writes_nothing_and_creates_no_feed(runner):
    """Backplane down: 503 with the backplane's retry time (rounded up), no
    point, no feed (not listed, not told to viewers, not announced); once it
    is back the same request creates the feed and viewers get it, then its points."""
    hub, backplane = runner.hub, backplane_of(runner)
    hub.add_feed(FeedInfo("OLD", series=(Series("x"),)))
    writer = IngestWriter(hub)
    viewer = hub.connect()
    backplane.go_down()
    with pytest.raises(IngestError) as refused:
        await writer.write(*request("NEW", [{"t": 1.0}, {"t": 2.0}]))
    error = refused.value
    assert (error.status, error.code, error.retry_after) == (503, "backplane_down", 3)
    assert error.to_dict()["retry_after"] == 3 and RETRY_AFTER < 3
    assert "NEW" not in hub.feeds and not hub.reserved and not backplane.announced

    backplane.go_up()
    await runner.publish("OLD", {"x": 1.0})  # flushed after anything about NEW would be
    seen: list[dict] = []

    def got(kind: str) -> bool:
        seen.extend(frames(viewer))
        return any(m["type"] == kind for m in seen)

    await wait_until(lambda: got("batch"), what="OLD's point")
    assert all("NEW" not in json.dumps(m) for m in seen)
    seen.clear()
    assert await writer.write(*request("NEW", [{"t": 1.0}, {"t": 2.0}])) == 2
    assert [info.name for info in backplane.announced] == ["NEW"]
    await wait_until(lambda: got("batch"), what="the new feed's points")
    kinds = [m["type"] for m in seen if m["type"] in ("feeds", "batch")]
    assert kinds == ["feeds", "batch"]  # declared before its points
    assert [p["seq"] for m in seen if m["type"] == "batch" for p in m["points"]] == [1, 2]


async def test_a_feed_announced_but_refused_at_publish_is_not_left_behind(runner):
    hub, backplane = runner.hub, backplane_of(runner)
    writer = IngestWriter(hub)
    backplane.fail_next_publish = True  # announce passes, publish_many is refused
    with pytest.raises(IngestError, match="nothing of this request was written"):
        await writer.write(*request("NEW", [{"t": 1.0}]))
    assert "NEW" not in hub.feeds and not hub.reserved
    # A later request creates it afresh, with its own series.
    assert await writer.write(*request("NEW", [{"h": 5.0}])) == 1
    await wait_until(lambda: "NEW" in hub.feeds, what="NEW created")
    assert hub.feeds["NEW"].series_names == {"h"}


async def test_a_batch_is_written_whole_even_if_the_client_goes_away(runner):
    hub, backplane = runner.hub, backplane_of(runner)
    backplane.gate = asyncio.Event()
    writer = IngestWriter(hub)
    task = asyncio.create_task(writer.write(*request("NEW", [{"x": i} for i in range(5)])))
    await wait_until(lambda: "NEW" in hub.reserved, what="NEW reserved")
    task.cancel()
    backplane.gate.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    await wait_until(lambda: "NEW" in hub.feeds and hub.histories["NEW"].last_seq == 5)


async def test_the_second_request_validates_against_the_feed_the_first_creates(runner):
    """Requests to one feed run one after the other, in arrival order, each
    validated when its turn comes: the second sees the series the first
    declared while the first's points are still on their way."""
    hub, backplane = runner.hub, backplane_of(runner)
    backplane.gate = asyncio.Event()
    writer = IngestWriter(hub)
    first = asyncio.create_task(writer.write(*request("F", [{"x": 0}, {"x": 1}])))
    # x is a line (the first declared it so), not a bar: refused.
    bar = {"open": 1, "high": 2, "low": 0, "close": 1}
    wrong = asyncio.create_task(writer.write(*request("F", [{"x": bar}])))
    second = asyncio.create_task(writer.write(*request("F", [{"x": 10}])))
    await wait_until(lambda: "F" in hub.reserved, what="F reserved")
    backplane.gate.set()
    assert await first == 2 and await second == 1
    with pytest.raises(IngestError) as refused:
        await wrong
    assert refused.value.code == "bad_value"
    await wait_until(lambda: "F" in hub.feeds and hub.histories["F"].last_seq == 3)
    assert [p.values["x"] for p in hub.histories["F"].recent()] == [0, 1, 10]


async def test_feeds_being_created_count_against_max_feeds(runner):
    hub, backplane = runner.hub, backplane_of(runner)
    hub.add_feed(FeedInfo("OLD", series=(Series("x"),)))
    backplane.gate = asyncio.Event()
    writer = IngestWriter(hub)
    first = asyncio.create_task(writer.write(*request("A", [{"x": 1}], max_feeds=2)))
    await wait_until(lambda: "A" in hub.reserved, what="A reserved")
    with pytest.raises(IngestError) as refused:
        await writer.write(*request("B", [{"x": 1}], max_feeds=2))
    assert refused.value.code == "too_many_feeds"
    backplane.gate.set()
    assert await first == 1
