"""Hubs of several instances over one real redis-server, driven by their runners."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from redis.asyncio import Redis

from dashboard.assemble import open_backplane
from dashboard.backplane import MemoryBackplane
from dashboard.backplane_url import parse_backplane_url
from dashboard.channel import ClientChannel
from dashboard.config import DashboardConfig
from dashboard.hub import Hub
from dashboard.hub_runner import HubRunner
from dashboard.hub_settings import HubSettings
from dashboard.ingest import prepare
from dashboard.ingest_writer import IngestWriter
from dashboard.protocol import CloseCode
from dashboard.redis_backplane import RedisBackplane
from feeds.base import FeedInfo, Series
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until

TICKER = FeedInfo("A", series=(Series("price", level=True),))


@asynccontextmanager
async def instance(url: str) -> AsyncIterator[HubRunner]:
    """One dashboard's hub over the Redis at *url*, its producer feed A declared."""
    backplane = RedisBackplane(parse_backplane_url(url), history_size=100)
    hub = Hub(backplane, HubSettings(flush_interval=0.01, history_size=100))
    hub.add_feed(TICKER)
    runner = HubRunner(hub)
    await runner.start()
    try:
        yield runner
    finally:
        await runner.stop()


def points_seen(client: ClientChannel) -> list[tuple[str, int, int, Any]]:
    """(feed, seq, ts, values) of every point in the frames *client* was sent."""
    seen = []
    for frame in client.take_all():
        message = json.loads(frame)
        for point in message.get("points", []):
            seen.append((point["feed"], point["seq"], point["ts"], point["values"]))
    return seen


async def test_a_point_published_on_one_instance_reaches_viewers_of_both(
    redis_server: RedisServer,
) -> None:
    async with instance(redis_server.url) as one, instance(redis_server.url) as two:
        viewers = [one.hub.connect("v1"), two.hub.connect("v2")]
        seen: list[list[Any]] = [[], []]
        for i in range(10):
            await (one if i % 2 else two).publish("A", {"price": 100.0 + i}, ts=1000 + i)

        def all_seen() -> bool:
            for got, viewer in zip(seen, viewers, strict=True):
                got.extend(points_seen(viewer))
            return all(len(got) == 10 for got in seen)

        await wait_until(all_seen, 5, "both viewers have every point")
        expected = [("A", i + 1, 1000 + i, {"price": 100.0 + i}) for i in range(10)]
        assert seen[0] == seen[1] == expected
        assert one.hub.epoch == two.hub.epoch


async def test_a_late_instance_starts_with_the_history_and_the_pushed_feeds(
    redis_server: RedisServer,
) -> None:
    pushed = FeedInfo("sensor", series=(Series("t", unit="C"),))
    async with instance(redis_server.url) as first:
        first.hub.add_feed(pushed, pushed=True)
        await first.hub.backplane.announce(pushed)
        for i in range(30):
            await first.publish("A", {"price": 50.0 + i})
        await first.publish("sensor", {"t": 21.5})
        async with instance(redis_server.url) as late:
            # Filled by start(): before any producer or viewer of it could ask.
            history = late.hub.histories["A"]
            assert [p.seq for p in history.recent()] == list(range(1, 31))
            assert history.last is not None and history.last.values == {"price": 79.0}
            assert "sensor" in late.hub.feeds
            assert [p.values for p in late.hub.histories["sensor"].recent()] == [{"t": 21.5}]
            # A viewer resuming on the late instance gets exactly what it missed.
            viewer = late.hub.connect("v", subscribe=False)
            late.hub.receive(
                viewer,
                json.dumps(
                    {
                        "type": "subscribe",
                        "resume": {"epoch": first.hub.epoch, "seqs": {"A": 27}},
                        "feeds": ["A"],
                    }
                ),
            )
            replay = [json.loads(f) for f in viewer.take_all() if '"replay"' in f]
            assert [p["seq"] for p in replay[0]["points"]] == [28, 29, 30]


