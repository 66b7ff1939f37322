"""Feed supervision: set-up/teardown, crash and restart with backoff, rate limits."""

import asyncio
import json
import time

import pytest

from dashboard.producers import Backoff, Producers, max_rate_bucket
from dashboard.stalls import STALL_MIN_SECONDS, StallWatch, stall_after_of
from feeds import Feed, feed
from feeds.base import FeedInfo, Series
from tests.support.waiting import wait_until


class Flaky(Feed):
    """Yields two points, then raises; records each start."""

    name = "flaky"
    series = ["v"]

    def __init__(self):
        self.starts: list[float] = []
        self.teardowns = 0

    async def setup(self):
        self.starts.append(time.monotonic())

    async def stream(self):
        yield {"v": 1}
        yield {"v": 2}
        raise RuntimeError("sensor unplugged")

    async def teardown(self):
        self.teardowns += 1


async def test_crashing_feed_restarts_with_growing_backoff_and_others_go_on(hub, runner):
    """A feed that raises is restarted after doubling delays; a healthy feed beside it
    keeps publishing, and the failure shows as restarting with the error."""
    flaky = Flaky()

    @feed("steady", series=["v"])
    async def steady():
        n = 0
        while True:
            n += 1
            yield {"v": n}
            await asyncio.sleep(0.005)

    producers = Producers(runner, [flaky, steady], backoff=Backoff(initial=0.05, maximum=1.0))
    producers.start()
    try:
        await wait_until(lambda: len(flaky.starts) >= 4, what="four starts")
        status = producers.status["flaky"]
        assert status.state == "restarting" or status.state == "running"
        assert status.restarts >= 3 and "RuntimeError: sensor unplugged" in status.error
        gaps = [b - a for a, b in zip(flaky.starts, flaky.starts[1:], strict=False)]
        # Nominal 0.05, 0.1, 0.2 s with +-10 % jitter: lower bounds only.
        for gap, nominal in zip(gaps, (0.05, 0.1, 0.2), strict=False):
            assert gap >= nominal * 0.9
        assert flaky.teardowns >= 3  # teardown ran after every failure
        assert producers.status["steady"].state == "running"
        assert producers.status["steady"].published > 20
        assert hub.status["flaky"]["restarts"] == status.restarts
    finally:
        await producers.stop()
    assert producers.status["steady"].state == "stopped"


async def test_gives_up_after_max_restarts(runner):
    """With max_restarts, a feed failing that often in a row is marked failed."""
    flaky = Flaky()
    producers = Producers(runner, [flaky], backoff=Backoff(0.01, 0.05, max_restarts=2))
    producers.start()
    try:
        await wait_until(lambda: producers.status["flaky"].state == "failed")
        assert len(flaky.starts) == 3  # the first run and two restarts
        assert "sensor unplugged" in producers.status["flaky"].error
    finally:
        await producers.stop()


async def test_bad_points_count_as_a_crash(hub, runner):
    """A feed yielding a non-number is logged and restarted like one that raises."""

    @feed("bad", series=["v"])
    async def bad():
        yield {"v": "high"}

    producers = Producers(runner, [bad], backoff=Backoff(0.01, 0.05))
    producers.start()
    try:
        await wait_until(lambda: producers.status["bad"].restarts >= 1)
        assert (
            producers.status["bad"].error == "bad point: series 'v': 'high' is not a finite number"
        )
        assert len(hub.histories["bad"]) == 0
    finally:
        await producers.stop()


async def test_too_fast_feed_is_limited_and_drops_counted(hub, runner):
    """A feed yielding far above its max_rate is held to it; the excess is counted."""

    @feed("firehose", series=["v"], max_rate=50)
    async def firehose():
        n = 0
        while True:
            n += 1
            yield {"v": n}
            if n % 100 == 0:
                await asyncio.sleep(0)  # let the loop breathe, not a pace

    producers = Producers(runner, [firehose])
    producers.start()
    start = time.monotonic()
    try:
        await wait_until(lambda: producers.status["firehose"].dropped > 5000)
        elapsed = time.monotonic() - start
        published = producers.status["firehose"].published
        # At most one second's burst plus the rate over the elapsed time.
        assert published <= 50 + 50 * elapsed + 1
        assert hub.status["firehose"]["dropped"] > 0
    finally:
        await producers.stop()


async def test_yielded_ts_is_the_points_timestamp(hub, runner):
    """A point carrying its own ts keeps it; the ts is not a series."""

    @feed("stamped", series=["v"])
    async def stamped():
        yield {"v": 1.5, "ts": 1_700_000_000_000}
        await asyncio.Event().wait()

    producers = Producers(runner, [stamped])
    client = hub.connect()
    producers.start()
    try:
        points = []
        async with asyncio.timeout(5):
            while not points:
                message = json.loads(await client.next_frame())
                points += [p for p in message.get("points", []) if p["feed"] == "stamped"]
        assert points[0]["ts"] == 1_700_000_000_000 and points[0]["values"] == {"v": 1.5}
    finally:
        await producers.stop()


