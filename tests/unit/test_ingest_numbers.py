"""prepare_numbers: line protocol's points checked by column, as prepare checks them.

Hypothesis draws points (good and bad timestamps, values, series names) and
feeds (new, existing with a bar series, at the feed cap) and checks that
prepare_numbers answers what prepare answers: the same Batch or the same error.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard import ingest
from dashboard.ingest import MAX_SERIES, IngestError, prepare, prepare_numbers
from dashboard.points import MAX_FUTURE_MS, MIN_TS_MS
from feeds.base import FeedInfo, Series

NOW = 1_764_000_000_000  # ms
EXISTING = FeedInfo("f", series=(Series("a"), Series("b"), Series("bar", kind="ohlc")))

ALL_NAMES = ["a", "b", "c.d", "bar", "_x", "x" * 65, "a\n"]
EDGE_VALUES = [float("inf"), float("nan"), 1e300, -1e16, 2**53, -(2**53), 2**53 - 1, -0.0, 1]
EDGE_STAMPS = [MIN_TS_MS - 1, MIN_TS_MS, NOW, NOW + MAX_FUTURE_MS, NOW + MAX_FUTURE_MS + 1]
# Mostly good points, so that one bad thing is met among good ones.
NAMES = st.one_of(st.sampled_from(["a", "b"]), st.sampled_from(ALL_NAMES))
VALUES = st.one_of(st.integers(-1000, 1000), st.floats(), st.sampled_from(EDGE_VALUES))
STAMPS = st.one_of(st.integers(MIN_TS_MS, NOW), st.sampled_from(EDGE_STAMPS))
POINTS = st.lists(
    st.tuples(st.dictionaries(NAMES, VALUES, min_size=1, max_size=3), STAMPS),
    min_size=1,
    max_size=5,
)
FEEDS = st.sampled_from([{}, {"f": EXISTING}, {"g": EXISTING}])


def outcome(check, points, feeds, create, max_feeds):
    raw = [{"ts": ts, "values": dict(values)} for values, ts in points]
    sent = raw if check is prepare else [(dict(values), ts) for values, ts in points]
    try:
        return check("f", sent, feeds, create=create, now_ms=NOW, max_feeds=max_feeds)
    except IngestError as error:
        return (error.status, error.code, error.message, error.index)


@settings(max_examples=200, deadline=None)
@given(POINTS, FEEDS, st.booleans(), st.sampled_from([None, 1]))
def test_it_answers_what_prepare_answers(points, feeds, create, max_feeds):
    expected = outcome(prepare, points, feeds, create, max_feeds)
    # nan is never a point's value: both refuse it, with the same message.
    assert repr(outcome(prepare_numbers, points, feeds, create, max_feeds)) == repr(expected)


def test_each_edge_after_a_good_point_is_answered_as_prepare_answers():
    for feeds in ({}, {"f": EXISTING}):
        for name in ALL_NAMES:
            for value in EDGE_VALUES:
                for ts in EDGE_STAMPS:
                    points = [({"a": 1.0}, NOW), ({"b": 2, name: value}, ts)]
                    expected = outcome(prepare, points, feeds, True, None)
                    got = outcome(prepare_numbers, points, feeds, True, None)
                    assert repr(got) == repr(expected), points


def test_too_many_series_for_a_new_feed_is_prepares_error():
    points = [({f"s{i}": 1.0}, NOW) for i in range(MAX_SERIES + 1)]
    error = outcome(prepare_numbers, points, {}, True, None)
    assert error == outcome(prepare, points, {}, True, None)
    assert error[1:2] == ("too_many_series",) and error[3] == MAX_SERIES


def test_good_points_are_checked_by_column_without_prepare(monkeypatch):
    """The common case does not pay for prepare's point-by-point pass."""

    def refuse(*args, **kwargs):
        raise AssertionError("prepare called")

    monkeypatch.setattr(ingest, "prepare", refuse)
    points = [({"a": 1.5, "b": 2}, NOW), ({"b": 3, "c.d": -1e15}, NOW - 1)]
    made = prepare_numbers("f", points, {}, create=True, now_ms=NOW)
    assert made.points == points
    assert made.new_feed is not None
    assert [(s.name, s.kind) for s in made.new_feed.series] == [
        ("a", "line"),
        ("b", "line"),
        ("c.d", "line"),
    ]
    made = prepare_numbers("f", points[:1], {"f": EXISTING}, create=False, now_ms=NOW)
    assert (made.points, made.new_feed) == (points[:1], None)
    with pytest.raises(AssertionError, match="prepare called"):
        prepare_numbers("f", [({"a": float("inf")}, NOW)], {}, create=True, now_ms=NOW)
