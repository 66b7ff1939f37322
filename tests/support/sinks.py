"""A transport for the fast send path (dashboard.channel.FrameSink) whose
kernel the test controls: it takes every byte, or none while ``stuck``."""

from __future__ import annotations

HEADER = 2  # bytes of a short frame's header


class FakeTransport:
    """Records the frames written to it; ``stuck`` keeps their bytes in its
    buffer (a peer that stopped reading), ``send(n)`` lets n bytes go."""

    def __init__(self) -> None:
        self.frames: list[str] = []
        self.stamps: list[tuple[float, float]] = []  # (queued_at, now) of each write
        self.buffer = 0
        self.stuck = False
        self.open = True
        self.drain_waits = 0

    def write(self, frame: str, queued_at: float, now: float) -> int:
        if not self.open:
            return 0
        self.frames.append(frame)
        self.stamps.append((queued_at, now))
        size = len(frame.encode()) + HEADER
        if self.stuck:
            self.buffer += size
        return size

    def buffered(self) -> int:
        return self.buffer

    def send(self, size: int) -> None:
        """The kernel takes *size* bytes of the buffer."""
        self.buffer = max(0, self.buffer - size)

    async def drained(self) -> None:
        self.drain_waits += 1

    def taken(self) -> list[str]:
        """The frames written so far, forgotten."""
        frames, self.frames = self.frames, []
        return frames
