"""History reduced to a chart's resolution (dashboard/reduce.py)."""

import math

import pytest

from dashboard.history import FeedHistory
from dashboard.protocol import Point
from dashboard.reduce import HistoryQuery, parse_history_query, reduce_points, select_history


def hour_of_sine(spike_at: int | None = None, count: bool = False) -> list[Point]:
    """An hour at 10 Hz of a sine in [-1, 1], with one spike of 50 if asked
    (and a counter series ``n`` if *count*)."""
    points = []
    for seq in range(1, 36_001):
        value = math.sin(seq / 500)
        if seq == spike_at:
            value = 50.0
        values = {"v": value, "n": seq} if count else {"v": value}
        points.append(Point("S", seq, 1_000_000 + seq * 100, values))
    return points


def test_an_hour_becomes_at_most_max_points_and_spans_the_hour():
    """36,000 points asked as 800 come back as <= 800, first to last minute covered."""
    points = hour_of_sine()
    reduced = reduce_points(points, 800)
    assert 700 <= len(reduced) <= 800
    assert reduced[0]["ts"] == points[0].ts
    assert reduced[-1]["ts"] >= points[-1].ts - 36_000_000 // 100
    seqs = [p["seq"] for p in reduced]
    assert seqs == sorted(set(seqs))  # real points, in order, none twice


def test_a_spike_and_a_dip_survive_reduction():
    """A one-point spike (and the true min and max of every bucket) are kept."""
    points = hour_of_sine(spike_at=12_345)
    points[20_000] = Point("S", 20_001, points[20_000].ts, {"v": -40.0})
    reduced = reduce_points(points, 400)
    values = [p["values"]["v"] for p in reduced if "v" in p["values"]]
    assert max(values) == 50.0 and min(values) == -40.0
    spike = next(p for p in reduced if p["values"].get("v") == 50.0)
    assert (spike["seq"], spike["ts"]) == (12_345, points[12_344].ts)


def test_every_series_keeps_its_own_extremes_within_the_bound():
    """Two series: each keeps its min and max per bucket, total still <= max_points."""
    points = hour_of_sine(count=True)
    reduced = reduce_points(points, 1000)
    assert len(reduced) <= 1000
    counts = [p["values"]["n"] for p in reduced if "n" in p["values"]]
    assert min(counts) == 1 and max(counts) == 36_000


def test_few_points_come_back_whole():
    points = hour_of_sine()[:50]
    assert reduce_points(points, 100) == [p.to_dict() for p in points]


def test_a_break_survives_reduction():
    """A point flagged gap makes the first point of its bucket a break."""
    points = hour_of_sine()
    points[18_000].gap = True
    reduced = reduce_points(points, 200)
    breaks = [p for p in reduced if p.get("gap")]
    assert len(breaks) == 1
    assert abs(breaks[0]["ts"] - points[18_000].ts) <= 36_000 * 100 // 100


def test_a_clock_stepping_back_does_not_unbound_the_size():
    points = [Point("S", i + 1, (i % 2) * 1_000_000 + i, {"v": float(i)}) for i in range(10_000)]
    assert len(reduce_points(points, 100)) <= 100


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"max_points": "abc"}, "'max_points' must be an integer from 2 to 100000, not 'abc'"),
        ({"max_points": "1"}, "'max_points' must be an integer from 2 to 100000, not '1'"),
        ({"max_points": "1e9"}, "'max_points' must be an integer from 2 to 100000, not '1e9'"),
        ({"max_points": "100001"}, "not '100001'"),
        ({"from_ts": "-5"}, "'from_ts' must be an integer >= 0, not '-5'"),
        ({"since": "x"}, "'since' must be an integer >= 0, not 'x'"),
    ],
)
def test_bad_arguments_get_one_line_errors(args, message):
    with pytest.raises(ValueError) as error:
        parse_history_query(args)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_good_arguments_parse():
    query = parse_history_query({"max_points": "2", "from_ts": "0", "since": "7"})
    assert (query.max_points, query.from_ts, query.since) == (2, 0, 7)


def test_snapshot_is_bounded_separately_from_the_history():
    """An hour held; a new viewer gets the last snapshot_size; resume is bounded alike."""
    history = FeedHistory(36_000, snapshot_size=3000)
    history.extend(hour_of_sine())
    assert len(history.recent()) == 36_000
    snapshot = history.snapshot()
    assert len(snapshot) == 3000 and snapshot[-1].seq == 36_000 and snapshot[0].seq == 33_001
    assert history.can_resume(33_000) and not history.can_resume(32_999)
    assert [p.seq for p in history.from_ts(1_000_000 + 35_990 * 100)] == list(range(35_990, 36_001))


def held(first: int, last: int) -> FeedHistory:
    """A history holding seqs *first*..*last* (ts = seq * 100)."""
    history = FeedHistory(size=last - first + 1)
    history.extend(Point("S", seq, seq * 100, {"v": seq}) for seq in range(first, last + 1))
    return history


def test_select_history_without_since_is_everything_held():
    points, truncated = select_history(held(11, 20), HistoryQuery())
    assert [p.seq for p in points] == list(range(11, 21)) and not truncated


def test_select_history_since_a_held_seq_is_whole():
    points, truncated = select_history(held(11, 20), HistoryQuery(since=10))
    assert [p.seq for p in points] == list(range(11, 21)) and not truncated


def test_select_history_since_before_the_oldest_held_is_truncated():
    points, truncated = select_history(held(11, 20), HistoryQuery(since=9))
    assert [p.seq for p in points] == list(range(11, 21)) and truncated


def test_select_history_of_an_empty_history_is_never_truncated():
    assert select_history(FeedHistory(size=5), HistoryQuery(since=3)) == ([], False)


def test_select_history_from_ts_keeps_points_at_or_after_it():
    points, _ = select_history(held(11, 20), HistoryQuery(since=12, from_ts=1500))
    assert [p.seq for p in points] == list(range(15, 21))
