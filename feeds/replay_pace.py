"""The pace of a replay: when each row is due, and where each loop pass starts.

Pure decisions with the clock passed in: the feed asks, then sleeps.
"""

from __future__ import annotations

import random
import statistics

from feeds.replay_times import iso_utc

STALL = 1.0  # seconds late past which the schedule moves on instead of bursting
DEFAULT_GAP_MS = 1000.0  # file time between passes when the file gives no interval
#: Intervals kept (a uniform random sample) to find the median for the loop gap:
#: exact for files of up to this many rows, a close estimate beyond.
MEDIAN_SAMPLE = 10_000
#: The dashboard plots a point's own time from 2000-01-01T00:00Z ...
EARLIEST_MS = 946_684_800_000
#: ... to one day after now.
AHEAD_MS = 86_400_000


class Schedule:
    """File time -> loop-clock time: ``start`` plus file time over ``speed``,
    on an absolute schedule so long files do not drift; after a stall of over
    STALL seconds the schedule moves on rather than bursting to catch up."""

    def __init__(self, start: float, speed: float) -> None:
        self.start = start  # the loop-clock time of file time 0 (moves after a stall)
        self.speed = speed

    def delay(self, file_ms: float, now: float) -> float:
        """Seconds to wait from *now* until the row at *file_ms* (since the
        replay's first row, loop shifts included) is due."""
        delay = self.start + file_ms / 1000 / self.speed - now
        if delay < -STALL:
            self.start -= delay
            return 0.0
        return max(delay, 0.0)


class Intervals:
    """The median time between successive distinct row times, from a uniform
    random sample of at most MEDIAN_SAMPLE of them (fixed seed)."""

    def __init__(self) -> None:
        self.sample: list[float] = []
        self.seen = 0
        self.rng = random.Random(0)
        self.previous: float | None = None

    def add(self, ts: float) -> None:
        previous, self.previous = self.previous, ts
        if previous is None or ts <= previous:
            return  # rows at one time (several keys) are not an interval
        interval = ts - previous
        self.seen += 1
        if len(self.sample) < MEDIAN_SAMPLE:
            self.sample.append(interval)
        else:
            slot = self.rng.randrange(self.seen)
            if slot < MEDIAN_SAMPLE:
                self.sample[slot] = interval

    def gap(self) -> float:
        """The time to leave between the last row and the next pass's first."""
        return statistics.median(self.sample) if self.sample else DEFAULT_GAP_MS


def next_shift(shift: float, first_ms: float, last_ms: float, gap_ms: float) -> float:
    """The file-time shift of the pass after one shifted by *shift*: the span
    of the file plus one gap later, so time never goes backwards."""
    return shift + (last_ms - first_ms) + gap_ms


def file_clock_problem(first_ms: float, last_ms: float, now_ms: float) -> str | None:
    """Why points stamped from *first_ms* to *last_ms* cannot be plotted (None: they can)."""
    if first_ms < EARLIEST_MS:
        return (
            f"clock=file: the file starts at {iso_utc(first_ms)}, before 2000-01-01, "
            "the earliest time the dashboard plots; use clock=now"
        )
    if last_ms > now_ms + AHEAD_MS:
        return (
            f"clock=file: points would be stamped up to {iso_utc(last_ms)}, over a day "
            "ahead of now, which the dashboard refuses; use clock=now"
        )
    return None
