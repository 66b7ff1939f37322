"""The viewers held back (dashboard/lagging.py's Lagging, worst_lag and
close_slow) driven directly with channels and a clock: no hub."""

import logging

import pytest

from dashboard.channel import ClientChannel
from dashboard.lagging import SLOW, Lagging, close_slow, worst_lag
from dashboard.protocol import CloseCode, Point
from tests.support.hubs import Clock


def point(feed: str, seq: int, ts: int) -> Point:
    return Point(feed, seq, ts, {"v": float(seq)})


def channel(clock: Clock, address: str = "") -> ClientChannel:
    return ClientChannel(10, address, max_lag=2.0, clock=clock)


def test_hold_starts_lagging_once_and_keeps_only_the_latest_point_per_feed():
    clock = Clock()
    lagging = Lagging(timeout=30.0)
    client = channel(clock)
    assert not lagging
    assert lagging.hold(client, [point("A", 1, 10), point("B", 1, 11)], clock.now) is True
    clock.now += 1
    assert lagging.hold(client, [point("A", 2, 20), point("A", 3, 30)], clock.now) is False
    assert lagging and client.lagging_since == 100.0  # since it first fell behind
    assert {f: p.seq for f, p in client.conflated.items()} == {"A": 3, "B": 1}


def test_a_caught_up_viewer_gets_its_latest_points_in_time_order_and_leaves():
    clock = Clock()
    lagging = Lagging(timeout=30.0)
    client = channel(clock)
    lagging.hold(client, [point("B", 5, 50), point("A", 9, 40)], clock.now)
    caught_up, hopeless = lagging.due(clock.now)  # nothing waits for it: caught up
    assert hopeless == []
    [(who, latest)] = caught_up
    assert who is client and [(p.feed, p.ts) for p in latest] == [("A", 40), ("B", 50)]
    assert not lagging and client.lagging_since is None and client.conflated == {}


def test_a_viewer_behind_past_the_timeout_is_hopeless_with_how_long():
    clock = Clock()
    lagging = Lagging(timeout=5.0)
    client = channel(clock)
    client.push("frame")  # unwritten: its age keeps the viewer behind
    lagging.hold(client, [point("A", 1, 10)], clock.now)
    clock.now += 5.0
    assert lagging.due(clock.now) == ([], [])  # not past the timeout yet
    clock.now += 0.5
    assert lagging.due(clock.now) == ([], [(client, 5.5)])
    assert not lagging


def test_a_closing_viewer_is_forgotten_without_an_answer():
    clock = Clock()
    lagging = Lagging(timeout=5.0)
    client = channel(clock)
    lagging.hold(client, [point("A", 1, 10)], clock.now)
    client.close(CloseCode.GOING_AWAY, "bye")
    assert lagging.due(clock.now + 60) == ([], [])
    assert not lagging


def test_forget_lets_a_viewer_go_and_drops_what_was_held():
    clock = Clock()
    lagging = Lagging(timeout=5.0)
    client = channel(clock)
    lagging.hold(client, [point("A", 1, 10)], clock.now)
    lagging.forget(client)
    assert not lagging and client.lagging_since is None and client.conflated == {}
    lagging.forget(client)  # twice is harmless


@pytest.mark.parametrize("timeout", [0.0, -1.0, float("nan")])
def test_a_timeout_that_means_nothing_is_refused(timeout):
    with pytest.raises(ValueError, match="slow client timeout must be > 0"):
        Lagging(timeout)


def test_worst_lag_is_the_stalest_open_viewer():
    clock = Clock()
    fresh, stale, closed = channel(clock), channel(clock), channel(clock)
    assert worst_lag([], clock.now) == 0.0
    stale.push("old")
    closed.push("older")
    clock.now += 3.0
    fresh.push("new")
    closed.close(CloseCode.GOING_AWAY, "bye")  # its frames stay: a closing viewer is left out
    assert worst_lag([fresh, stale, closed], clock.now) == 3.0
    assert worst_lag([fresh], clock.now) == 0.0


def test_close_slow_drops_the_frames_closes_1008_and_logs_why(caplog):
    clock = Clock()
    client = channel(clock, address="10.0.0.7")
    client.push("frame")
    with caplog.at_level(logging.WARNING, logger="dashboard.lagging"):
        close_slow(client, behind=7.5)
    assert (client.close_code, client.close_reason) == (CloseCode.POLICY, SLOW)
    assert client.queued == 0
    [record] = caplog.records
    line = record.getMessage()
    assert "slow_client_closed" in line and "10.0.0.7" in line and "1008" in line
    assert "7.5" in line
