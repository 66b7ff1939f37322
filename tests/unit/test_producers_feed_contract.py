"""The feed contract of feeds/base.py as the producers honour it: a bad point, BREAK,
Skipped, FeedFailed, and continuing from the last kept point after a restart."""

import asyncio
import logging
import math
import time

import pytest

from dashboard.ingest import IngestError, prepare
from dashboard.points import now_ms
from dashboard.producers import DROP_REPORT_INTERVAL, Backoff, Producers
from dashboard.protocol import Point
from feeds import Feed, feed
from feeds.base import BREAK, FeedFailed, KeptPoint, Skipped
from feeds.ticker import TickerFeed, TickerParams
from tests.support.waiting import wait_until

FAST = Backoff(initial=0.01, maximum=0.05)


async def run(runner, *sources, backoff=FAST) -> Producers:
    producers = Producers(runner, sources, backoff=backoff)
    producers.start()
    return producers


def held(hub, name) -> list[Point]:
    return hub.histories[name].recent()


async def test_ts_in_seconds_is_refused_with_ingests_message_and_nothing_is_plotted(hub, runner):
    """A feed yielding time.time() as ts crashes with the very message ingest gives
    for that value (status error and log), and no point reaches the history."""
    seconds = int(time.time())

    @feed("secs", series=["v"])
    async def secs():
        yield {"v": 1.0, "ts": seconds}

    producers = await run(runner, secs)
    try:
        await wait_until(lambda: producers.status["secs"].restarts >= 1)
        with pytest.raises(IngestError) as ingest:
            prepare("x", [{"ts": seconds, "values": {"v": 1}}], {}, create=True, now_ms=now_ms())
        assert ingest.value.message.startswith("point 0: ts ")
        same = ingest.value.message.removeprefix("point 0: ")
        assert "looks like seconds" in same
        assert producers.status["secs"].error == f"bad point: {same}"
        assert hub.status["secs"]["error"] == f"bad point: {same}"
        assert held(hub, "secs") == []
    finally:
        await producers.stop()


async def test_break_flags_the_next_point(hub, runner):
    """BREAK between two points: the second carries gap; the others do not. Two
    breaks in a row are one; a point dropped by max_rate passes its gap on."""

    @feed("broken", series=["v"])
    async def broken():
        yield {"v": 1}
        yield BREAK
        yield BREAK
        yield {"v": 2}
        yield {"v": 3}
        await asyncio.Event().wait()

    producers = await run(runner, broken)
    try:
        await wait_until(lambda: len(held(hub, "broken")) == 3)
        points = held(hub, "broken")
        assert [(p.values["v"], p.gap) for p in points] == [(1, False), (2, True), (3, False)]
        assert points[1].wire.endswith(',"gap":true}') and "gap" not in points[0].wire
    finally:
        await producers.stop()


async def test_skipped_inputs_are_counted_and_shown_without_stopping_the_feed(hub, runner):
    """Skipped(reason): counted, the latest reason in the status viewers get; the
    feed runs on and its points are published."""

    @feed("rows", series=["v"])
    async def rows():
        yield {"v": 1}
        yield Skipped("line 3: 'n/a' is not a number")
        yield {"v": 2}
        yield Skipped("line 5: date 'someday' cannot be read")
        yield {"v": 3}
        await asyncio.Event().wait()

    producers = await run(runner, rows)
    try:
        await wait_until(lambda: hub.status.get("rows", {}).get("skipped") == 2)
        status = hub.status["rows"]
        assert status["state"] == "running" and status["error"] == ""
        assert status["skipped_reason"] == "line 5: date 'someday' cannot be read"
        assert [p.values["v"] for p in held(hub, "rows")] == [1, 2, 3]
        assert producers.status["rows"].restarts == 0
    finally:
        await producers.stop()


