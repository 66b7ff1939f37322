"""A server process's log, read as it comes."""

from __future__ import annotations

import asyncio


class LogLines:
    """The process's stderr, read as it comes (a full pipe would stall the server)."""

    def __init__(self, stream: asyncio.StreamReader) -> None:
        self.lines: list[str] = []
        self._task = asyncio.create_task(self._read(stream))

    async def _read(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self.lines.append(line.decode(errors="replace"))

    def clients_with(self, event: str) -> set[str]:
        found = (line for line in self.lines if f"event={event} " in line)
        return {line.partition(" client=")[2].split()[0] for line in found}

    def of_client(self, event: str, client: str) -> list[str]:
        """The lines of *event* for *client* (host:port)."""
        return [line for line in self.lines if f"event={event} client={client} " in line + " "]

    async def text(self) -> str:
        await self._task  # to the end of the stream: the process has exited
        return "".join(self.lines)