async def test_a_new_epoch_restarts_the_rings_and_sends_viewers_to_resume(
    redis_server: RedisServer,
) -> None:
    async with instance(redis_server.url) as one, instance(redis_server.url) as two:
        await one.publish("A", {"price": 1.0})
        await wait_until(lambda: len(two.hub.histories["A"]) == 1, 5, "the first point")
        viewer = two.hub.connect("v")
        old = two.hub.epoch
        async with Redis.from_url(redis_server.url) as raw:
            await raw.delete("livefeed:epoch")  # as if Redis lost its data
        position = await one.publish("A", {"price": 2.0})
        assert position.seq == 1 and position.epoch != old
        for runner in (one, two):
            await wait_until(lambda r=runner: r.hub.epoch == position.epoch, 5, "new epoch")  # type: ignore[misc]
            await wait_until(
                lambda r=runner: [p.seq for p in r.hub.histories["A"].recent()] == [1],  # type: ignore[misc]
                5,
                "the ring restarted",
            )
        assert viewer.close_code == CloseCode.GOING_AWAY  # it comes back and resumes
        assert json.loads(two.hub.hello())["epoch"] == position.epoch


async def test_the_hub_hears_when_redis_goes_and_comes_back(redis_server: RedisServer) -> None:
    async with instance(redis_server.url) as one:
        assert one.hub.backplane_up
        redis_server.stop()
        await wait_until(lambda: not one.hub.backplane_up, 5, "hub told: down")
        redis_server.start()
        await wait_until(lambda: one.hub.backplane_up, 10, "hub told: up")
        assert (await one.publish("A", {"price": 3.0})).seq == 1


def test_the_backplane_is_chosen_by_the_url() -> None:
    assert isinstance(open_backplane(DashboardConfig()), MemoryBackplane)
    chosen = open_backplane(
        DashboardConfig(backplane="rediss://:pw@redis.example:6380/2", history_size=500)
    )
    assert isinstance(chosen, RedisBackplane)
    assert chosen.url.tls and chosen.url.address == "redis.example:6380"
    assert chosen.history_size == 500 and chosen.prefix == "livefeed:"
    assert "pw" not in repr(chosen)


async def test_points_of_a_feed_never_declared_here_reach_no_viewer(
    redis_server: RedisServer,
) -> None:
    """An instance configured with a feed the others lack: their viewers are
    never sent points of a feed their hello did not name."""
    async with instance(redis_server.url) as one, instance(redis_server.url) as two:
        viewer = two.hub.connect("v")
        await one.hub.backplane.publish("elsewhere", {"x": 1.0})
        await one.publish("A", {"price": 1.0})
        seen: list[Any] = []

        def some_seen() -> bool:
            seen.extend(points_seen(viewer))
            return bool(seen)

        await wait_until(some_seen, 5, "A's point")
        assert [p[0] for p in seen] == ["A"]
        assert "elsewhere" not in two.hub.histories


async def test_a_pushed_feed_grown_on_either_instance_grows_on_both_and_on_a_late_one(
    redis_server: RedisServer,
) -> None:
    """Ingest adds y on one instance and z on the other at the same time:
    each ends with x, y, z (each merges what the other announced), and an
    instance starting after a later growth reads the grown declaration."""
    now = 1_764_096_123_456

    def request(values: dict[str, float]) -> Any:
        raw = [{"values": values}]
        return lambda feeds, pushed: prepare(
            "lab", raw, feeds, create=True, now_ms=now, pushed=pushed
        )

    async with instance(redis_server.url) as one, instance(redis_server.url) as two:
        writers = IngestWriter(one.hub), IngestWriter(two.hub)
        await writers[0].write("lab", request({"x": 1}))
        await wait_until(lambda: "lab" in two.hub.feeds, 5, "lab on the other instance")
        await asyncio.gather(
            writers[0].write("lab", request({"y": 2})), writers[1].write("lab", request({"z": 3}))
        )
        for runner in (one, two):
            await wait_until(
                lambda r=runner: r.hub.feeds["lab"].series_names == {"x", "y", "z"}, 5, "merged"
            )
        await writers[1].write("lab", request({"w": 4}))
        await wait_until(lambda: "w" in one.hub.feeds["lab"].series_names, 5, "w on one")
        async with instance(redis_server.url) as late:
            assert late.hub.feeds["lab"].series_names == {"x", "y", "z", "w"}
            assert len(late.hub.histories["lab"].recent()) == 4
