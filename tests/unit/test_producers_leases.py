"""Feeds run on one instance at a time: two Producers over one real
redis-server, the lease holder runs the feed, the other stands by and takes
it over when the holder stops, dies or loses the lease.

Each Producers has its hub, over twin in-memory backplanes that share the
numbering and deliver every point to both hubs: what the Redis backplane
does for instances, so the one taking over finds the feed's last point in
its history.
"""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio as redis

from dashboard.backplane import BackplaneDown, MemoryBackplane, Position
from dashboard.health import health_reasons
from dashboard.hub import Hub
from dashboard.hub_runner import HubRunner
from dashboard.hub_settings import HubSettings
from dashboard.leases import LeaseTerm, LeaseTiming, LocalLeases, RedisLeases
from dashboard.producers import Producers
from dashboard.protocol import Point
from feeds.ticker import TickerFeed, TickerParams
from tests.support.waiting import wait_until

FAST = LeaseTiming(ttl=0.6, renew_every=0.15, retry_every=0.05, error_wait=0.2)


class Killed(RedisLeases):
    """Leases of an instance that gets SIGKILLed: it never releases."""

    async def release(self, name: str) -> None:
        pass


class Twin(MemoryBackplane):
    """One numbering for the group; every point goes to every twin's hub."""

    def __init__(self, group: list[Twin]) -> None:
        super().__init__()
        self.group = group
        group.append(self)
        self.epoch = group[0].epoch
        self._seqs = group[0]._seqs

    async def publish(self, feed, values, ts=None, gap=False):
        seq = self._seqs.get(feed, 0) + 1
        self._seqs[feed] = seq
        for twin in self.group:
            twin._queue.put_nowait(Point(feed, seq, ts, values, gap))
        return Position(seq, self.epoch)


@pytest.fixture
async def runners():
    """Two started hub runners, as two instances over one backplane."""
    group: list[Twin] = []
    pair = [HubRunner(Hub(Twin(group), HubSettings(flush_interval=0.01))) for _ in range(2)]
    for runner in pair:
        await runner.start()
    yield pair
    for runner in pair:
        await runner.stop()


@pytest.fixture
async def client(redis_server):
    client = redis.Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


def ticker() -> TickerFeed:
    # No volatility, steady drift: each price is 0.1 % above the one before.
    return TickerFeed("ACME", params=TickerParams(rate=100.0, volatility=0.0, drift=360.0))


def assert_one_walk(runner: HubRunner) -> None:
    """The instance's history is one unbroken walk: seqs 1, 2, 3, ..., no gap
    mark, every price one step on from the one before."""
    points = runner.hub.histories["ACME"].recent()
    assert [p.seq for p in points] == list(range(1, len(points) + 1))
    assert not any(p.gap for p in points)
    prices = [p.values["price"] for p in points]
    for before, after in zip(prices, prices[1:], strict=False):
        assert abs(after - before * 1.001) <= 0.011, (before, after)


async def test_one_instance_runs_the_feed_the_other_stands_by(runners, client):
    a = Producers(runners[0], [ticker()], leases=RedisLeases(client, "lf:", "a", FAST))
    b = Producers(runners[1], [ticker()], leases=RedisLeases(client, "lf:", "b", FAST))
    a.start()
    await wait_until(lambda: a.status["ACME"].state == "running", what="a runs it")
    b.start()
    try:
        await wait_until(lambda: b.status["ACME"].state == "standby", what="b stands by")
        await asyncio.sleep(FAST.ttl * 2)  # several renewals: a keeps it, b stays out
        assert a.status["ACME"].state == "running" and b.status["ACME"].published == 0
        assert await client.get("lf:lease:ACME") == b"a"
    finally:
        await b.stop()
        await a.stop()
    assert await client.get("lf:lease:ACME") is None  # released on the clean stop


def test_a_feed_run_elsewhere_or_paused_does_not_make_the_dashboard_degraded():
    assert health_reasons(None, ["running", "standby", "paused"]) == []


async def test_a_clean_stop_hands_the_feed_over_at_once_and_the_walk_goes_on(runners, client):
    slow = LeaseTiming(ttl=30, renew_every=1, retry_every=0.05)  # expiry cannot be what helps
    a = Producers(runners[0], [ticker()], leases=RedisLeases(client, "lf:", "a", slow))
    b = Producers(runners[1], [ticker()], leases=RedisLeases(client, "lf:", "b", slow))
    a.start()
    await wait_until(lambda: a.status["ACME"].published >= 5, what="a publishes")
    b.start()
    try:
        await wait_until(lambda: b.status["ACME"].state == "standby", what="b stands by")
        await a.stop()
        stopped = time.monotonic()
        await wait_until(lambda: b.status["ACME"].published >= 5, timeout=3, what="b takes over")
        assert time.monotonic() - stopped < 1.0
    finally:
        await b.stop()
    assert_one_walk(runners[1])


