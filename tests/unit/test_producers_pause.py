"""A producer while the backplane is down: its points wait (state paused),
beyond the buffer they are dropped and counted, and when the backplane is back
they are published in order; a down backplane is not sent a request a point."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from dashboard.backplane import BackplaneDown, MemoryBackplane
from dashboard.hub import Hub
from dashboard.hub_runner import HubRunner
from dashboard.hub_settings import HubSettings
from dashboard.producers import Producers
from feeds import feed
from tests.support.waiting import wait_until


class Flaky(MemoryBackplane):
    """Up or down as the test says; refuses publishing while down, counting tries."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.refused = 0

    @property
    def up(self) -> bool:
        return not self.down

    async def publish(self, feed, values, ts=None, gap=False):
        if self.down:
            self.refused += 1
            raise BackplaneDown("backplane down", retry_after=0.05)
        return await super().publish(feed, values, ts, gap)


@pytest.fixture
async def flaky_runner() -> AsyncIterator[HubRunner]:
    runner = HubRunner(Hub(Flaky(), HubSettings(flush_interval=0.01)))
    await runner.start()
    yield runner
    await runner.stop()


@feed("count", series=["n"], stall_after=0.3)
async def counting():
    """1, 2, 3, ... every 5 ms."""
    n = 0
    while True:
        n += 1
        yield {"n": n}
        await asyncio.sleep(0.005)


def series(runner: HubRunner) -> list[tuple[int, int, bool]]:
    """(seq, n, gap) of every point the hub holds."""
    return [(p.seq, p.values["n"], p.gap) for p in runner.hub.histories["count"].recent()]


async def test_points_made_while_down_are_published_in_order_when_it_is_back(flaky_runner):
    backplane = flaky_runner.hub.backplane
    producers = Producers(flaky_runner, [counting])
    producers.start()
    status = producers.status["count"]
    try:
        await wait_until(lambda: status.published >= 5, what="running")
        backplane.down = True
        await wait_until(lambda: status.state == "paused", what="paused")
        assert flaky_runner.hub.status["count"]["state"] == "paused"  # viewers are told
        # Longer than the feed's stall_after: a paused feed is not stalled.
        await asyncio.sleep(0.5)
        assert status.state == "paused"
        assert backplane.refused == 1  # one refusal, then only `up` was looked at
        backplane.down = False
        await wait_until(lambda: status.state == "running", timeout=3, what="resumed")
        await wait_until(lambda: len(series(flaky_runner)) > 120, what="held points arrive")
    finally:
        await producers.stop()
    points = series(flaky_runner)
    # Nothing lost, nothing twice, nothing out of order, no break drawn.
    assert [(seq, n) for seq, n, _ in points] == [(i, i) for i in range(1, len(points) + 1)]
    assert not any(gap for _, _, gap in points) and status.dropped == 0


async def test_beyond_the_buffer_the_oldest_are_dropped_counted_and_the_hole_marked(
    flaky_runner,
):
    backplane = flaky_runner.hub.backplane
    producers = Producers(flaky_runner, [counting], pause_buffer=10)
    producers.start()
    status = producers.status["count"]
    try:
        await wait_until(lambda: status.published >= 5, what="running")
        backplane.down = True
        await wait_until(lambda: status.dropped >= 20, what="drops")
        assert flaky_runner.hub.status["count"]["dropped"] >= 1  # reported to viewers
        backplane.down = False
        await wait_until(lambda: status.state == "running", timeout=3, what="resumed")
        await wait_until(lambda: status.published >= 60, what="more points")
    finally:
        await producers.stop()
    points = series(flaky_runner)
    seqs, values = [seq for seq, _, _ in points], [n for _, n, _ in points]
    assert seqs == list(range(1, len(points) + 1))  # numbered without holes
    assert values == sorted(values)  # in the order made
    holes = [i for i, (a, b) in enumerate(zip(values, values[1:], strict=False)) if b != a + 1]
    assert len(holes) == 1  # the dropped stretch, once ...
    assert points[holes[0] + 1][2] is True  # ... drawn as a break
    assert [gap for _, _, gap in points].count(True) == 1
    dropped = values[holes[0] + 1] - values[holes[0]] - 1
    assert dropped == status.dropped
    metric = flaky_runner.hub.metrics.registry.get_sample_value(
        "livefeed_feed_paused_drops_total", {"feed": "count"}
    )
    assert metric == status.dropped


class FarAway(MemoryBackplane):
    """A remote backplane: every publish waits a 100 ms round trip."""

    remote = True

    def __init__(self) -> None:
        super().__init__()
        self.round_trips = 0

    async def publish(self, feed, values, ts=None, gap=False):
        (position,) = await self.publish_many(feed, [(values, ts)], gap)
        return position

    async def publish_many(self, feed, points, gap=False):
        self.round_trips += 1
        await asyncio.sleep(0.1)  # the round trip itself
        positions = []
        for values, ts in points:
            positions.append(await MemoryBackplane.publish(self, feed, values, ts, gap))
            gap = False
        return positions


async def test_a_remote_backplanes_round_trip_does_not_slow_the_feed():
    """The feed makes a point every 5 ms; a publish takes 100 ms. Points are
    queued and sent in batches, so all of them arrive, in order, with no gap,
    in a few dozen round trips (awaiting each would publish 10 a second)."""
    backplane = FarAway()
    runner = HubRunner(Hub(backplane, HubSettings(flush_interval=0.01)))
    await runner.start()
    producers = Producers(runner, [counting])
    producers.start()
    try:
        await asyncio.sleep(1.0)  # the measured stretch: a second of the feed's time
        made = producers.status["count"].published
        await wait_until(lambda: len(series(runner)) >= made, what="queued points out")
    finally:
        await producers.stop()
        await runner.stop()
    points = series(runner)
    assert made >= 60, f"{made} points published in 1 s"
    assert [seq for seq, _, _ in points] == list(range(1, len(points) + 1))
    assert [n for _, n, _ in points] == list(range(1, len(points) + 1))
    assert not any(gap for _, _, gap in points)
    assert backplane.round_trips < len(points) / 3
