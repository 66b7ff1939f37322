"""Frames written but unread in socket buffers count as a viewer's lag: the
delivery probe's bookkeeping, and the hub driven with a clock of the test's
(dashboard/delivery.py, channel.py)."""

import asyncio
import json

import pytest

from dashboard.channel import Backlog, ClientChannel
from dashboard.delivery import MAX_IN_FLIGHT, DeliveryProbe
from tests.support.hubs import Clock, bulk_hub, kinds, take_bulk


def test_probes_in_flight_answered_in_order_only_by_their_own_pongs():
    """An answer to a probe answers the earlier ones too (the peer read them
    first); the age is the oldest unanswered one's."""
    probe = DeliveryProbe()
    assert probe.age(50.0) == 0.0 and probe.unanswered_since is None
    first, second, third = probe.start(10.0), probe.start(11.0), probe.start(12.0)
    assert None not in (first, second, third) and len({first, second, third}) == 3
    assert probe.age(12.5) == 2.5
    assert not probe.answer(b"")  # a pong to an empty (keep-alive) ping
    assert not probe.answer(b"something else")
    assert probe.answer(first) and probe.unanswered_since == 11.0
    assert probe.answer(third) and probe.unanswered_since is None  # the second with it
    assert not probe.answer(second)  # answered already


def test_probes_in_flight_are_capped():
    probe = DeliveryProbe()
    sent = [probe.start(float(i)) for i in range(MAX_IN_FLIGHT)]
    assert None not in sent
    assert probe.start(100.0) is None and probe.unanswered_since == 0.0
    assert probe.payload(100.0) == sent[-1]  # a keep-alive ping repeats the latest
    assert probe.answer(sent[-1]) and probe.unanswered_since is None


def test_probes_after_frames_are_spaced_periodic_ones_are_not():
    """A probe after every frame would double the writes of a viewer that
    reads well; one per *spacing* is enough to measure seconds of lag."""
    probe = DeliveryProbe(spacing=0.5)
    first = probe.start(10.0, after_frame=True)
    assert first is not None and probe.answer(first)
    assert probe.start(10.4, after_frame=True) is None  # answered, but too soon
    assert probe.unanswered_since is None
    assert probe.start(10.5, after_frame=True) is not None
    assert probe.answer(probe.payload(10.6))
    assert probe.payload(10.7) and probe.unanswered_since == 10.7  # periodic: at once


async def test_probe_after_a_frame_counts_from_when_the_frame_was_queued():
    """The frame's data was already old when it was written: the probe sent
    after it is as old as the frame, as the outbox counted it, not as the ping."""
    clock = Clock()
    channel = ClientChannel(10, max_lag=2.0, clock=clock)
    channel.delivery = probe = DeliveryProbe()
    channel.push("a")
    clock.now += 1.5  # queued, not yet written
    assert await channel.next_frame() == "a"
    assert probe.start(clock.now, after_frame=True) is not None  # written, then the ping
    waiting = asyncio.ensure_future(channel.next_frame())
    await asyncio.sleep(0)
    clock.now += 0.5
    assert channel.backlog(clock.now) == Backlog(frames=0, size=0, age=2.0)
    assert channel.behind(clock.now)
    channel.close(1000, "")
    assert await waiting is None
    # A periodic ping follows no frame: it counts from when it is sent.
    assert probe.answer(probe.payload(clock.now))
    assert probe.payload(clock.now + 1) and probe.unanswered_since == clock.now + 1


def test_viewer_reading_slowly_from_socket_buffers_is_behind_and_shown():
    """The outbox is empty (every frame written to the kernel) but the viewer
    has not read up to the ping sent 2 s ago: it is behind, the gauge shows
    the probe's age, and it gets no batches until it has answered; then one
    conflated batch with the latest."""
    clock = Clock()
    hub = bulk_hub(clock, max_viewer_lag=2.0)

    def gauge() -> float:
        return hub.metrics.registry.get_sample_value("livefeed_viewer_lag_seconds")

    slow, reader = hub.connect(), hub.connect()
    slow.delivery, reader.delivery = DeliveryProbe(), DeliveryProbe()
    slow.take_all()
    reader.take_all()
    sent_at = clock.now
    ping = slow.delivery.start(sent_at)  # after the last frame written
    assert ping is not None
    clock.now += 1.9
    take_bulk(hub, "A", 1, 10)
    hub.flush()
    assert kinds(slow.take_all()) == ["batch"]  # 1.9 s unread: not behind yet
    assert gauge() == pytest.approx(1.9)
    clock.now += 0.1
    last = take_bulk(hub, "A", 11, 10)
    hub.flush()
    assert slow.take_all() == [], "a batch was written behind 2 s of unread data"
    assert slow.lagging_since == clock.now and slow.backlog(clock.now).frames == 0
    assert kinds(reader.take_all()) == ["batch", "batch"]
    clock.now += 1.0
    assert gauge() == pytest.approx(3.0)  # the probe's age, not the empty outbox's 0
    hub.flush()
    assert slow.take_all() == [], "caught up with its probe unanswered"
    assert slow.delivery.answer(ping)  # it has read up to the ping
    hub.flush()
    (conflated,) = [json.loads(frame) for frame in slow.take_all()]
    assert conflated["conflated"] is True
    assert [(p["feed"], p["seq"]) for p in conflated["points"]] == [("A", last)]
    assert gauge() == 0.0


def test_probe_unanswered_past_slow_client_timeout_closes_1008():
    """A viewer that never reads what the kernel holds for it is closed by
    the slow-viewer rule, though its outbox is empty."""
    clock = Clock()
    hub = bulk_hub(clock, max_viewer_lag=1.0, slow_client_timeout=3.0)
    stuck = hub.connect()
    stuck.delivery = DeliveryProbe()
    stuck.take_all()
    stuck.delivery.start(clock.now)
    clock.now += 1.0
    take_bulk(hub, "A", 1, 10)
    hub.flush()
    assert stuck.lagging_since == clock.now and stuck.close_code is None
    clock.now += 3.01
    hub.flush()
    assert stuck.close_code == 1008


def test_held_viewer_that_answered_an_old_probe_waits_for_the_later_ones():
    """Two probes in flight: the viewer has read up to the first, not up to
    the second (frames written after the first are still unread). It stays
    held, not sent a conflated batch behind them, until it answers both."""
    clock = Clock()
    hub = bulk_hub(clock, max_viewer_lag=2.0)
    slow = hub.connect()
    slow.delivery = DeliveryProbe()
    slow.take_all()
    first = slow.delivery.start(clock.now)
    clock.now += 1.5
    second = slow.delivery.start(clock.now)
    assert first is not None and second is not None
    clock.now += 0.5  # the first probe's data is 2 s old
    take_bulk(hub, "A", 1, 10)
    hub.flush()
    assert slow.take_all() == [] and slow.lagging_since == clock.now
    clock.now += 1.0
    assert slow.delivery.answer(first)
    hub.flush()
    assert slow.take_all() == [], "caught up with frames unread for 1.5 s"
    assert slow.delivery.answer(second)
    hub.flush()
    assert kinds(slow.take_all()) == ["conflated"]
