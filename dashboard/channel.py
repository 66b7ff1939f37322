"""One viewer's outbox: a bounded queue of encoded frames with a close signal."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


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
    grow memory or hold others back.
    """

    def __init__(self, max_frames: int, address: str = "") -> None:
        if max_frames < 1:
            raise ValueError(f"max_frames must be >= 1, not {max_frames}")
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
