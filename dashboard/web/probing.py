"""Delivery probes on a viewer's WebSocket (dashboard/delivery.py).

On viewer streams (every path but the ingest one) a data frame the app sends
is followed, in the same write, by a ping with a payload of the probe's
unless one is unanswered or the last was sent under ``viewer_probe_spacing``
seconds ago (a setting of ``dashboard.web.framework.ServerConfig``); its pong
clears it. The probe is put in the ASGI scope
(``extensions["livefeed.delivery"]``) for the app.

What is done here speaks wsproto's public API only (a connection's ``send``,
its events); the Hypercorn stream that calls it, and the internals it
overrides to do so, are in dashboard/web/framework.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from wsproto.connection import Connection, ConnectionState
from wsproto.events import BytesMessage, Ping, Pong, TextMessage

from dashboard.delivery import DELIVERY_EXTENSION, DeliveryProbe


def attach_probe(extensions: dict[str, Any], spacing: float) -> DeliveryProbe:
    """A new probe for a viewer stream, put in its scope's *extensions* for the app."""
    probe = DeliveryProbe(spacing)
    extensions[DELIVERY_EXTENSION] = probe
    return probe


def frame_and_probe(
    connection: Connection, message: Mapping[str, Any], probe: DeliveryProbe, now: float
) -> bytes | None:
    """The app's data *message* as a frame and a probe's ping right behind
    it, to go out in one write (a write costs more than the bytes); None, and
    nothing encoded: no probe is due, or the message is not one to send here
    (the stream's own send then says why)."""
    text, data = message.get("text"), message.get("bytes")
    if connection.state is not ConnectionState.OPEN or not (
        data is not None or isinstance(text, str)
    ):
        return None
    payload = probe.start(now, after_frame=True)
    if payload is None:
        return None
    # Checked above: bytes, or else text that is a str.
    event = BytesMessage(bytes(data)) if data is not None else TextMessage(cast(str, text))
    return connection.send(event) + connection.send(Ping(payload))


def periodic_ping(probe: DeliveryProbe | None, now: float) -> Ping:
    """The interval ping; on a viewer stream it carries the unanswered
    probe's payload (a peer may answer only the latest of several pings,
    RFC 6455 5.5.3) or starts a probe."""
    return Ping(probe.payload(now)) if probe is not None else Ping()


def note_pong(probe: DeliveryProbe | None, event: object) -> None:
    """A pong clears the probe whose payload it carries."""
    if isinstance(event, Pong) and probe is not None:
        probe.answer(bytes(event.payload))
