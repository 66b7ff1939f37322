"""When the hub flushes: a pure decision, the clock passed in.

At most once per ``flush_interval``, and ``coalesce`` after the first point
that is waiting. A fixed grid would hold a point produced just after a flush
for a whole interval; producers tick in bursts (every feed of a ticker wakes
at once), so a short wait collects the burst into one frame and an idle hub
answers a new point almost at once.
"""

from __future__ import annotations


def flush_due(first_waiting: float, last_flush: float, interval: float, coalesce: float) -> float:
    """When to flush points that started waiting at *first_waiting* (loop
    clock), the previous flush having been at *last_flush*."""
    return max(first_waiting + min(coalesce, interval), last_flush + interval)
