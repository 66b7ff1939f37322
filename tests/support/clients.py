"""Viewer clients: JSON messages from a `websockets` client, and a raw
WebSocket on a plain socket for what a real client library would hide
(a reader that stops, frames byte for byte)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import websockets

#: A JSON message as the server sends it.
Message = dict[str, Any]


async def recv_json(ws: websockets.ClientConnection, timeout: float = 5.0) -> Message:
    async with asyncio.timeout(timeout):
        message: Message = json.loads(await ws.recv())
    return message


async def collect(
    ws: websockets.ClientConnection, until: Callable[[list[Message]], bool], timeout: float = 10.0
) -> list[Message]:
    """Receive messages until until(messages) is true."""
    got: list[Message] = []
    async with asyncio.timeout(timeout):
        while not until(got):
            got.append(json.loads(await ws.recv()))
    return got


def point_seqs(messages: list[Message], feed: str) -> list[int]:
    """The seqs of *feed*'s points in *messages*, in order."""
    return [p["seq"] for m in messages for p in m.get("points", []) if p["feed"] == feed]


def open_raw_websocket(port: int) -> socket.socket:
    """A WebSocket handshake on a plain socket that then never reads, like a
    frozen browser tab: TCP backs up to the server."""
    sock = socket.socket()
    # A modest receive buffer, set before connecting so the window is
    # negotiated with it: the server's writes back up within seconds. (Under
    # one MSS, Linux would stall a draining reader on zero-window probes.)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        f"Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    sock.setblocking(False)
    return sock


def masked_frame(opcode: int, payload: bytes, *, rsv1: bool = False) -> bytes:
    """One client frame (masked, as a client must), payload under 126 bytes."""
    assert len(payload) < 126
    first = 0x80 | (0x40 if rsv1 else 0) | opcode
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([first, 0x80 | len(payload)]) + mask + body


async def raw_frames(
    sock: socket.socket, *, answer_pings: bool = True
) -> AsyncIterator[tuple[int, bytes]]:
    """Yield (opcode, payload) of each server frame on a raw socket, after the
    handshake; ends when the server hangs up. Pings are answered as a real
    client does once it has read up to them (the server's delivery probes
    take a reader that never answers for one that has not read them)."""
    loop = asyncio.get_running_loop()
    buffer = bytearray()

    async def need(n: int) -> bool:
        while len(buffer) < n:
            chunk = await loop.sock_recv(sock, 1 << 20)
            if not chunk:
                return False
            buffer.extend(chunk)
        return True

    while b"\r\n\r\n" not in buffer:
        if not await need(len(buffer) + 1):
            return
    assert buffer.startswith(b"HTTP/1.1 101"), bytes(buffer[:80])
    del buffer[: buffer.index(b"\r\n\r\n") + 4]
    while await need(2):
        opcode, length, header = buffer[0] & 0x0F, buffer[1] & 0x7F, 2
        if length >= 126:
            extra = 2 if length == 126 else 8
            await need(2 + extra)
            length, header = int.from_bytes(buffer[2 : 2 + extra], "big"), 2 + extra
        if not await need(header + length):
            return
        payload = bytes(buffer[header : header + length])
        del buffer[: header + length]
        if opcode == 0x9 and answer_pings:
            await loop.sock_sendall(sock, masked_frame(0xA, payload))
        yield opcode, payload


async def read_until_close_frame(sock: socket.socket) -> int:
    """Read raw server frames until a close frame; return its code."""
    async for opcode, payload in raw_frames(sock):
        if opcode == 0x8:
            return int.from_bytes(payload[:2], "big")
    raise AssertionError("connection ended without a close frame")


def server_frames(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(opcode, payload) of each unmasked frame in *data*."""
    at = 0
    while at + 2 <= len(data):
        opcode, length = data[at] & 0x0F, data[at + 1] & 0x7F
        at += 2
        if length == 126:
            length, at = int.from_bytes(data[at : at + 2], "big"), at + 2
        elif length == 127:
            length, at = int.from_bytes(data[at : at + 8], "big"), at + 8
        yield opcode, data[at : at + length]
        at += length
