"""The fast send path: a viewer's frames written straight to its transport.

Through Quart, ASGI, Hypercorn's stream and wsproto a frame costs about
60 us of server CPU per viewer; the bytes are the same for every viewer of a
batch (dashboard/frames.py). For a viewer's WebSocket over HTTP/1.1 without
permessage-deflate, ``dashboard.web.framework`` puts a :class:`DirectTransport`
in the scope's extensions (``livefeed.direct_send``) as it accepts; the
viewer handler makes a :class:`DirectSend` of it and attaches that to the
client's channel, and from then on every
frame the hub queues is written to the transport at once, in the hub's
flush, by one ``transport.write``. Only data frames take this path: the
handshake, pings, pongs and the close go through Hypercorn as before, on
the same transport, so they stay in order with the data.

What the channel bounds (frames, bytes, age: dashboard/channel.py) is then
what the transport holds unsent, and delivery probes still follow frames
(a ping in the same write). Everything else (WebSockets over HTTP/2,
permessage-deflate, the ingest socket) takes the ordinary path; the frames
counter ``livefeed_frames_sent_direct`` tells the two apart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from dashboard.delivery import DeliveryProbe
from dashboard.frames import WireFrames, ping_frame
from dashboard.metrics import Metrics

#: The ASGI scope extension under which an accepted viewer finds its DirectTransport.
DIRECT_SEND_EXTENSION = "livefeed.direct_send"


@dataclass(slots=True)
class DirectTransport:
    """What the framework offers an accepted viewer for the fast path: its
    connection's transport and ``StreamWriter.drain``, and whether data
    frames may still go out (no close frame sent or received, the stream
    not closed: the framework clears ``open`` as either happens)."""

    transport: asyncio.WriteTransport
    drain: Callable[[], Awaitable[None]]
    open: bool = True


class DirectSend:
    """Writes one viewer's frames to its connection's transport
    (a ``dashboard.channel.FrameSink``). *wire* is the app's frame cache,
    shared by every viewer (one encoding per batch); *metrics* counts."""

    __slots__ = ("_direct", "_drain", "_metrics", "_probe", "_transport", "_wire")

    def __init__(
        self,
        direct: DirectTransport,
        probe: DeliveryProbe | None,
        wire: WireFrames,
        metrics: Metrics,
    ) -> None:
        self._direct, self._transport, self._drain = direct, direct.transport, direct.drain
        self._probe, self._wire, self._metrics = probe, wire, metrics

    def buffered(self) -> int:
        return self._transport.get_write_buffer_size()

    async def drained(self) -> None:
        try:
            await self._drain()
        except (ConnectionError, RuntimeError):
            pass  # gone: nothing more to wait for (Hypercorn's own send says the same)

    def write(self, frame: str, queued_at: float, now: float) -> int:
        """Write *frame*, and a delivery probe's ping right behind it when one
        is due (one write: a write costs more than its bytes); the bytes
        written, 0 when the connection takes no more data."""
        transport = self._transport
        if not self._direct.open or transport.is_closing():
            return 0
        data, size = self._wire.wire(frame)
        probe = self._probe
        if probe is not None:
            probe.frame_queued_at = queued_at  # the ping's data is as old as the frame
            payload = probe.start(now, after_frame=True)
            if payload is not None:
                data += ping_frame(payload)
        transport.write(data)
        # Plain integer adds, per frame per viewer: see dashboard/metrics.py.
        metrics = self._metrics
        metrics.frames_sent += 1
        metrics.frames_sent_direct += 1
        metrics.bytes_sent += size
        return len(data)
