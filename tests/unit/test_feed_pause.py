"""The buffer a feed's points wait in while the backplane is down (pure), and
its drain: in order, only once the backplane is up, never hammering it."""

from __future__ import annotations

import asyncio

import pytest

from dashboard.backplane import BackplaneDown
from dashboard.feed_pause import FeedPause, Held, PauseBuffer
from tests.support.waiting import wait_until


def test_the_buffer_drops_the_oldest_and_marks_the_hole():
    buffer = PauseBuffer(3)
    assert [buffer.add({"v": n}, n, False) for n in range(1, 6)] == [0, 0, 0, 1, 1]
    assert [(p.values["v"], p.gap) for p in buffer.points] == [(3, True), (4, False), (5, False)]


def test_a_point_put_back_goes_first_and_may_push_the_oldest_out():
    buffer = PauseBuffer(2)
    buffer.add({"v": 2}, 2, False)
    head = Held({"v": 1}, 1, False)
    assert buffer.put_back(head) == 0
    assert [p.values["v"] for p in buffer.points] == [1, 2]
    buffer.add({"v": 3}, 3, False)  # over: 1 goes, 2 is marked
    assert [(p.values["v"], p.gap) for p in buffer.points] == [(2, True), (3, False)]


def test_a_buffer_of_no_points_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        PauseBuffer(0)


class Backplane:
    """Up or down as the test says; counts every publish tried."""

    def __init__(self) -> None:
        self.up = False
        self.tries = 0
        self.published: list[tuple[int, int, bool]] = []

    async def publish(self, batch):
        self.tries += 1
        if not self.up:
            raise BackplaneDown("down", retry_after=0.05)
        self.published += [(held.values["v"], held.ts, held.gap) for held in batch]


def pause_for(backplane: Backplane, size: int = 100):
    events: dict[str, list] = {"published": [], "dropped": [], "resumed": []}
    pause = FeedPause(
        backplane.publish,
        lambda: backplane.up,
        lambda held: events["published"].append(held.values["v"]),
        events["dropped"].append,
        lambda: events["resumed"].append(True),
        size=size,
        poll=0.02,
    )
    return pause, events


async def test_held_points_go_out_in_order_once_the_backplane_is_up():
    backplane = Backplane()
    pause, events = pause_for(backplane)
    for n in range(1, 4):
        pause.hold({"v": n}, n, n == 1, retry_after=0.05)
    assert pause.active
    await wait_until(lambda: pause.held == 3)
    await pause_for_a_while()
    assert backplane.tries == 0  # down: it only looked at `up`, sent nothing
    backplane.up = True
    await wait_until(lambda: not pause.active, timeout=2, what="drained")
    assert backplane.published == [(1, 1, True), (2, 2, False), (3, 3, False)]
    assert events["resumed"] == [True] and events["dropped"] == []
    assert await pause.close() == 0


async def test_a_refusal_while_draining_keeps_the_point_first_in_line():
    backplane = Backplane()
    backplane.up = True
    refusals = 0

    async def flaky(batch):
        nonlocal refusals
        if refusals == 0:  # all or nothing: the whole batch is refused
            refusals += 1
            raise BackplaneDown("down again", retry_after=0.01)
        await backplane.publish(batch)

    pause = FeedPause(flaky, lambda: True, lambda h: None, lambda n: None, lambda: None, poll=0.01)
    for n in range(1, 4):
        pause.hold({"v": n}, n, False)
    await wait_until(lambda: not pause.active, timeout=2, what="drained")
    assert [v for v, _, _ in backplane.published] == [1, 2, 3] and refusals == 1


async def test_sent_points_go_out_in_batches_in_order_breaking_only_at_a_gap():
    """A remote backplane's outbox: what is queued goes in one publish, up to
    the next point that starts a new stretch; no pause is reported."""
    backplane = Backplane()
    backplane.up = True
    batches: list[list[int]] = []

    async def publish(batch):
        batches.append([held.values["v"] for held in batch])
        await backplane.publish(batch)

    resumed: list[bool] = []
    pause = FeedPause(publish, lambda: True, lambda h: None, lambda n: None,
                      lambda: resumed.append(True), poll=0.01)  # fmt: skip
    for n in range(1, 7):
        pause.send({"v": n}, n, n == 4)  # sent before the drain runs: one queue
    await wait_until(lambda: not pause.active, timeout=2, what="drained")
    assert batches == [[1, 2, 3], [4, 5, 6]]
    assert [gap for _, _, gap in backplane.published] == [False, False, False, True, False, False]
    assert resumed == [] and not pause.refused


async def test_overflow_while_paused_is_counted_and_what_is_held_at_the_end_is_lost():
    backplane = Backplane()
    pause, events = pause_for(backplane, size=2)
    for n in range(1, 6):
        pause.hold({"v": n}, n, False)
    assert events["dropped"] == [1, 1, 1]
    assert await pause.close() == 2  # the run ended while still down
    assert not pause.active and backplane.published == []


async def pause_for_a_while() -> None:
    """Several poll periods pass (the drain must stay quiet meanwhile)."""
    await asyncio.sleep(0.15)
