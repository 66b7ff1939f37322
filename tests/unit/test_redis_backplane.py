"""RedisBackplane against a real redis-server: numbering, sharing, epochs, being down."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
from redis.asyncio import Redis

from dashboard.backplane import BackplaneDown, BackplaneError, BackplaneUnavailable, Position
from dashboard.backplane_url import parse_backplane_url
from dashboard.protocol import Point
from dashboard.redis_backplane import RedisBackplane
from dashboard.redis_scripts import Reconnect, decode_info, encode_info
from feeds.base import FeedInfo, Series
from tests.support.redis_server import RedisServer, free_port
from tests.support.waiting import wait_until


class Instance:
    """One RedisBackplane with its reader running, recording what it hears."""

    def __init__(self, url: str, history_size: int = 1000) -> None:
        self.backplane = RedisBackplane(parse_backplane_url(url), history_size=history_size)
        self.points: list[Point] = []
        self.states: list[bool] = []
        self.feeds: list[FeedInfo] = []
        self.epochs: list[str] = []
        self.events: list[str] = []  # feeds declared and points, in the order heard
        self.backplane.on_state = self.states.append
        self.backplane.on_feed = self._feed
        self.backplane.on_epoch = self.epochs.append
        self._reader: asyncio.Task[None] | None = None

    def _feed(self, info: FeedInfo) -> None:
        self.feeds.append(info)
        self.events.append(f"feed {info.name}")

    async def start(self) -> None:
        await self.backplane.connect()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for point in self.backplane.points():
            self.points.append(point)
            self.events.append(f"point {point.feed}")

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        await self.backplane.disconnect()

    def seqs(self, feed: str) -> list[int]:
        return [p.seq for p in self.points if p.feed == feed]


@asynccontextmanager
async def instances(url: str, count: int = 1, **kwargs: int) -> AsyncIterator[list[Instance]]:
    started = [Instance(url, **kwargs) for _ in range(count)]
    try:
        for instance in started:
            await instance.start()
        yield started
    finally:
        for instance in started:
            await instance.stop()


def has(count: int, instance: Instance, feed: str = "X") -> Callable[[], bool]:
    return lambda: len(instance.seqs(feed)) >= count


def switched(instance: Instance, epoch: str) -> Callable[[], bool]:
    return lambda: instance.backplane.epoch == epoch


async def test_two_instances_publishing_into_one_feed_never_reuse_or_skip_a_seq(
    redis_server: RedisServer,
) -> None:
    async with instances(redis_server.url, 2) as (a, b):

        async def singles(instance: Instance, tag: str) -> list[Position]:
            return list(
                await asyncio.gather(
                    *(instance.backplane.publish("X", {"v": i, "by": tag}) for i in range(150))
                )
            )

        async def batches(instance: Instance, tag: str) -> list[list[Position]]:
            return list(
                await asyncio.gather(
                    *(
                        instance.backplane.publish_many("X", [({"v": i, "by": tag}, None)] * 5)
                        for i in range(30)
                    )
                )
            )

        ones_a, ones_b, many_a, many_b = await asyncio.gather(
            singles(a, "a"), singles(b, "b"), batches(a, "A"), batches(b, "B")
        )
        total = 2 * 150 + 2 * 30 * 5
        batched = many_a + many_b
        handed_out = [p.seq for p in ones_a + ones_b] + [p.seq for b in batched for p in b]
        assert sorted(handed_out) == list(range(1, total + 1))  # no repeat, no hole
        for batch in batched:  # a batch is contiguous
            assert [p.seq for p in batch] == list(range(batch[0].seq, batch[0].seq + 5))
        assert {p.epoch for p in ones_a + ones_b} == {a.backplane.epoch} == {b.backplane.epoch}
        for instance in (a, b):  # every instance reads every point, in seq order
            await wait_until(has(total, instance), 5, "every point read")
            assert instance.seqs("X") == list(range(1, total + 1))
        assert [p.values for p in a.points] == [p.values for p in b.points]


async def test_appends_are_pipelined_not_one_round_trip_per_point(
    redis_server: RedisServer,
) -> None:
    async with instances(redis_server.url) as (a,):
        pipelines = 0
        make_pipeline = a.backplane.client.pipeline

        def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
            nonlocal pipelines
            pipelines += 1
            return make_pipeline(*args, **kwargs)

        a.backplane.client.pipeline = counting  # type: ignore[method-assign]
        feeds = [f"F{i}" for i in range(10)]
        await asyncio.gather(*(a.backplane.publish(f, {"v": i}) for i in range(50) for f in feeds))
        assert pipelines <= 25, f"{pipelines} pipelines for 500 points"


async def test_deleted_epoch_gives_every_instance_the_same_new_one(
    redis_server: RedisServer,
) -> None:
    async with instances(redis_server.url, 2) as (a, b):
        old = a.backplane.epoch
        assert b.backplane.epoch == old
        await a.backplane.publish_many("X", [({"v": 1}, None), ({"v": 2}, None)])
        await wait_until(has(2, b), 5, "b read the old epoch's points")
        async with Redis.from_url(redis_server.url) as raw:
            await raw.delete("livefeed:epoch")
        # Both publish at once: one of them makes the new epoch, both use it.
        pa, pb = await asyncio.gather(
            a.backplane.publish("X", {"v": 3}), b.backplane.publish("X", {"v": 4})
        )
        assert pa.epoch == pb.epoch != old
        assert sorted([pa.seq, pb.seq]) == [1, 2]  # the numbering starts again
        for instance in (a, b):
            await wait_until(switched(instance, pa.epoch), 5, "switched")
            await wait_until(has(4, instance), 5, "the new epoch's points read")
            assert instance.epochs == [pa.epoch]  # told once, before the new points
            assert instance.seqs("X") == [1, 2, 1, 2]


async def test_a_late_starter_gets_the_kept_history_and_the_pushed_feeds(
    redis_server: RedisServer,
) -> None:
    info = FeedInfo("pushed", series=(Series("load", unit="%"),), title="Load")
    async with instances(redis_server.url, history_size=20) as (a,):
        await a.backplane.announce(info)
        for i in range(50):
            await a.backplane.publish("X", {"v": i})
        await a.backplane.publish("pushed", {"load": 1.5}, ts=1234)
        async with instances(redis_server.url, history_size=20) as (late,):
            assert late.feeds == [info]
            kept = late.backplane.backlog()
            assert [p.seq for p in kept if p.feed == "X"] == list(range(31, 51))
            assert [p.values for p in kept if p.feed == "X"][-1] == {"v": 49}
            assert [(p.seq, p.ts, p.values) for p in kept if p.feed == "pushed"] == [
                (1, 1234, {"load": 1.5})
            ]
            assert late.backplane.backlog() == []  # handed over once
            # What follows is read live, from where the backlog ended.
            await a.backplane.publish("X", {"v": 50})
            await wait_until(has(1, late), 5, "the next point")
            assert late.seqs("X") == [51]
            # A feed announced now is declared before its first point.
            other = FeedInfo("other", series=(Series("n"),))
            await a.backplane.announce(other)
            await a.backplane.publish("other", {"n": 1})
            await wait_until(lambda: late.seqs("other") == [1], 5, "the new feed's point")
            assert late.events.index("feed other") < late.events.index("point other")


async def test_redis_stopped_and_started_loses_nothing_acknowledged(
    redis_server: RedisServer,
) -> None:
    async with instances(redis_server.url) as (a,):
        for i in range(20):
            await a.backplane.publish("X", {"v": i})
        await wait_until(has(20, a), 5, "the first points read")
        redis_server.stop()
        await wait_until(lambda: not a.backplane.up, 5, "down noticed")
        assert a.states == [False]
        with pytest.raises(BackplaneDown) as refused:
            await a.backplane.publish("X", {"v": -1})
        assert refused.value.retry_after > 0
        assert f"127.0.0.1:{redis_server.port}" in str(refused.value)
        redis_server.start()  # same port, same append-only file
        await wait_until(lambda: a.backplane.up, 10, "up again")
        assert a.states == [False, True]
        for i in range(20, 40):
            await a.backplane.publish("X", {"v": i})
        await wait_until(has(40, a), 5, "the later points read")
        assert a.seqs("X") == list(range(1, 41))  # no duplicate, nothing lost
        assert [p.values["v"] for p in a.points] == list(range(40))
        assert a.epochs == []  # Redis kept its data: same epoch


async def test_connect_to_a_closed_port_names_where_quickly() -> None:
    port = free_port()
    backplane = RedisBackplane(parse_backplane_url(f"redis://:hunter2@127.0.0.1:{port}/0"))
    started = time.monotonic()
    with pytest.raises(BackplaneUnavailable) as error:
        await backplane.connect()
    assert time.monotonic() - started < 3
    assert f"127.0.0.1:{port}" in str(error.value)
    assert "hunter2" not in str(error.value) and "hunter2" not in repr(backplane)
    assert not backplane.up


def test_a_history_file_cannot_be_continued_over_redis() -> None:
    backplane = RedisBackplane(parse_backplane_url("redis://127.0.0.1:1/0"))
    with pytest.raises(BackplaneError, match="Redis keeps the history"):
        backplane.restore(None)  # type: ignore[arg-type]


def test_reconnect_backs_off_exponentially_up_to_its_cap() -> None:
    plan = Reconnect(base=0.1, cap=1.0)
    delays = [plan.failed(now=10.0) for _ in range(6)]
    assert delays == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])
    assert plan.retry_after(now=10.25) == pytest.approx(0.75)
    assert plan.retry_after(now=99.0) == 0.1  # never "now": a refused writer waits a little
    plan.succeeded()
    assert plan.failed(now=0.0) == pytest.approx(0.1)


def test_a_feed_declaration_goes_through_redis_whole() -> None:
    info = FeedInfo(
        "f",
        series=(Series("p", unit="$", level=True, y_min=0.0, decimals=2), Series("n", plot=False)),
        title="F",
        rate=2.0,
        description="d",
        stall_after=3.0,
    )
    back = decode_info(encode_info(info))
    assert back == info and back.series == info.series and back.stall_after == 3.0
    with pytest.raises(ValueError):
        decode_info(b'{"name": "x"}')


async def test_the_password_is_never_logged_going_down_and_back(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with Redis.from_url(redis_server.url) as raw:
        await raw.config_set("requirepass", "s3cret-pw")
        url = f"redis://:s3cret-pw@127.0.0.1:{redis_server.port}/0"
        try:
            async with instances(url) as (a,):
                await a.backplane.publish("X", {"v": 1})
                await raw.auth("s3cret-pw")
                # Every connection of the backplane dropped: down, then back.
                await raw.client_kill_filter(_type="normal", skipme=True)
                await wait_until(lambda: a.states == [False, True], 5, "down and back")
                assert (await a.backplane.publish("X", {"v": 2})).seq == 2
                await wait_until(has(2, a), 5, "both points read")
        finally:
            await raw.config_set("requirepass", "")
    logged = caplog.text
    assert f"redis://:***@127.0.0.1:{redis_server.port}/0 is down" in logged
    assert "s3cret-pw" not in logged


async def test_redis_back_with_older_numbers_gets_a_new_epoch(redis_server: RedisServer) -> None:
    """As after power loss with appendfsync everysec, or an old RDB snapshot:
    the epoch survived but the counters went back; numbers must not repeat."""
    async with instances(redis_server.url) as (a,):
        for i in range(5):
            await a.backplane.publish("X", {"v": i})
        await wait_until(has(5, a), 5, "the points read")
        old = a.backplane.epoch
        async with Redis.from_url(redis_server.url) as raw:
            await raw.hset("livefeed:seqs", "X", 2)  # Redis "forgot" seqs 3..5
            await raw.client_kill_filter(_type="normal", skipme=True)
        await wait_until(lambda: a.states == [False, True], 5, "down and back")
        position = await a.backplane.publish("X", {"v": 5})
        assert position.epoch != old and position.seq == 1
        await wait_until(switched(a, position.epoch), 5, "switched")
        assert a.epochs == [position.epoch]
