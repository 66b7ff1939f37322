"""What a subscription covers and what a viewer needs to catch up
(dashboard/catchup.py), as pure functions of the histories: no hub."""

import pytest

from dashboard.catchup import catch_up, feeds_of, resolve
from dashboard.channel import ALL, Subscription
from dashboard.history import FeedHistory
from dashboard.protocol import Point, ProtocolError, Resume, Subscribe
from feeds.base import FeedInfo, Series

EPOCH = "e1"
FEEDS = {
    "A": FeedInfo("A", series=(Series("price"), Series("volume"))),
    "B": FeedInfo("B", series=(Series("price"),)),
    "C": FeedInfo("C", series=(Series("level"),)),
}


def histories(size: int = 100, **held: range) -> dict[str, FeedHistory]:
    """A history per feed of FEEDS, holding the seqs given per name."""
    out = {name: FeedHistory(size) for name in FEEDS}
    for name, seqs in held.items():
        out[name].extend(Point(name, s, 1000 + s, {"v": float(s)}) for s in seqs)
    return out


def seqs(points: list[Point]) -> list[tuple[str, int]]:
    return [(p.feed, p.seq) for p in points]


def test_all_covers_every_feed_in_registration_order():
    assert feeds_of(ALL, FEEDS) == ["A", "B", "C"]


def test_feeds_and_series_narrow_what_is_covered():
    assert feeds_of(Subscription(feeds=frozenset({"C", "A"})), FEEDS) == ["A", "C"]
    # A feed is covered when it has any of the series asked for.
    assert feeds_of(Subscription(series=frozenset({"price"})), FEEDS) == ["A", "B"]
    assert feeds_of(Subscription(series=frozenset({"volume", "level"})), FEEDS) == ["A", "C"]
    both = Subscription(feeds=frozenset({"B", "C"}), series=frozenset({"price"}))
    assert feeds_of(both, FEEDS) == ["B"]


def test_resolve_gives_the_subscription_and_its_feeds():
    subscription, covered = resolve(Subscribe(feeds=frozenset({"B"})), FEEDS)
    assert subscription == Subscription(feeds=frozenset({"B"}))
    assert covered == ["B"]
    assert resolve(Subscribe(), FEEDS) == (ALL, ["A", "B", "C"])


def test_resolve_refuses_unknown_feeds_naming_them():
    with pytest.raises(ProtocolError) as refused:
        resolve(Subscribe(feeds=frozenset({"A", "ZZ", "YY"})), FEEDS)
    assert refused.value.code == "unknown_feed"
    assert "'YY', 'ZZ'" in str(refused.value) and "'A'" not in str(refused.value)


def test_resolve_refuses_series_no_covered_feed_has():
    with pytest.raises(ProtocolError) as refused:
        resolve(Subscribe(feeds=frozenset({"C"}), series=frozenset({"price"})), FEEDS)
    assert refused.value.code == "unknown_series"
    assert "'price'" in str(refused.value)


def test_without_resume_everything_held_is_a_snapshot_and_nothing_resets():
    held = histories(A=range(1, 4), B=range(1, 3))
    result = catch_up(held, EPOCH, ["A", "B", "C"], None)
    assert result.replay is None and result.reset is False
    feeds, points = result.snapshot
    assert feeds == ["A", "B", "C"]
    assert seqs(points) == [("A", 1), ("A", 2), ("A", 3), ("B", 1), ("B", 2)]


def test_resume_in_the_same_epoch_replays_exactly_the_missed_points():
    held = histories(A=range(1, 11), B=range(1, 6))
    result = catch_up(held, EPOCH, ["A", "B"], Resume(EPOCH, {"A": 7, "B": 5}))
    assert result.replay == (["A", "B"], held["A"].since(7))
    assert seqs(result.replay[1]) == [("A", 8), ("A", 9), ("A", 10)]
    # The replay covers every feed: no snapshot to send.
    assert result.snapshot is None and result.reset is True


def test_resume_sends_a_snapshot_of_feeds_it_cannot_replay():
    """Feeds the viewer gave no seq for, or whose missed points are gone,
    come whole; the others are replayed."""
    held = histories(size=5, A=range(1, 21), B=range(1, 4), C=range(1, 3))
    result = catch_up(held, EPOCH, ["A", "B", "C"], Resume(EPOCH, {"A": 2, "B": 1}))
    replayed_feeds, replayed = result.replay
    assert replayed_feeds == ["B"] and seqs(replayed) == [("B", 2), ("B", 3)]
    snapshot_feeds, snapshot = result.snapshot
    assert snapshot_feeds == ["A", "C"]
    assert seqs(snapshot) == [("A", s) for s in range(16, 21)] + [("C", 1), ("C", 2)]
    assert result.reset is True


def test_resume_from_another_epoch_is_answered_with_an_empty_replay_and_a_reset_snapshot():
    held = histories(A=range(1, 4))
    result = catch_up(held, EPOCH, ["A"], Resume("old-epoch", {"A": 2}))
    assert result.replay == ([], [])  # understood, but nothing to replay
    assert result.snapshot[0] == ["A"] and seqs(result.snapshot[1]) == [("A", s) for s in (1, 2, 3)]
    assert result.reset is True


def test_resume_claiming_seqs_this_epoch_never_produced_gets_a_snapshot():
    held = histories(A=range(1, 4))
    result = catch_up(held, EPOCH, ["A"], Resume(EPOCH, {"A": 99}))
    assert result.replay == ([], [])
    assert result.snapshot[0] == ["A"]


def test_resume_that_is_up_to_date_replays_nothing_and_sends_no_snapshot():
    held = histories(A=range(1, 4))
    result = catch_up(held, EPOCH, ["A"], Resume(EPOCH, {"A": 3}))
    assert result.replay == (["A"], []) and result.snapshot is None
