"""Per-feed ring buffer of recent points: snapshots, resume and history.

The buffer may hold far more than a viewer is sent on connecting: ``size``
points are kept for the history API (an hour, reduced per request), while a
snapshot or a resume never carries more than ``snapshot_size`` of them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from itertools import islice

from dashboard.protocol import Point


class FeedHistory:
    """The last ``size`` points of one feed, in ``seq`` order.

    Points arrive already sequenced (by the backplane); this class only holds
    them and answers "what came after seq N?".
    """

    def __init__(self, size: int, snapshot_size: int | None = None) -> None:
        if size < 1:
            raise ValueError(f"history size must be >= 1, not {size}")
        if snapshot_size is not None and snapshot_size < 1:
            raise ValueError(f"snapshot size must be >= 1, not {snapshot_size}")
        self.size = size
        self._points: deque[Point] = deque(maxlen=size)
        self.snapshot_size = min(size, snapshot_size or size)

    def extend(self, points: Iterable[Point]) -> None:
        self._points.extend(points)

    def __len__(self) -> int:
        return len(self._points)

    @property
    def last_seq(self) -> int:
        """The newest held seq, or 0 when nothing is held."""
        return self._points[-1].seq if self._points else 0

    @property
    def last(self) -> Point | None:
        """The newest held point, or None."""
        return self._points[-1] if self._points else None

    @property
    def first_seq(self) -> int:
        return self._points[0].seq if self._points else 0

    def recent(self) -> list[Point]:
        return list(self._points)

    def snapshot(self) -> list[Point]:
        """The newest ``snapshot_size`` points: what a new viewer is sent."""
        start = max(0, len(self._points) - self.snapshot_size)
        return list(islice(self._points, start, None))

    def from_ts(self, ts: int) -> list[Point]:
        """Held points with ``ts`` >= *ts*, in seq order."""
        return [p for p in self._points if p.ts >= ts]

    def can_resume(self, seq: int) -> bool:
        """True when every point after ``seq`` is still held (or none exists yet)."""
        if seq > self.last_seq:
            # The client claims points this epoch never produced.
            return False
        if not self._points:
            return True
        # A replay is bounded like a snapshot: further behind, start afresh.
        return seq >= max(self._points[0].seq - 1, self.last_seq - self.snapshot_size)

    def since(self, seq: int) -> list[Point]:
        """Held points with ``seq`` greater than *seq*, oldest first."""
        points = self._points
        if not points or seq >= points[-1].seq:
            return []
        # seqs are gapless within the buffer, so the position is arithmetic.
        start = max(0, seq - points[0].seq + 1)
        return list(islice(points, start, None))