async def test_a_flood_of_skips_reaches_viewers_a_few_times_a_second(hub, runner):
    """Thousands of skips cost a few status updates per DROP_REPORT_INTERVAL, and
    the final count gets out even though the feed then goes quiet."""
    changes = []
    set_status = hub.set_status

    def counting(feed, status):
        changes.append(status["skipped"])
        set_status(feed, status)

    hub.set_status = counting

    @feed("flood", series=["v"])
    async def flood():
        for n in range(20_000):
            yield Skipped(f"row {n}")
            if n % 500 == 0:
                await asyncio.sleep(0.001)  # spread over some intervals
        await asyncio.Event().wait()

    started = time.monotonic()
    producers = await run(runner, flood)
    try:
        await wait_until(lambda: hub.status.get("flood", {}).get("skipped") == 20_000)
        elapsed = time.monotonic() - started
        assert hub.status["flood"]["skipped_reason"] == "row 19999"
        skip_reports = len([c for c in changes if c])
        assert skip_reports <= elapsed / DROP_REPORT_INTERVAL + 2, (skip_reports, elapsed)
    finally:
        await producers.stop()


async def test_feed_failed_ends_the_feed_at_once_with_one_log_line(hub, runner, caplog):
    """FeedFailed: state failed with the feed's message, no restart, no teardown
    skipped, one error event and no traceback."""

    class Doomed(Feed):
        name = "doomed"
        series = ["v"]

        def __init__(self):
            self.starts = self.teardowns = 0

        async def setup(self):
            self.starts += 1

        async def stream(self):
            yield {"v": 1}
            raise FeedFailed("data.csv: no column 'price' (columns: ts, close)")

        async def teardown(self):
            self.teardowns += 1

    doomed = Doomed()
    caplog.set_level(logging.INFO, logger="dashboard.producers")
    producers = await run(runner, doomed)
    try:
        await wait_until(lambda: hub.status.get("doomed", {}).get("state") == "failed")
        await asyncio.sleep(FAST.maximum * 4)  # longer than any backoff: no restart comes
        status = producers.status["doomed"]
        assert status.error == "data.csv: no column 'price' (columns: ts, close)"
        assert (status.restarts, doomed.starts, doomed.teardowns) == (0, 1, 1)
        records = [r for r in caplog.records if r.name == "dashboard.producers"]
        assert len(records) == 1 and records[0].levelno == logging.ERROR
        assert "feed_failed" in records[0].getMessage() and not records[0].exc_info
    finally:
        await producers.stop()
    assert producers.status["doomed"].state == "failed"


class Counter(Feed):
    """Counts up from its last kept point when ``resumes``; crashes after each
    ``burst`` points so that it restarts."""

    name = "counter"
    series = ["n"]

    def __init__(self, resumes: bool, burst: int = 3):
        self.resumes, self.burst = resumes, burst
        self.offered: list[KeptPoint] = []
        self.next = 1

    def resume_from(self, last):
        self.offered.append(last)
        if self.resumes:
            self.next = last.values["n"] + 1
        return self.resumes

    async def stream(self):
        for _ in range(self.burst):
            yield {"n": self.next}
            self.next += 1
        raise RuntimeError("unplugged")


@pytest.mark.parametrize("resumes", [True, False])
async def test_restart_offers_the_last_point_and_breaks_only_if_not_taken(hub, runner, resumes):
    """After a crash the feed is offered its last published point: continuing
    from it, there is no break; refusing, the restart's first point has gap."""
    counter = Counter(resumes)
    producers = await run(runner, counter)
    try:
        await wait_until(lambda: len(held(hub, "counter")) >= 9)
    finally:
        await producers.stop()
    points = held(hub, "counter")[:9]
    assert [o.values for o in counter.offered[:2]] == [{"n": 3}, {"n": 6}]
    assert all(o.ts == p.ts for o, p in zip(counter.offered, points[2::3], strict=False))
    if resumes:
        assert [p.values["n"] for p in points] == list(range(1, 10))
        assert not any(p.gap for p in points)
    else:
        assert [p.gap for p in points] == [False, False, False, True, False, False] + [
            True,
            False,
            False,
        ]


