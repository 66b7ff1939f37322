"""A viewer on the fast send path (dashboard/channel.py with a FrameSink):
frames written as they are pushed, in order, and the transport's buffer
held to the same bounds as the outbox (frames, bytes, age)."""

import asyncio
import json

from dashboard.channel import Backlog, ClientChannel
from dashboard.protocol import CloseCode
from tests.support.hubs import Clock, bulk_hub, kinds, take_bulk
from tests.support.sinks import HEADER, FakeTransport


def test_attach_writes_what_waits_first_then_every_push_at_once():
    clock = Clock()
    channel = ClientChannel(8, clock=clock)
    channel.push("hello")
    clock.now += 1
    channel.push("snapshot")
    sink = FakeTransport()
    clock.now += 1
    channel.attach(sink)
    assert sink.taken() == ["hello", "snapshot"]
    assert [queued for queued, _ in sink.stamps] == [100.0, 101.0]  # their own queue times
    assert channel.push("batch") and sink.taken() == ["batch"]
    assert channel.queued == 0 and channel.backlog(clock.now) == Backlog(0, 0, 0.0)


async def test_the_writer_waits_only_for_the_close_then_for_the_transport():
    channel = ClientChannel(8)
    sink = FakeTransport()
    channel.attach(sink)
    waiting = asyncio.create_task(channel.next_frame())
    channel.push("batch")  # written by the push itself, not handed to the writer
    await asyncio.sleep(0)
    assert not waiting.done() and sink.taken() == ["batch"]
    channel.close(CloseCode.GOING_AWAY, "bye")
    async with asyncio.timeout(5):
        assert await waiting is None


def test_frames_the_transport_holds_are_the_backlog_until_sent():
    clock = Clock()
    channel = ClientChannel(8, clock=clock)
    sink = FakeTransport()
    channel.attach(sink)
    sink.stuck = True
    channel.push("a" * 10)
    clock.now += 0.5
    channel.push("b" * 20)
    clock.now += 0.25
    held = 10 + 20 + 2 * HEADER
    assert channel.backlog(clock.now) == Backlog(frames=2, size=held, age=0.75)
    sink.send(10 + HEADER)  # the first frame is out: the second is the oldest
    assert channel.backlog(clock.now) == Backlog(frames=1, size=20 + HEADER, age=0.25)
    sink.send(5)  # part of the second: still held
    assert channel.backlog(clock.now).frames == 1
    sink.send(100)
    assert channel.backlog(clock.now) == Backlog(0, 0, 0.0) and channel.queued == 0


def test_a_transport_holding_the_outbox_bound_refuses_the_next_frame():
    channel = ClientChannel(2)
    sink = FakeTransport()
    channel.attach(sink)
    sink.stuck = True
    assert channel.push("a") and channel.push("b")
    assert channel.queued == 2
    assert not channel.push("c")  # the hub closes it (1008), as with a full outbox
    assert sink.taken() == ["a", "b"]
    sink.send(1 + HEADER)
    assert channel.push("c")


def test_a_connection_taking_no_more_data_drops_frames_without_counting_them():
    channel = ClientChannel(2)
    sink = FakeTransport()
    channel.attach(sink)
    sink.open = False  # a close frame went either way
    assert channel.push("a") and channel.push("b") and channel.push("c")
    assert sink.taken() == [] and channel.queued == 0


def test_a_stuck_viewer_is_conflated_then_gets_the_latest_once_sent():
    """The hub's rule, unchanged: frames held by the transport put a viewer
    behind like frames in its outbox did; once they are sent it gets one
    conflated batch with the latest point."""
    clock = Clock()
    hub = bulk_hub(clock, client_max_frames=8, client_conflate_frames=2)
    stuck, reader = hub.connect(), hub.connect()
    stuck_sink, reader_sink = FakeTransport(), FakeTransport()
    stuck.attach(stuck_sink)
    reader.attach(reader_sink)
    stuck_sink.stuck = True
    seqs = iter(range(1, 1000, 10))
    for _ in range(5):
        last = take_bulk(hub, "A", next(seqs), 10)
        hub.flush()
    assert kinds(reader_sink.taken()) == ["hello", "snapshot"] + ["batch"] * 5
    # hello and snapshot were written before it stuck; two batches reach the bound.
    assert kinds(stuck_sink.taken()) == ["hello", "snapshot", "batch", "batch"]
    assert stuck.lagging_since is not None
    stuck_sink.send(stuck_sink.buffer)
    hub.flush()
    (conflated,) = [json.loads(frame) for frame in stuck_sink.taken()]
    assert conflated["conflated"] is True
    assert [(p["feed"], p["seq"]) for p in conflated["points"]] == [("A", last)]


def test_a_viewer_stuck_past_the_slow_client_timeout_is_closed_1008():
    clock = Clock()
    hub = bulk_hub(clock, client_conflate_frames=1, slow_client_timeout=3.0)
    stuck = hub.connect()
    sink = FakeTransport()
    stuck.attach(sink)
    sink.stuck = True
    take_bulk(hub, "A", 1, 10)
    hub.flush()
    clock.now += 1
    take_bulk(hub, "A", 11, 10)
    hub.flush()
    assert stuck.lagging_since == clock.now and stuck.close_code is None
    clock.now += 3.01
    hub.flush()
    assert stuck.close_code == CloseCode.POLICY
