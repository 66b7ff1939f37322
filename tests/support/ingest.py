"""Push ingest clients: raw HTTP requests with the ingest token, and the
ingest WebSocket."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import websockets
from websockets.asyncio.client import connect

from tests.support.servers import LiveServer

TOKEN = "s3cret"
JSON, NDJSON = "application/json", "application/x-ndjson"


async def http(
    server: LiveServer,
    method: str,
    path: str,
    body: bytes = b"",
    *,
    content_type: str | None = JSON,
    token: str | None = TOKEN,
    chunked: bool = False,
    length: int | None = None,
) -> tuple[int, dict[str, str], object]:
    """One raw HTTP/1.1 request; returns status, headers (lower-case names) and JSON body.

    ``chunked`` sends the body with Transfer-Encoding: chunked; ``length``
    declares a Content-Length other than the body's.
    """
    head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    if token is not None:
        head.append(f"Authorization: Bearer {token}")
    if content_type is not None:
        head.append(f"Content-Type: {content_type}")
    if chunked:
        head.append("Transfer-Encoding: chunked")
        pieces = [body[i : i + 4096] for i in range(0, len(body), 4096)]
        body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    elif method == "POST" or length is not None:
        head.append(f"Content-Length: {len(body) if length is None else length}")
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write("\r\n".join(head).encode() + b"\r\n\r\n" + body)
        await writer.drain()
        async with asyncio.timeout(10):
            response = await reader.read()  # to the end: Connection: close
    finally:
        writer.close()
        await writer.wait_closed()
    head_bytes, _, payload = response.partition(b"\r\n\r\n")
    status_line, *header_lines = head_bytes.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    return int(status_line.split()[1]), headers, json.loads(payload) if payload else None


async def push(
    server: LiveServer,
    feed: str,
    points: list[dict[str, Any]],
    content_type: str = JSON,
    **kwargs: Any,
) -> tuple[int, dict[str, str], object]:
    """POST *points* to /api/feeds/FEED/points as JSON (or NDJSON)."""
    if content_type == NDJSON:
        body = b"".join(json.dumps(p).encode() + b"\n" for p in points)
    else:
        body = json.dumps(points).encode()
    path = f"/api/feeds/{feed}/points"
    return await http(server, "POST", path, body, content_type=content_type, **kwargs)


def ingest_url(server: LiveServer) -> str:
    return server.url.replace("http://", "ws://", 1) + "/api/ingest"


def connect_ingest(server: LiveServer, token: str | None = TOKEN, **kwargs: Any) -> connect:
    """A `websockets` connection to the ingest WebSocket, with *token*."""
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return websockets.connect(ingest_url(server), additional_headers=headers, **kwargs)
