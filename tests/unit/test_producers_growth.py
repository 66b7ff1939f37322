"""A feed that finds its series as it goes (the prometheus feed): a point with
series its ``info`` now declares grows the feed; anything else is refused."""

import asyncio
import json

from dashboard.producers import Backoff, Producers
from feeds.base import FeedInfo, Series
from tests.support.waiting import wait_until

FAST = Backoff(initial=0.01, maximum=0.05)


class Growing:
    """Declares ``a``; then ``b`` as it yields it; then yields ``c`` with ``a``
    redeclared in another unit (not a growth: refused)."""

    def __init__(self) -> None:
        self.series = [Series("a", unit="s")]
        self.step = 0

    @property
    def info(self) -> FeedInfo:
        return FeedInfo("grow", tuple(self.series))

    async def stream(self):
        self.series = [Series("a", unit="s")]
        yield {"a": 1.0}
        self.series.append(Series("b", unit="/s"))
        yield {"a": 2.0, "b": 3.0}
        self.series = [Series("a", unit="B"), Series("b", unit="/s"), Series("c")]
        yield {"c": 4.0}
        await asyncio.Event().wait()


async def test_a_point_with_newly_declared_series_grows_the_feed(hub, runner):
    source = Growing()
    producers = Producers(runner, [source], backoff=FAST)
    producers.start()
    try:
        await wait_until(lambda: producers.status["grow"].restarts >= 1, what="c refused")
        assert [(s.name, s.unit) for s in hub.feeds["grow"].series] == [("a", "s"), ("b", "/s")]
        held = [p.values for p in hub.histories["grow"].recent()]
        assert held[:2] == [{"a": 1.0}, {"a": 2.0, "b": 3.0}]
        assert producers.status["grow"].error.startswith("bad point: feed 'grow' has no series 'c'")
        declared = json.loads(hub.hello())["feeds"][0]["series"]  # a new viewer's hello
        assert [(s["name"], s["unit"]) for s in declared] == [("a", "s"), ("b", "/s")]
    finally:
        await producers.stop()
