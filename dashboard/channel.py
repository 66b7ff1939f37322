"""One viewer's outbox: a bounded queue of encoded frames with a close signal."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dashboard.protocol import Point


@dataclass(frozen=True)
class Subscription:
    """What a viewer receives; ``None`` means "all". Hashable: clients with the
    same subscription share one encoded batch."""

    feeds: frozenset[str] | None = None
    series: frozenset[str] | None = None


ALL = Subscription()


class ClientChannel:
    """Frames waiting to be written to one WebSocket.

    The hub pushes frames without ever awaiting a client; the connection's
    writer task pulls them. The outbox is bounded by ``max_frames``: a push
    that finds it full fails, and the hub then closes the client (it resumes
    from its last ``seq`` when it reconnects) rather than let one slow reader
    grow memory or hold others back. Before that, a client with
    ``conflate_at`` frames waiting is *lagging*: the hub stops queueing
    batches for it and keeps only the latest point per feed in ``conflated``
    (bounded by the number of feeds) until it has caught up.
    """

    def __init__(self, max_frames: int, address: str = "", conflate_at: int | None = None) -> None:
        if max_frames < 1:
            raise ValueError(f"max_frames must be >= 1, not {max_frames}")
        self.conflate_at = max_frames if conflate_at is None else conflate_at
        if not 1 <= self.conflate_at <= max_frames:
            raise ValueError(f"conflate_at must be 1-{max_frames}, not {conflate_at}")
        #: Since when (monotonic s) batches have been conflated; None: not lagging.
        self.lagging_since: float | None = None
        self.conflated: dict[str, Point] = {}
        self.address = address
        self.subscription: Subscription | None = None  # None: not subscribed yet
        self.status_version = 0  # the feeds' status it has seen; 0: none yet
        self.close_code: int | None = None
        self.close_reason = ""
        self._max_frames = max_frames
        self._outbox: deque[str] = deque()
        self._ready = asyncio.Event()
        self._on_discard: Callable[[], object] | None = None

    @property
    def queued(self) -> int:
        return len(self._outbox)

    @property
    def behind(self) -> bool:
        """Too many frames waiting to queue another batch."""
        return len(self._outbox) >= self.conflate_at

    @property
    def caught_up(self) -> bool:
        """Drained enough (half of ``conflate_at``) to leave the lagging state."""
        return len(self._outbox) <= self.conflate_at // 2

    @property
    def closing(self) -> bool:
        return self.close_code is not None

    def push(self, frame: str) -> bool:
        """Queue *frame*; False when the outbox is full (the frame is not queued)."""
        if self.closing:
            return True  # being closed: nothing more will be written anyway
        if len(self._outbox) >= self._max_frames:
            return False
        self._outbox.append(frame)
        self._ready.set()
        return True

    def on_discard(self, callback: Callable[[], object]) -> None:
        """Call *callback* when the channel is closed with ``discard``: the
        connection uses it to abandon a write stuck on a peer that stopped
        reading."""
        self._on_discard = callback

    def close(self, code: int, reason: str, *, discard: bool = False) -> None:
        """Ask the writer to close with *code* once queued frames are written
        (or at once, dropping them and any write in progress, with ``discard``)."""
        if self.closing:
            return
        self.close_code, self.close_reason = code, reason
        self._ready.set()
        if discard:
            self._outbox.clear()
            self.conflated.clear()
            if self._on_discard is not None:
                self._on_discard()

    def take_all(self) -> list[str]:
        """Every queued frame, removed from the outbox, without waiting."""
        frames = list(self._outbox)
        self._outbox.clear()
        return frames

    async def next_frame(self) -> str | None:
        """The next frame to write, or None when the channel is closing."""
        while not self._outbox:
            if self.closing:
                return None
            self._ready.clear()
            await self._ready.wait()
        return self._outbox.popleft()