async def test_a_killed_holders_feed_is_taken_over_within_the_ttl_and_continues(runners, client):
    """The holder dies without releasing (SIGKILL): its lease expires and the
    other instance runs the feed on from the last price, with no gap mark."""
    a = Producers(runners[0], [ticker()], leases=Killed(client, "lf:", "a", FAST))
    b = Producers(runners[1], [ticker()], leases=RedisLeases(client, "lf:", "b", FAST))
    a.start()
    await wait_until(lambda: a.status["ACME"].published >= 5, what="a publishes")
    b.start()
    try:
        await wait_until(lambda: b.status["ACME"].state == "standby", what="b stands by")
        await a.stop()  # its tasks end; the lease stays in Redis, as after a SIGKILL
        killed = time.monotonic()
        await wait_until(lambda: b.status["ACME"].published >= 5, timeout=3, what="b takes over")
        taken = time.monotonic() - killed
        assert FAST.ttl * 0.5 <= taken <= FAST.takeover_within + 1.0
    finally:
        await b.stop()
    assert_one_walk(runners[1])


async def test_a_lost_lease_stops_the_run(runner, client):
    """Another instance holds the lease now (ours expired while we were cut
    off): the run is cancelled at the next renewal and the feed stands by."""
    a = Producers(runner, [ticker()], leases=RedisLeases(client, "lf:", "a", FAST))
    a.start()
    try:
        await wait_until(lambda: a.status["ACME"].published >= 3, what="a publishes")
        await client.set("lf:lease:ACME", "c", px=60_000)  # c has it now
        await wait_until(lambda: a.status["ACME"].state == "standby", timeout=2, what="standby")
        published = a.status["ACME"].published
        await asyncio.sleep(FAST.renew_every * 2)  # a ticker at 100 Hz would have gone on
        assert a.status["ACME"].published == published
    finally:
        await a.stop()
    assert await client.get("lf:lease:ACME") == b"c"  # a released nothing of c's


async def test_redis_down_at_start_keeps_the_feed_standing_by(runner, redis_server):
    """No Redis, no lease: the feed waits (standby) rather than running twice."""
    client = redis.Redis.from_url(redis_server.url)
    redis_server.stop()
    a = Producers(runner, [ticker()], leases=RedisLeases(client, "lf:", "a", FAST))
    a.start()
    try:
        await wait_until(lambda: a.status["ACME"].state == "standby", what="standby")
        redis_server.start()
        await wait_until(lambda: a.status["ACME"].published >= 3, timeout=5, what="runs")
    finally:
        await a.stop()
        await client.aclose()


class Outage(MemoryBackplane):
    """Down while the test says so: refuses publishing, like a backplane
    whose Redis is gone."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    @property
    def up(self) -> bool:
        return not self.down

    async def publish(self, feed, values, ts=None, gap=False):
        if self.down:
            raise BackplaneDown("backplane down", retry_after=0.05)
        return await super().publish(feed, values, ts, gap)


async def test_a_redis_outage_longer_than_the_ttl_pauses_the_feed_and_loses_nothing(
    redis_server,
):
    """Redis (leases and backplane) gone for longer than the lease's ttl:
    the holder keeps its run paused rather than giving it up, takes the lease
    again when Redis is back, and publishes what it held: the series goes on
    with no hole and no break."""
    backplane = Outage()
    runner = HubRunner(Hub(backplane, HubSettings(flush_interval=0.01)))
    await runner.start()
    client = redis.Redis.from_url(redis_server.url)
    a = Producers(runner, [ticker()], leases=RedisLeases(client, "lf:", "a", FAST))
    a.start()
    status = a.status["ACME"]
    try:
        await wait_until(lambda: status.published >= 5, what="a publishes")
        backplane.down = True
        redis_server.stop()
        await wait_until(lambda: status.state == "paused", what="paused")
        await wait_until(lambda: not a.leases.held("ACME"), what="the term ran out")
        await asyncio.sleep(FAST.retry_every * 2)  # past it: the run is kept all the same
        assert status.state == "paused"  # not standby: the run was not given up
        redis_server.start()
        backplane.down = False
        await wait_until(lambda: status.state == "running", timeout=5, what="resumed")
        await wait_until(lambda: a.leases.held("ACME"), what="the lease taken again")
        published = status.published
        await wait_until(lambda: status.published >= published + 10, what="goes on")
    finally:
        await a.stop()
        await runner.stop()
        await client.aclose()
    assert status.dropped == 0
    assert_one_walk(runner)


class Unsure(LocalLeases):
    """A lease taken and never lost, whose term the test makes sure or unsure
    (as when Redis has not answered a renewal for a while)."""

    shared = True

    def __init__(self) -> None:
        super().__init__()
        self.sure = True
        self.clock = time.monotonic
        self._term = LeaseTerm(LeaseTiming(ttl=3600, renew_every=1800), time.monotonic())

    def term(self, name: str) -> LeaseTerm | None:
        return self._term

    def held(self, name: str) -> bool:
        return self.sure


async def test_a_feed_publishes_only_while_its_lease_is_sure(runner):
    """Points made while the lease is unsure wait, then go out in order."""
    leases = Unsure()
    a = Producers(runner, [ticker()], leases=leases)
    a.start()
    status = a.status["ACME"]
    try:
        await wait_until(lambda: status.published >= 3, what="a publishes")
        leases.sure = False
        await wait_until(lambda: status.state == "paused", what="paused")
        published = status.published
        await asyncio.sleep(0.1)  # ten more ticks made meanwhile
        assert status.published == published
        leases.sure = True
        await wait_until(lambda: status.state == "running", timeout=3, what="resumed")
        await wait_until(lambda: status.published >= published + 15, what="held ones out")
    finally:
        await a.stop()
    assert status.dropped == 0
    assert_one_walk(runner)
