"""History reduced to a chart's resolution: min/max per time bucket. Pure code.

A chart ``w`` pixels wide cannot show more than about two extremes per pixel,
so a long window (an hour at 10 Hz is 36,000 points per feed) is sent as at
most ``max_points`` points: the span of their timestamps is cut into
``max_points // 2`` equal buckets and, per bucket and per series, the point
with the lowest and the point with the highest value are kept. A spike is an
extreme of its bucket, so it always survives.

Every point sent is a real point of the feed (its ``seq``, ``ts`` and values),
carrying only the series it is an extreme of: a point that is the minimum of
one series and the maximum of another is sent once with both. A bucket holding
a break (a point flagged ``gap``) sends its first point flagged ``gap``, so
the line still breaks there, to within a bucket.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dashboard.history import FeedHistory
from dashboard.protocol import Point

#: Fewer would not hold one minimum and one maximum.
MIN_POINTS = 2
#: More than any screen has pixels, twice: a typo, not a chart.
MAX_POINTS = 100_000


@dataclass(frozen=True)
class HistoryQuery:
    """``GET /api/feeds/<feed>/history``'s arguments; None: not given."""

    since: int | None = None  # points with seq > since
    from_ts: int | None = None  # points with ts >= from_ts (epoch ms)
    max_points: int | None = None  # reduced to at most this many


def _integer(args: Mapping[str, str], name: str, low: int, high: int | None = None) -> int | None:
    text = args.get(name)
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if value < low or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"from {low} to {high}"
        raise ValueError(f"'{name}' must be an integer {bounds}, not {text!r}")
    return value


def parse_history_query(args: Mapping[str, str]) -> HistoryQuery:
    """The query's arguments; ValueError with a one-line message for a bad one."""
    return HistoryQuery(
        since=_integer(args, "since", 0),
        from_ts=_integer(args, "from_ts", 0),
        max_points=_integer(args, "max_points", MIN_POINTS, MAX_POINTS),
    )


def select_history(history: FeedHistory, query: HistoryQuery) -> tuple[list[Point], bool]:
    """The points *query* asks of *history* (before any reduction), and whether
    some it asked for are gone: ``since`` older than the oldest point kept."""
    if query.since is None:
        points, truncated = history.recent(), False
    else:
        truncated = len(history) > 0 and query.since < history.first_seq - 1
        points = history.since(query.since)
    if query.from_ts is not None:
        points = [p for p in points if p.ts >= query.from_ts]
    return points, truncated


#: What min and max are taken of (bool, a subclass of int, is not a number here).
NUMBER_TYPES = frozenset({int, float})


def _is_number(value: Any) -> bool:
    return type(value) in NUMBER_TYPES


def _extremes(bucket: Sequence[Point]) -> dict[int, dict[str, Any]]:
    """Per point index in *bucket*: the series it is kept for (their values).
    The hot loop of a reduction (36,000 points for an hour): plain lookups."""
    low: dict[str, tuple[float, int]] = {}
    high: dict[str, tuple[float, int]] = {}
    latest: dict[str, tuple[Any, int]] = {}  # a bar: no order to take extremes by
    for i, point in enumerate(bucket):
        for name, value in point.values.items():
            if type(value) not in NUMBER_TYPES:
                latest[name] = (value, i)
                continue
            lowest = low.get(name)
            if lowest is None or value < lowest[0]:
                low[name] = (value, i)
            highest = high.get(name)
            if highest is None or value > highest[0]:
                high[name] = (value, i)
    kept: dict[int, dict[str, Any]] = {}
    for chosen in (low, high, latest):
        for name, (value, i) in chosen.items():
            kept.setdefault(i, {})[name] = value
    return kept


def bucket_count(points: Sequence[Point], max_points: int) -> int:
    """Buckets such that their kept points number at most *max_points*: each
    keeps up to two points per numeric series and one per other series."""
    numeric: set[str] = set()
    other: set[str] = set()
    for point in points:
        for name, value in point.values.items():
            (numeric if _is_number(value) else other).add(name)
    per_bucket = max(1, 2 * len(numeric) + len(other - numeric))
    return max(1, max_points // per_bucket)


def reduce_points(points: Sequence[Point], max_points: int) -> list[dict[str, Any]]:
    """*points* (in seq order) as wire dicts, at most *max_points* of them
    (one bucket's worth if a feed has more than ``max_points / 2`` series)."""
    if len(points) <= max_points:
        return [p.to_dict() for p in points]
    buckets = bucket_count(points, max_points)
    first = min(p.ts for p in points)
    span = max(1, max(p.ts for p in points) - first + 1)
    reduced: list[dict[str, Any]] = []
    index = 0
    start = 0
    while start < len(points):
        # Never back: a clock stepping back stays in the bucket it reached,
        # so there are never more than `buckets` runs.
        index = max(index, (points[start].ts - first) * buckets // span)
        end = start + 1
        while end < len(points) and (points[end].ts - first) * buckets // span <= index:
            end += 1
        bucket = points[start:end]
        gap = any(p.gap for p in bucket)
        for i, values in sorted(_extremes(bucket).items()):
            p = bucket[i]
            point: dict[str, Any] = {"feed": p.feed, "seq": p.seq, "ts": p.ts, "values": values}
            if gap:
                point["gap"] = True
                gap = False  # only the bucket's first point breaks the line
            reduced.append(point)
        start = end
    return reduced
