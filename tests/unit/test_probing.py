"""Delivery probes on a wsproto connection (dashboard/web/probing.py), with
the clock passed in: what a viewer stream writes after a data frame."""

from __future__ import annotations

from typing import Any

from wsproto import ConnectionType
from wsproto.connection import Connection
from wsproto.events import CloseConnection, Ping, Pong, TextMessage
from wsproto.frame_protocol import Opcode

from dashboard.delivery import DELIVERY_EXTENSION, DeliveryProbe
from dashboard.web.probing import attach_probe, frame_and_probe, note_pong, periodic_ping


def frames_in(data: bytes) -> list[tuple[Opcode, bytes]]:
    """The frames a server wrote, as a client reads them."""
    client = Connection(ConnectionType.CLIENT)
    client.receive_data(data)
    found: list[tuple[Opcode, bytes]] = []
    for event in client.events():
        if isinstance(event, TextMessage):
            found.append((Opcode.TEXT, event.data.encode()))
        elif isinstance(event, Ping):
            found.append((Opcode.PING, bytes(event.payload)))
    return found


def send(text: str) -> dict[str, Any]:
    return {"type": "websocket.send", "text": text}


def test_a_frame_goes_out_with_a_probe_behind_it() -> None:
    server, probe = Connection(ConnectionType.SERVER), DeliveryProbe(spacing=0.5)
    data = frame_and_probe(server, send('{"a":1}'), probe, now=10.0)
    assert data is not None
    (kind, text), (ping, payload) = frames_in(data)
    assert (kind, text) == (Opcode.TEXT, b'{"a":1}')
    assert ping is Opcode.PING and payload
    assert probe.unanswered_since == 10.0


def test_no_probe_within_the_spacing_and_nothing_encoded() -> None:
    server, probe = Connection(ConnectionType.SERVER), DeliveryProbe(spacing=0.5)
    assert frame_and_probe(server, send("x"), probe, now=10.0) is not None
    # None: the stream's own send writes the frame, alone.
    assert frame_and_probe(server, send("y"), probe, now=10.4) is None
    assert frame_and_probe(server, send("z"), probe, now=10.5) is not None


def test_bytes_are_sent_as_a_binary_frame() -> None:
    server, probe = Connection(ConnectionType.SERVER), DeliveryProbe()
    data = frame_and_probe(server, {"type": "websocket.send", "bytes": b"\x00"}, probe, 1.0)
    client = Connection(ConnectionType.CLIENT)
    client.receive_data(data)
    assert [type(e).__name__ for e in client.events()] == ["BytesMessage", "Ping"]


def test_messages_not_to_send_here_are_left_to_the_stream() -> None:
    probe = DeliveryProbe()
    server = Connection(ConnectionType.SERVER)
    # Neither bytes nor str: the stream's own send raises the TypeError.
    assert frame_and_probe(server, {"type": "websocket.send", "text": 5}, probe, 1.0) is None
    server.send(CloseConnection(code=1000))  # no longer OPEN
    assert frame_and_probe(server, send("x"), probe, 1.0) is None
    assert probe.unanswered_since is None  # no probe was started


def test_the_pong_to_a_probe_clears_it() -> None:
    probe = DeliveryProbe()
    ping = periodic_ping(probe, now=3.0)
    assert probe.age(5.0) == 2.0
    note_pong(probe, Pong(payload=b"something else"))
    assert probe.age(5.0) == 2.0
    note_pong(probe, Pong(payload=ping.payload))
    assert probe.age(5.0) == 0.0


def test_a_stream_without_a_probe_pings_plainly() -> None:
    assert bytes(periodic_ping(None, now=1.0).payload) == b""
    note_pong(None, Pong(payload=b""))  # nothing to clear


def test_the_probe_is_handed_to_the_app_in_the_scope() -> None:
    extensions: dict[str, Any] = {"websocket.http.response": {}}
    probe = attach_probe(extensions, spacing=0.25)
    assert extensions[DELIVERY_EXTENSION] is probe and probe.spacing == 0.25
