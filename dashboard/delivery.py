"""Delivery probes: how long a viewer has not read what was written to it.

Frames the server has written are out of the outbox's sight: they can sit
for seconds in the kernel's socket buffers (megabytes on both ends) while a
CPU-starved client reads slowly. A WebSocket ping measures that: the peer
answers it (RFC 6455 5.5.2) only once it has read every frame before it, and
a client that stops reading (a browser or python-websockets with a full
queue) stops answering. So, at most every ``spacing`` seconds, the server
sends a ping with a payload of its own right after a frame. The frame was
queued at a known time (the app says when, in ``frame_queued_at``): the time
since then, for the oldest unanswered probe, is a lower bound on how stale
the viewer's data is, counted as the outbox counts a frame not yet written.

Several probes may be in flight: with only one, a viewer that answers it
would look caught up while everything written after it is still unread.
An answer also answers every earlier probe (the peer read those first).

Pure bookkeeping with the time passed in; dashboard/web/probing.py sends the
pings and reports the pongs, dashboard/channel.py counts the age as lag.
"""

from __future__ import annotations

from collections import deque

#: The ASGI scope extension under which a viewer connection's probe is found.
DELIVERY_EXTENSION = "livefeed.delivery"
#: Marks the probe's payloads: other pings (keep-alive ones are empty) and
#: their pongs are never taken for a probe's.
_PREFIX = b"lf-probe:"
#: Probes in flight at most (memory per connection stays bounded); at the
#: cap the oldest goes on counting and no new one is sent.
MAX_IN_FLIGHT = 16


class DeliveryProbe:
    """The pings in flight on one connection, oldest first, and since when
    the data each follows has waited."""

    __slots__ = ("_last_sent", "_sent", "_unanswered", "frame_queued_at", "spacing")

    def __init__(self, spacing: float = 0.0) -> None:
        #: Seconds at least between probes after frames: each costs the
        #: server a read of its pong (1,000 viewers at 10 frames/s: 10,000
        #: more a second), and the age needs no finer grain than a fraction
        #: of max_viewer_lag.
        self.spacing = spacing
        self._last_sent = float("-inf")
        #: When the frame being sent was queued (set by the app as it hands
        #: the frame over); a probe sent after it starts from then.
        self.frame_queued_at: float | None = None
        # (payload, since when its data has waited), oldest first.
        self._unanswered: deque[tuple[bytes, float]] = deque()
        self._sent = 0

    @property
    def unanswered_since(self) -> float | None:
        """Since when (monotonic s) the oldest unanswered probe's data has
        waited: when the frame it follows was queued, or when it was sent if
        it follows no frame (a periodic ping). None: every probe answered."""
        return self._unanswered[0][1] if self._unanswered else None

    def age(self, now: float) -> float:
        """Seconds the oldest probe in flight has waited (0: none)."""
        since = self.unanswered_since
        return 0.0 if since is None else max(0.0, now - since)

    def start(self, now: float, *, after_frame: bool = False) -> bytes | None:
        """The payload of a new probe sent at *now* (right *after_frame*: the
        one ``frame_queued_at`` tells of), or None: the last one after a
        frame was sent under ``spacing`` ago, or ``MAX_IN_FLIGHT`` are."""
        queued_at = self.frame_queued_at if after_frame else None
        if after_frame:
            self.frame_queued_at = None
            if now - self._last_sent < self.spacing:
                return None
        if len(self._unanswered) >= MAX_IN_FLIGHT:
            return None
        self._last_sent = now
        self._sent += 1
        payload = _PREFIX + str(self._sent).encode()
        self._unanswered.append((payload, now if queued_at is None else min(now, queued_at)))
        return payload

    def payload(self, now: float) -> bytes:
        """What a periodic ping carries: a new probe's payload, or at the cap
        the latest one's again (a peer may answer only the latest of several
        pings, RFC 6455 5.5.3: that answers the earlier ones too)."""
        return self.start(now) or self._unanswered[-1][0]

    def answer(self, payload: bytes) -> bool:
        """A pong with *payload* came: True when it answers a probe (and
        with it every earlier one)."""
        for index, (sent, _) in enumerate(self._unanswered):
            if sent == payload:
                for _ in range(index + 1):
                    self._unanswered.popleft()
                return True
        return False
