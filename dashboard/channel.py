"""One viewer's outbox: a bounded queue of encoded frames with a close signal,
and the rule (``Backlog``, pure) for when what waits there puts it behind."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from dashboard.delivery import DeliveryProbe
    from dashboard.protocol import Point


class FrameSink(Protocol):
    """Where a viewer's frames go when its connection takes them directly
    (the fast send path, dashboard/web/direct_send.py): written at once to
    the connection's transport, whose buffer then holds what is unsent."""

    def write(self, frame: str, queued_at: float, now: float) -> int:
        """Write *frame* (queued at *queued_at*) now; the bytes written, 0
        when the connection takes no more data (it is closing)."""
        ...

    def buffered(self) -> int:
        """Bytes written and not yet taken by the kernel."""
        ...

    async def drained(self) -> None:
        """Return once the transport holds no more than its high-water mark
        (at once if it does not): what a blocking write would have waited for."""
        ...


@dataclass(frozen=True)
class Subscription:
    """What a viewer receives; ``None`` means "all". Hashable: clients with the
    same subscription share one encoded batch."""

    feeds: frozenset[str] | None = None
    series: frozenset[str] | None = None


ALL = Subscription()

#: Defaults of the age and byte bounds (``max_viewer_lag``, ``max_viewer_bytes``).
MAX_LAG_S = 2.0
MAX_BYTES = 4 * 2**20


@dataclass(frozen=True)
class Backlog:
    """What waits for one viewer: frames not yet written, their size, and how
    long the oldest has waited (the one being written counts until it is).
    Frames written but not yet read wait in socket buffers, out of sight;
    their age is the oldest unanswered delivery probe's (dashboard/delivery.py)
    and counts too, for being behind and for catching up."""

    frames: int
    size: int  # characters: a frame is about as many bytes (the JSON is ASCII)
    age: float  # seconds: the oldest unwritten frame's, or the probe's if longer

    def behind(self, frames: int, seconds: float, size: int) -> bool:
        """Too far behind to queue another batch: any bound reached. Frames
        alone miss a viewer whose frames are few but big or old (10,000-point
        batches: a handful is seconds of data)."""
        return self.frames >= frames or self.age >= seconds or self.size >= size

    def caught_up(self, frames: int, seconds: float, size: int) -> bool:
        """Drained to half of every bound: a conflated batch may follow
        (half, so a viewer at a bound does not flip on every flush)."""
        return self.frames <= frames // 2 and self.age < seconds / 2 and self.size <= size // 2


