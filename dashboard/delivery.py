"""Delivery probes: how long a viewer has not read what was written to it.

Frames the server has written are out of the outbox's sight: they can sit
for seconds in the kernel's socket buffers (megabytes on both ends) while a
CPU-starved client reads slowly. A WebSocket ping measures that: the peer
answers it (RFC 6455 5.5.2) only once it has read every frame before it, and
a client that stops reading (a browser or python-websockets with a full
queue) stops answering. So after a frame is written, the server sends a ping
with a payload of its own unless one is already unanswered. The frame
before it was queued at a known time (the app says when, in
``frame_queued_at``): the time since then is a lower bound on how stale the
viewer's data is, counted as the outbox counts a frame not yet written.

Pure bookkeeping with the time passed in; dashboard/server.py sends the pings
and reports the pongs, dashboard/channel.py counts the age as lag.
"""

from __future__ import annotations

#: The ASGI scope extension under which a viewer connection's probe is found.
DELIVERY_EXTENSION = "livefeed.delivery"
#: Marks the probe's payloads: other pings (keep-alive ones are empty) and
#: their pongs are never taken for a probe's.
_PREFIX = b"lf-probe:"


class DeliveryProbe:
    """The ping in flight on one connection, if any, and since when."""

    __slots__ = (
        "_last_sent",
        "_payload",
        "_sent",
        "frame_queued_at",
        "spacing",
        "unanswered_since",
    )

    def __init__(self, spacing: float = 0.0) -> None:
        #: Seconds at least between probes after frames: each costs a write
        #: and a read of the pong (1,000 viewers at 10 frames/s each: 10,000
        #: more writes a second), and the age needs no finer grain than a
        #: fraction of max_viewer_lag.
        self.spacing = spacing
        self._last_sent = float("-inf")
        #: Since when (monotonic s) the unanswered probe's data has waited:
        #: when the frame it follows was queued, or when it was sent if it
        #: follows no frame (a periodic ping). None: no probe unanswered.
        self.unanswered_since: float | None = None
        #: When the frame being sent was queued (set by the app as it hands
        #: the frame over); a probe sent after it starts from then.
        self.frame_queued_at: float | None = None
        self._payload = b""
        self._sent = 0

    def age(self, now: float) -> float:
        """Seconds the probe in flight has waited for its answer (0: none)."""
        return 0.0 if self.unanswered_since is None else max(0.0, now - self.unanswered_since)

    def start(self, now: float, *, after_frame: bool = False) -> bytes | None:
        """The payload of a new probe sent at *now* (right *after_frame*: the
        one ``frame_queued_at`` tells of), or None while one is unanswered
        (its age must keep counting from when its data was queued)."""
        queued_at = self.frame_queued_at if after_frame else None
        if after_frame:
            self.frame_queued_at = None
        if self.unanswered_since is not None or (
            after_frame and now - self._last_sent < self.spacing
        ):
            return None
        self._last_sent = now
        self._sent += 1
        self._payload = _PREFIX + str(self._sent).encode()
        self.unanswered_since = now if queued_at is None else min(now, queued_at)
        return self._payload

    def payload(self, now: float) -> bytes:
        """What a periodic ping carries: the unanswered probe's payload again
        (a peer may answer only the latest of several pings, RFC 6455 5.5.3),
        or a new probe's."""
        return self.start(now) or self._payload

    def answer(self, payload: bytes) -> bool:
        """A pong with *payload* came: True when it answers the probe."""
        if self.unanswered_since is None or payload != self._payload:
            return False
        self.unanswered_since = None
        return True
