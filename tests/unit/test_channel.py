"""One viewer's outbox (dashboard/channel.py), on its own: bounded frames, the
close signal, and the writer's side. (Its Backlog rule: test_lagging.py.)"""

import asyncio

import pytest

from dashboard.channel import ClientChannel
from dashboard.protocol import CloseCode, Point
from tests.support.hubs import Clock


def test_push_queues_until_the_outbox_is_full_then_refuses():
    channel = ClientChannel(2)
    assert channel.push("a") and channel.push("b")
    assert channel.queued == 2
    assert not channel.push("c")  # full: the frame is not queued
    assert channel.take_all() == ["a", "b"]
    assert channel.queued == 0 and channel.push("c")


def test_a_closing_channel_accepts_frames_and_keeps_none():
    channel = ClientChannel(1)
    channel.close(CloseCode.GOING_AWAY, "bye")
    assert channel.push("a") and channel.push("b")  # never "full": nothing more is written
    assert channel.queued == 0


def test_close_keeps_the_first_code_and_reason():
    channel = ClientChannel(4)
    assert not channel.closing
    channel.close(CloseCode.GOING_AWAY, "shutting down")
    channel.close(CloseCode.POLICY, "too slow")
    assert channel.closing
    assert (channel.close_code, channel.close_reason) == (CloseCode.GOING_AWAY, "shutting down")


async def test_writer_gets_queued_frames_then_none_once_closed():
    channel = ClientChannel(4)
    channel.push("a")
    channel.push("b")
    channel.close(CloseCode.GOING_AWAY, "bye")  # without discard: queued frames go first
    assert [await channel.next_frame() for _ in range(3)] == ["a", "b", None]


async def test_writer_waits_for_the_next_frame():
    channel = ClientChannel(4)
    waiting = asyncio.create_task(channel.next_frame())
    await asyncio.sleep(0)
    assert not waiting.done()
    channel.push("late")
    async with asyncio.timeout(5):
        assert await waiting == "late"


async def test_close_wakes_a_waiting_writer_with_none():
    channel = ClientChannel(4)
    waiting = asyncio.create_task(channel.next_frame())
    await asyncio.sleep(0)
    channel.close(CloseCode.POLICY, "too slow")
    async with asyncio.timeout(5):
        assert await waiting is None


def test_close_with_discard_drops_frames_and_held_points_and_tells_the_connection():
    channel = ClientChannel(4)
    abandoned = []
    channel.on_discard(lambda: abandoned.append(True))
    channel.push("a")
    channel.conflated["A"] = Point("A", 1, 1000, {"v": 1.0})
    channel.close(CloseCode.POLICY, "too slow", discard=True)
    assert channel.queued == 0 and channel.conflated == {}
    assert abandoned == [True]
    assert channel.backlog(0.0).size == 0


async def test_a_frame_being_written_counts_until_the_writer_asks_for_the_next():
    clock = Clock()
    channel = ClientChannel(4, clock=clock)
    channel.push("x" * 10)
    assert await channel.next_frame() == "x" * 10
    backlog = channel.backlog(clock.now)
    assert (backlog.frames, backlog.size) == (1, 10)  # handed over, not yet written
    channel.push("y")
    waiting = asyncio.create_task(channel.next_frame())
    async with asyncio.timeout(5):
        assert await waiting == "y"  # the write of x returned: only y counts now
    assert (channel.backlog(clock.now).frames, channel.backlog(clock.now).size) == (1, 1)


def test_lag_is_the_oldest_frames_age_or_the_time_held_back_if_longer():
    clock = Clock()
    channel = ClientChannel(8, clock=clock)
    assert channel.lag(clock.now) == 0.0
    channel.push("a")
    clock.now += 1.5
    assert channel.lag(clock.now) == 1.5
    channel.take_all()
    channel.lagging_since = clock.now - 4.0
    assert channel.lag(clock.now) == 4.0


def test_bounds_default_from_max_frames():
    channel = ClientChannel(8)
    assert channel.conflate_at == 8
    assert ClientChannel(8, conflate_at=3).conflate_at == 3


@pytest.mark.parametrize(
    ("max_frames", "conflate_at", "message"),
    [
        (0, None, "max_frames must be >= 1, not 0"),
        (8, 0, "conflate_at must be 1-8, not 0"),
        (8, 9, "conflate_at must be 1-8, not 9"),
    ],
)
def test_bounds_that_mean_nothing_are_refused(max_frames, conflate_at, message):
    with pytest.raises(ValueError, match=message):
        ClientChannel(max_frames, conflate_at=conflate_at)
