"""When the hub flushes (dashboard/flush_timing.py)."""

from __future__ import annotations

import pytest

from dashboard.flush_timing import flush_due


@pytest.mark.parametrize(
    ("first_waiting", "last_flush", "due"),
    [
        (10.0, float("-inf"), 10.01),  # first point ever: after the coalescing wait
        (10.0, 9.0, 10.01),  # idle a while: almost at once, not on a grid
        (10.0, 9.99, 10.04),  # just flushed: not before a whole interval has passed
        (10.0, 9.96, 10.01),  # both bounds apply; the later one wins
    ],
)
def test_flush_due_at_most_once_per_interval_and_soon_after_idle(first_waiting, last_flush, due):
    """A batch goes out a short wait after the first waiting point, never
    sooner than one flush interval after the previous batch."""
    assert flush_due(first_waiting, last_flush, 0.05, 0.01) == pytest.approx(due)


def test_flush_due_coalescing_never_exceeds_the_interval():
    """A coalescing wait longer than the interval is cut to the interval."""
    assert flush_due(5.0, float("-inf"), 0.02, 0.5) == pytest.approx(5.02)