async def test_first_start_is_offered_the_restored_point(hub, runner):
    """Points restored from a history file are kept points too: the first run
    is offered the newest; a feed that cannot continue starts after a break."""
    restored = [Point("counter", seq, 1_764_000_000_000 + seq, {"n": seq}) for seq in (1, 2)]
    hub.restore({"counter": restored})
    counter = Counter(resumes=False, burst=1)
    producers = await run(runner, counter, backoff=Backoff(initial=60))
    try:
        await wait_until(lambda: len(held(hub, "counter")) == 3)
    finally:
        await producers.stop()
    assert counter.offered[0] == KeptPoint(1_764_000_000_002, {"n": 2})
    assert held(hub, "counter")[2].gap is True


async def test_feed_function_with_last_continues(hub, runner):
    """@feed functions get the last kept point as ``last`` (None the first time)."""
    calls = []

    @feed("fn", series=["n"])
    async def fn(step: int = 1, last=None):
        calls.append(last)
        n = last.values["n"] if last else 0
        for _ in range(2):
            n += step
            yield {"n": n}
        raise RuntimeError("again")

    producers = await run(runner, fn.create(step=10))
    try:
        await wait_until(lambda: len(held(hub, "fn")) >= 6)
    finally:
        await producers.stop()
    points = held(hub, "fn")[:6]
    assert [p.values["n"] for p in points] == [10, 20, 30, 40, 50, 60]
    assert not any(p.gap for p in points)
    assert calls[0] is None and calls[1].values == {"n": 20}
    with pytest.raises(TypeError, match="'last' is not a setting"):
        fn.create(last=5)


async def test_feed_function_without_last_restarts_after_a_break(hub, runner):
    """A function that takes no ``last`` starts afresh; its restart is drawn broken."""

    @feed("plain", series=["n"])
    async def plain():
        yield {"n": 1}
        yield {"n": 2}
        raise RuntimeError("again")

    producers = await run(runner, plain)
    try:
        await wait_until(lambda: len(held(hub, "plain")) >= 4)
    finally:
        await producers.stop()
    points = held(hub, "plain")[:4]
    assert [(p.values["n"], p.gap) for p in points] == [
        (1, False),
        (2, False),
        (1, True),
        (2, False),
    ]


class CrashingTicker(TickerFeed):
    """A ticker whose first run loses its link after 20 prices."""

    runs = 0

    async def stream(self):
        self.runs += 1
        count = 0
        async for values in super().stream():
            yield values
            count += 1
            if self.runs == 1 and count == 20:
                raise RuntimeError("exchange link lost")


async def test_ticker_continues_its_price_after_a_restart(hub, runner):
    """Restarted, the ticker walks on from its last price instead of starting its
    walk over: with no volatility and a steady drift every price is one step
    above the one before, across the restart too, and nothing is drawn broken."""
    params = TickerParams(rate=200.0, volatility=0.0, drift=720.0)  # +0.1 % a step
    ticker = CrashingTicker("ACME", params=params, start_price=100.0)
    producers = await run(runner, ticker)
    try:
        await wait_until(lambda: len(held(hub, "ACME")) >= 30)
    finally:
        await producers.stop()
    points = held(hub, "ACME")[:30]
    assert ticker.runs >= 2 and producers.status["ACME"].restarts >= 1
    prices = [p.values["price"] for p in points]
    assert prices[0] == 100.0 and not any(p.gap for p in points)
    for before, after in zip(prices, prices[1:], strict=False):
        # Rounded to the cent, each price is 0.1 % above the one before.
        assert abs(after - before * 1.001) <= 0.011, (before, after)


def test_ticker_takes_only_a_usable_price():
    """resume_from answers False (a break) for a point without a positive price."""
    ticker = TickerFeed("ACME", seed=1)
    for values in ({"volume": 3}, {"price": 0}, {"price": float("nan")}, {"price": True}):
        assert ticker.resume_from(KeptPoint(1, values)) is False
    assert next(ticker.walk())["price"] == ticker.start_price
    assert ticker.resume_from(KeptPoint(1, {"price": 31.0})) is True
    assert math.isclose(next(ticker.walk())["price"], 31.0, rel_tol=0.01)
