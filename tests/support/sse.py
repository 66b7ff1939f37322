"""An event-stream client over raw HTTP/1.1 (asyncio streams): reads ``/sse``
as a browser's EventSource does (the WHATWG parsing rules), keeping the
comments too, so tests see heartbeats."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Event:
    data: str
    event: str = "message"
    id: str | None = None  # None: the event had no id field

    def json(self) -> Any:
        return json.loads(self.data)


@dataclass
class EventStream:
    status: int
    headers: dict[str, str]  # lower-case names
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    body: bytes = b""  # the whole body of an answer that is not a stream
    comments: list[str] = field(default_factory=list)
    retry: int | None = None
    last_id: str = ""  # as a browser keeps it: the last id field seen
    _buffer: str = ""
    _chunked: bool = False
    _ended: bool = False

    async def _more(self) -> bool:
        """Append the next chunk of the body to the buffer; False at its end."""
        if self._ended:
            return False
        if not self._chunked:
            data = await self.reader.read(65536)
        else:
            size = int((await self.reader.readline()).strip() or b"0", 16)
            data = await self.reader.readexactly(size + 2) if size else b""
            data = data[:-2]
        if not data:
            self._ended = True
            return False
        self._buffer += data.decode()
        return True

    async def next(self, timeout: float = 5.0) -> Event | None:
        """The next event dispatched (comments and retry noted on the way),
        or None when the stream ended."""
        async with asyncio.timeout(timeout):
            fields: dict[str, str] = {}
            data: list[str] = []
            while True:
                while "\n" not in self._buffer:
                    if not await self._more():
                        return None
                line, self._buffer = self._buffer.split("\n", 1)
                if line == "":
                    if data:
                        return Event(
                            "\n".join(data), fields.get("event", "message"), fields.get("id")
                        )
                    fields = {}
                    continue
                if line.startswith(":"):
                    self.comments.append(line[1:].strip())
                    continue
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "data":
                    data.append(value)
                elif name == "retry":
                    self.retry = int(value)
                else:
                    fields[name] = value
                    if name == "id":
                        self.last_id = value

    async def messages(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """The next *count* protocol messages (events named ``message``), parsed."""
        found: list[dict[str, Any]] = []
        while len(found) < count:
            event = await self.next(timeout)
            if event is None:
                raise AssertionError(f"stream ended after {found}")
            if event.event == "message":
                found.append(event.json())
        return found

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


async def open_events(url: str, headers: dict[str, str] | None = None) -> EventStream:
    """``GET`` *url* (``http://host:port/sse?...``) and read the answer's head."""
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    head = [f"GET {path} HTTP/1.1", f"Host: {parts.netloc}", "Accept: text/event-stream"]
    head += [f"{name}: {value}" for name, value in (headers or {}).items()]
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
    async with asyncio.timeout(10):
        raw = await reader.readuntil(b"\r\n\r\n")
    status_line, *lines = raw.decode("latin-1").strip().split("\r\n")
    names = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines)}
    stream = EventStream(int(status_line.split()[1]), names, reader, writer)
    stream._chunked = names.get("transfer-encoding", "").lower() == "chunked"
    if not names.get("content-type", "").startswith("text/event-stream"):
        length = int(names.get("content-length", "0"))
        async with asyncio.timeout(10):
            stream.body = await reader.readexactly(length) if length else b""
        await stream.close()
    return stream