class ClientChannel:
    """Frames waiting to be written to one WebSocket.

    The hub pushes frames without ever awaiting a client; the connection's
    writer task pulls them. The outbox is bounded by ``max_frames``: a push
    that finds it full fails, and the hub then closes the client (it resumes
    from its last ``seq`` when it reconnects) rather than let one slow reader
    grow memory or hold others back. Before that, a client with
    ``conflate_at`` frames waiting is *lagging*: the hub stops queueing
    batches for it and keeps only the latest point per feed in ``conflated``
    (bounded by the number of feeds) until it has caught up. It is lagging as
    well when its oldest unwritten frame has waited ``max_lag`` seconds or
    its frames hold ``max_bytes``: a few frames of 10,000 points each are
    seconds of data (see :class:`Backlog`). Frames are stamped with *clock*
    (monotonic seconds) when queued; decisions take the time as ``now``.
    ``delivery``, set by the connection, tells how long written frames have
    gone unread (their age counts as the backlog's).

    A connection that can take frames directly ``attach``es a
    :class:`FrameSink`: each frame is then written as it is pushed, with no
    writer task between, and the transport's buffer is the outbox. The same
    bounds apply to what it holds: the frames still in it (their ends and
    stamps are kept while the buffer is not empty), its bytes, their age.
    """

    def __init__(
        self,
        max_frames: int,
        address: str = "",
        conflate_at: int | None = None,
        max_lag: float = MAX_LAG_S,
        max_bytes: int = MAX_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_frames < 1:
            raise ValueError(f"max_frames must be >= 1, not {max_frames}")
        self.conflate_at = max_frames if conflate_at is None else conflate_at
        if not 1 <= self.conflate_at <= max_frames:
            raise ValueError(f"conflate_at must be 1-{max_frames}, not {conflate_at}")
        if not max_lag > 0 or max_bytes < 1:
            raise ValueError(f"max_lag must be > 0 and max_bytes >= 1, not {max_lag}, {max_bytes}")
        self.max_lag, self.max_bytes = max_lag, max_bytes
        self._clock = clock
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
        self._stamps: deque[float] = deque()  # when each frame of the outbox was queued
        self._size = 0  # characters in the outbox and in the frame being written
        # The frame handed to the writer: (queued at, size) until the writer
        # asks for the next one, i.e. until its write returned.
        self._writing: tuple[float, int] | None = None
        self._ready = asyncio.Event()
        self._on_discard: Callable[[], object] | None = None
        self.delivery: DeliveryProbe | None = None
        self.sink: FrameSink | None = None
        # Frames handed to the sink that its transport still holds: (where
        # each ends in the bytes written so far, when it was queued).
        self._in_transport: deque[tuple[int, float]] = deque()
        self._wrote = 0  # bytes handed to the sink

    def attach(self, sink: FrameSink) -> None:
        """From now on write frames to *sink* as they are pushed; what waits
        in the outbox is written first, in order."""
        self.sink = sink
        now = self._clock()
        for frame, queued_at in zip(self._outbox, self._stamps, strict=True):
            self._write(sink, frame, queued_at, now)
        self._outbox.clear()
        self._stamps.clear()
        self._size = 0

    def _write(self, sink: FrameSink, frame: str, queued_at: float, now: float) -> None:
        written = sink.write(frame, queued_at, now)
        self._wrote += written
        if written and sink.buffered():  # not all taken by the kernel at once
            self._in_transport.append((self._wrote, queued_at))

    def _held(self, sink: FrameSink) -> int:
        """Bytes the transport still holds; frames it has sent are forgotten."""
        buffered = sink.buffered()
        held = self._in_transport
        if not buffered:
            held.clear()
        else:  # a frame is sent once fewer bytes than written after its end wait
            sent = self._wrote - buffered
            while held and held[0][0] <= sent:
                held.popleft()
        return buffered

    @property
    def queued(self) -> int:
        """Frames waiting: in the outbox, or in the transport's buffer."""
        if self.sink is not None:
            self._held(self.sink)
        return len(self._outbox) + len(self._in_transport)

    def backlog(self, now: float) -> Backlog:
        """What waits for this viewer at *now* (the frame being written included)."""
        unread = self.delivery.age(now) if self.delivery is not None else 0.0
        if self.sink is not None:
            size = self._held(self.sink)
            oldest = self._in_transport[0][1] if self._in_transport else now
            return Backlog(len(self._in_transport), size, max(0.0, now - oldest, unread))
        oldest = self._writing[0] if self._writing else self._stamps[0] if self._stamps else now
        frames = len(self._outbox) + (self._writing is not None)
        return Backlog(frames, self._size, max(0.0, now - oldest, unread))

    def behind(self, now: float) -> bool:
        """Too far behind (frames, age or bytes) to queue another batch."""
        sink = self.sink
        if sink is not None and not sink.buffered():
            # The hot path, once per viewer per flush: nothing held, so only
            # unread data can put it behind (Backlog.behind, unbuilt).
            self._in_transport.clear()
            return self.delivery is not None and self.delivery.age(now) >= self.max_lag
        return self.backlog(now).behind(self.conflate_at, self.max_lag, self.max_bytes)

    def caught_up(self, now: float) -> bool:
        """Drained enough (half of every bound) to leave the lagging state."""
        return self.backlog(now).caught_up(self.conflate_at, self.max_lag, self.max_bytes)

    def lag(self, now: float) -> float:
        """Seconds of data this viewer misses: its oldest unwritten (or
        unread: the probe's) frame's age, or, while lagging, the time since
        it started lagging if longer."""
        held = now - self.lagging_since if self.lagging_since is not None else 0.0
        return max(self.backlog(now).age, held)

    @property
    def closing(self) -> bool:
        return self.close_code is not None

    def push(self, frame: str) -> bool:
        """Queue *frame*; False when the outbox is full (the frame is not queued)."""
        if self.closing:
            return True  # being closed: nothing more will be written anyway
        sink = self.sink
        if sink is not None:
            if (
                self._in_transport
                and self._held(sink)
                and len(self._in_transport) >= self._max_frames
            ):
                return False
            now = self._clock()
            self._write(sink, frame, now, now)
            return True
        if len(self._outbox) >= self._max_frames:
            return False
        self._outbox.append(frame)
        self._stamps.append(self._clock())
        self._size += len(frame)
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
            self._forget_frames()
            self.conflated.clear()
            if self._on_discard is not None:
                self._on_discard()

    def take_all(self) -> list[str]:
        """Every queued frame, removed from the outbox, without waiting."""
        frames = list(self._outbox)
        self._forget_frames()
        return frames

    def _forget_frames(self) -> None:
        self._outbox.clear()
        self._stamps.clear()
        self._size, self._writing = 0, None

    async def next_frame(self) -> str | None:
        """The next frame to write, or None when the channel is closing.
        Called again once the previous frame is written: until then that
        frame counts as waiting (a write blocks while the peer's TCP window
        and the kernel's buffers are full)."""
        if self._writing is not None:
            self._size -= self._writing[1]
            self._writing = None
        while not self._outbox:
            if self.closing:
                return None
            self._ready.clear()
            await self._ready.wait()
        frame = self._outbox.popleft()
        self._writing = (self._stamps.popleft(), len(frame))
        if self.delivery is not None:  # its probe's data is as old as the frame
            self.delivery.frame_queued_at = self._writing[0]
        return frame
