"""The one rule for points: feeds and ingest refuse the same values with the same words."""

from pathlib import Path

import pytest

from dashboard.ingest import IngestError, prepare
from dashboard.points import (
    MAX_FUTURE_MS,
    MAX_SAFE_INTEGER,
    MIN_TS_MS,
    PointError,
    check_ts,
    check_values,
    show,
    split_ts,
)
from feeds.base import FeedInfo, Series

NOW = 1_764_096_123_456
FEEDS = {"lab": FeedInfo("lab", (Series("temp"), Series("bar", kind="ohlc")))}
BAR = {"open": 10, "high": 12, "low": 9, "close": 11}

# (what a feed yields / a client pushes, the message both get)
REFUSED = [
    (
        {"ts": NOW // 1000, "temp": 1},
        f"ts {NOW // 1000} must be integer ms since the Unix epoch, from 2000-01-01 to one "
        "day from now (this looks like seconds: multiply by 1000)",
    ),
    (
        {"ts": NOW * 1000, "temp": 1},
        f"ts {NOW * 1000} must be integer ms since the Unix epoch, from 2000-01-01 to one "
        "day from now (this looks like microseconds: divide by 1000)",
    ),
    (
        {"ts": NOW + 0.5, "temp": 1},
        f"ts {NOW + 0.5!r} must be integer ms since the Unix epoch, from 2000-01-01 to one "
        "day from now (a float: round it to an integer)",
    ),
    (
        {"ts": "soon", "temp": 1},
        "ts 'soon' must be integer ms since the Unix epoch, from 2000-01-01 to one day from now",
    ),
    ({"temp": "hot"}, "series 'temp': 'hot' is not a finite number"),
    ({"temp": None}, "series 'temp': null is not a finite number"),
    ({"temp": True}, "series 'temp': true is not a finite number"),
    ({"temp": float("nan")}, "series 'temp': NaN is not a finite number"),
    ({"temp": float("-inf")}, "series 'temp': -Infinity is not a finite number"),
    ({"temp": [1]}, "series 'temp': [1] is not a finite number"),
    (
        {"temp": MAX_SAFE_INTEGER + 1},
        "series 'temp': 9007199254740992 is not a safe integer (at most 2**53-1 in magnitude)",
    ),
    ({"colour": 1}, "feed 'lab' has no series 'colour'; it has bar, temp"),
    (
        {"bar": 11.0},
        "series 'bar': 11.0 is not a bar (an object with exactly open, high, low, close)",
    ),
    ({"bar": {**BAR, "close": "11"}}, "series 'bar' close: '11' is not a finite number"),
    (
        {"bar": {**BAR, "high": 10.5}},
        "series 'bar': low <= open, close <= high does not hold: "
        "open 10, high 10.5, low 9, close 11",
    ),
]


def feed_message(yielded: dict) -> str:
    """What the producers' path (split_ts, then the hub's check) says of a yield."""
    with pytest.raises(PointError) as info:
        values, _ = split_ts(yielded, NOW)
        check_values("lab", values, FEEDS["lab"].series_kinds)
    return info.value.message


def ingest_message(yielded: dict) -> str:
    """What push ingest answers for the same point (its own ts field, its own prefix)."""
    values = {k: v for k, v in yielded.items() if k != "ts"}
    raw = {"values": values, **({"ts": yielded["ts"]} if "ts" in yielded else {})}
    with pytest.raises(IngestError) as info:
        prepare("lab", [{"values": {"temp": 1}}, raw], FEEDS, create=True, now_ms=NOW)
    assert info.value.index == 1
    assert info.value.message.startswith("point 1: ")
    return info.value.message.removeprefix("point 1: ")


@pytest.mark.parametrize(("yielded", "message"), REFUSED)
def test_feeds_and_ingest_refuse_a_value_with_the_same_message(yielded, message):
    """The same bad value gets the same one-line message on both paths, naming the
    series and showing the value as JSON would; no Python repr of a dict or point."""
    assert feed_message(yielded) == message
    assert ingest_message(yielded) == message
    assert "{'" not in message and "feed 'lab' series" not in message


@pytest.mark.parametrize("ts", [MIN_TS_MS, NOW, NOW + MAX_FUTURE_MS])
def test_ts_bounds_are_inclusive(ts):
    """From 2000-01-01 to exactly one day after the clock passed in."""
    assert check_ts(ts, NOW) == ts
    assert split_ts({"temp": 1, "ts": ts}, NOW) == ({"temp": 1}, ts)


@pytest.mark.parametrize("ts", [MIN_TS_MS - 1, NOW + MAX_FUTURE_MS + 1, -1, 0, True, 2**70])
def test_ts_outside_the_rule_is_refused(ts):
    """Outside the bounds, or not an int, is bad_ts; the clock decides "now"."""
    with pytest.raises(PointError) as info:
        check_ts(ts, NOW)
    assert info.value.code == "bad_ts"
    assert check_ts(NOW + MAX_FUTURE_MS + 1, NOW + 1) == NOW + MAX_FUTURE_MS + 1


def test_a_point_without_ts_is_left_to_be_stamped():
    """No ts: values as they are, ts None (the producer stamps it)."""
    values = {"temp": 1}
    assert split_ts(values, NOW) == (values, None)


def test_a_yield_that_is_not_a_mapping_of_values_is_refused():
    """Empty, or not a mapping at all: one line saying what a point is."""
    cases = [({}, "{}"), (42, "42"), ([1, 2], "[1,2]"), (object(), "a value of type object")]
    for bad, shown in cases:
        with pytest.raises(PointError) as info:
            check_values("lab", bad, FEEDS["lab"].series_kinds)
        assert info.value.code == "bad_point"
        assert info.value.message == (
            f"a point is a non-empty mapping of series name to value, not {shown}"
        )


def test_show_is_short_and_never_fails():
    """Huge strings and integers are cut or summarised; odd objects are named."""
    assert len(show("x" * 10_000)) == 64
    assert show(10**5000) == "an integer of 5001 digits"
    assert show({1, 2}) == "a value of type set"
    assert show({"a": float("nan")}) == '{"a":null}'
    assert show(2.5) == "2.5" and show(-3) == "-3"


def test_docs_show_the_messages_the_code_gives():
    """docs/protocol.md's table of refusals quotes the code's own messages."""
    docs = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()
    kinds = {"temp": "line", "n": "line", "bar": "ohlc"}
    cases = [
        ({"temp": "hot"}, kinds),
        ({"n": MAX_SAFE_INTEGER + 1}, kinds),
        ({"bar": 11.0}, kinds),
        ({"bar": {**BAR, "open": 10, "low": 9, "high": 10.5}}, kinds),
        ({"colour": 1}, {"temp": "line", "humidity": "line"}),
    ]
    for values, declared in cases:
        with pytest.raises(PointError) as info:
            check_values("lab", values, declared)
        assert f"`{info.value.message}`" in docs
    with pytest.raises(PointError) as info:
        check_ts(1_764_096_123, NOW)
    assert f"`{info.value.message}`" in docs
