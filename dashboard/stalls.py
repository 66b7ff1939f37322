"""When a feed counts as stalled: no progress for longer than its threshold.

Pure timing, with the clock passed in; dashboard/producers.py's watchdog
samples each running feed's progress and shows the flips.
"""

from __future__ import annotations

from feeds.base import FeedInfo

#: A feed declaring a rate but no stall_after is stalled after this many of
#: its periods without a point, and never sooner than STALL_MIN_SECONDS (a
#: busy machine can delay a fast feed by a second without anything being wrong).
STALL_PERIODS = 10
STALL_MIN_SECONDS = 5.0


def stall_after_of(info: FeedInfo) -> float | None:
    """Seconds of silence after which *info*'s feed counts as stalled, or None."""
    if info.stall_after is not None:
        return info.stall_after
    if info.rate is not None:
        return max(STALL_PERIODS / info.rate, STALL_MIN_SECONDS)
    return None


class StallWatch:
    """Tells when a feed has made no progress for ``stall_after`` seconds, and
    when it makes progress again.

    Pure timing: the caller passes the clock and the feed's progress counter
    (points published plus dropped: a feed over its max_rate is not stalled),
    so the per-point path stays untouched and tests need no waiting.
    """

    def __init__(self, stall_after: float, now: float, progress: int = 0) -> None:
        self.stall_after = stall_after
        self.stalled = False
        self._progress = progress
        self._since = now  # when progress was last seen to change

    def observe(self, progress: int, now: float) -> bool:
        """Record the counter's value at *now*; True when ``stalled`` flipped."""
        if progress != self._progress:
            self._progress = progress
            self._since = now
            if self.stalled:
                self.stalled = False
                return True
            return False
        if not self.stalled and now - self._since >= self.stall_after:
            self.stalled = True
            return True
        return False
