"""Frames built once for every viewer (dashboard/frames.py) are byte for byte
what wsproto, the framework's own WebSocket library, sends for the same
message: at every length encoding's edges, and for any text."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from wsproto.connection import Connection, ConnectionType
from wsproto.events import Ping, TextMessage

from dashboard.frames import WireFrames, ping_frame, text_frame


def wsproto_server() -> Connection:
    return Connection(ConnectionType.SERVER)


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_a_text_frame_is_wsprotos_at_each_length_encoding(size):
    text = "x" * size
    assert text_frame(text) == wsproto_server().send(TextMessage(text))


@given(st.text(max_size=300))
def test_any_text_frames_as_wsproto_frames_it(text):
    assert text_frame(text) == wsproto_server().send(TextMessage(text))


def test_a_text_frame_carries_utf8_and_says_its_byte_length():
    frame = text_frame("€" * 50)  # 150 bytes: over the one-byte length
    assert frame[:4] == bytes((0x81, 126, 0, 150))
    assert frame[4:].decode() == "€" * 50


@pytest.mark.parametrize("payload", [b"", b"lf-probe:1", b"p" * 125])
def test_a_ping_is_wsprotos(payload):
    assert ping_frame(payload) == wsproto_server().send(Ping(payload))


def test_a_ping_too_long_for_a_control_frame_is_refused():
    with pytest.raises(ValueError, match="at most 125 bytes, not 126"):
        ping_frame(b"p" * 126)


def test_the_same_text_object_is_framed_once():
    wire = WireFrames()
    batch = '{"type":"batch","points":[1,2,3]}'
    first, size = wire.wire(batch)
    assert (first, size) == (text_frame(batch), len(batch))
    assert wire.wire(batch)[0] is first  # every viewer of the batch: the same bytes


def test_another_text_replaces_the_kept_frame():
    wire = WireFrames()
    hello, snapshot = '{"type":"hello"}', '{"type":"snapshot","é":1}'
    wire.wire(hello)
    assert wire.wire(snapshot) == (text_frame(snapshot), len(snapshot.encode()))
    assert wire.wire(hello) == (text_frame(hello), len(hello))
