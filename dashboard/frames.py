"""WebSocket frames as a server sends them (RFC 6455 5.2), built once.

A server's frames are not masked, so the bytes of a message, header and
payload, are the same for every viewer that receives it: the hub hands one
string to every viewer of a subscription, and its frame is built once and
written as it is to each of them (dashboard/web/direct_send.py). Pure: no
I/O, no framework; tests/unit/test_frames.py checks every length encoding
against wsproto's own frames.
"""

from __future__ import annotations

import struct

FIN = 0x80
TEXT = 0x1
PING = 0x9
#: A control frame's payload is at most this long (RFC 6455 5.5).
MAX_CONTROL_PAYLOAD = 125


def frame(opcode: int, payload: bytes) -> bytes:
    """One whole (FIN) unmasked frame of *opcode* carrying *payload*."""
    length = len(payload)
    if length < 126:
        header = bytes((FIN | opcode, length))
    elif length < 1 << 16:
        header = struct.pack("!BBH", FIN | opcode, 126, length)
    else:
        header = struct.pack("!BBQ", FIN | opcode, 127, length)
    return header + payload


def text_frame(text: str) -> bytes:
    """A text message in one frame (UTF-8 payload)."""
    return frame(TEXT, text.encode())


def ping_frame(payload: bytes) -> bytes:
    """A ping; ValueError for a payload a control frame cannot carry."""
    if len(payload) > MAX_CONTROL_PAYLOAD:
        raise ValueError(f"a ping carries at most 125 bytes, not {len(payload)}")
    return frame(PING, payload)


class WireFrames:
    """The frame of the text last asked for, and its payload's size, kept.

    The hub queues the same string object for every viewer of a subscription
    one after the other, so an identity check (not a hash of the text) finds
    it: one encoding per batch, not per viewer. Other frames (a viewer's
    hello or snapshot) are built when asked for and replace it.
    """

    __slots__ = ("_last", "_text")

    def __init__(self) -> None:
        self._text: str | None = None
        self._last: tuple[bytes, int] = (b"", 0)

    def wire(self, text: str) -> tuple[bytes, int]:
        """*text*'s frame and the size of its UTF-8 payload."""
        if text is not self._text:
            payload = text.encode()
            self._text, self._last = text, (frame(TEXT, payload), len(payload))
        return self._last