def test_backoff_doubles_to_a_cap():
    """Delays double from the initial one and stop at the maximum (within jitter)."""
    backoff = Backoff(initial=1, maximum=8)
    for failures, nominal in [(1, 1), (2, 2), (3, 4), (4, 8), (9, 8)]:
        assert nominal * 0.9 <= backoff.delay(failures) <= nominal * 1.1


def test_stall_watch_flips_to_stalled_after_the_threshold_and_back_on_progress():
    """No progress for stall_after seconds: stalled (once); progress: not stalled
    (once); the clock restarts from that progress."""
    watch = StallWatch(stall_after=2.0, now=100.0, progress=5)
    assert watch.observe(5, 101.9) is False and not watch.stalled
    assert watch.observe(5, 102.0) is True and watch.stalled
    assert watch.observe(5, 150.0) is False and watch.stalled  # reported once
    assert watch.observe(6, 150.5) is True and not watch.stalled
    assert watch.observe(6, 152.4) is False and not watch.stalled
    assert watch.observe(6, 152.5) is True and watch.stalled
    # Steady progress never stalls, however long it runs.
    watch = StallWatch(stall_after=1.0, now=0.0)
    assert not any(watch.observe(n, n * 0.9) for n in range(1, 100))


def test_stall_threshold_from_declaration_or_rate():
    """stall_after wins; else 10 periods of the rate, at least STALL_MIN_SECONDS;
    a feed with neither is never stalled."""
    series = (Series("v"),)
    assert stall_after_of(FeedInfo("a", series, rate=10, stall_after=0.3)) == 0.3
    assert stall_after_of(FeedInfo("a", series, rate=0.5)) == 20.0
    assert stall_after_of(FeedInfo("a", series, rate=100)) == STALL_MIN_SECONDS
    assert stall_after_of(FeedInfo("a", series, max_rate=100)) is None
    assert stall_after_of(FeedInfo("a", series)) is None
    with pytest.raises(ValueError, match="stall_after must be > 0"):
        FeedInfo("a", series, stall_after=0)


class Hanging(Feed):
    """Yields one point, then nothing until released; then a point every 5 ms."""

    name = "hanging"
    series = ["v"]
    stall_after = 0.1

    def __init__(self):
        self.release = asyncio.Event()

    async def stream(self):
        yield {"v": 0}
        await self.release.wait()
        n = 0
        while True:
            n += 1
            yield {"v": n}
            await asyncio.sleep(0.005)


async def test_hanging_feed_is_stalled_while_others_go_on_then_runs_again(hub, runner):
    """A feed awaiting forever is marked stalled (and viewers are told) while a
    feed beside it keeps publishing; once it yields again it is running."""
    hanging = Hanging()

    @feed("steady", series=["v"], rate=200)
    async def steady():
        n = 0
        while True:
            n += 1
            yield {"v": n}
            await asyncio.sleep(0.005)

    producers = Producers(runner, [hanging, steady])
    producers.start()
    try:
        await wait_until(lambda: producers.status["hanging"].state == "stalled")
        assert hub.status["hanging"]["state"] == "stalled"
        published = producers.status["steady"].published
        await wait_until(lambda: producers.status["steady"].published > published + 20)
        assert producers.status["steady"].state == "running"
        hanging.release.set()
        await wait_until(lambda: producers.status["hanging"].state == "running")
        assert hub.status["hanging"]["state"] == "running"
    finally:
        await producers.stop()


async def test_hanging_setup_counts_as_a_stall(runner):
    """A feed whose setup never returns shows stalled, not idle forever."""

    class StuckSetup(Feed):
        name = "stuck"
        series = ["v"]
        stall_after = 0.05

        async def setup(self):
            await asyncio.Event().wait()

        async def stream(self):
            yield {"v": 1}  # pragma: no cover - never reached

    producers = Producers(runner, [StuckSetup()])
    producers.start()
    try:
        await wait_until(lambda: producers.status["stuck"].state == "stalled")
    finally:
        await producers.stop()
    assert producers.status["stuck"].state == "stopped"


def test_max_rate_allows_a_seconds_worth_at_once_then_the_rate():
    """A feed's max_rate is a token bucket (the one of dashboard/limits.py):
    a burst of one second's worth, at least one point, then max_rate per second."""
    now = [0.0]
    bucket = max_rate_bucket(4.0, clock=lambda: now[0])
    assert [bucket.allow() for _ in range(5)] == [True] * 4 + [False]
    now[0] += 0.25
    assert [bucket.allow() for _ in range(2)] == [True, False]
    slow = max_rate_bucket(0.5, clock=lambda: now[0])
    assert [slow.allow() for _ in range(2)] == [True, False]
    now[0] += 2.0
    assert slow.allow()
    assert max_rate_bucket(None) is None
