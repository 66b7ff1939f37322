"""A compression bomb against the server as its own process."""

import asyncio
import base64
import os
import zlib
from pathlib import Path

import pytest

from tests.support.servers import start_cli, stop_process

pytestmark = pytest.mark.e2e


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def deflated_zeros(size: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(1 << 20)
    data = b"".join(compressor.compress(chunk) for _ in range(size >> 20))
    return data + compressor.flush(zlib.Z_SYNC_FLUSH)[:-4]  # permessage-deflate drops the tail


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
async def test_compression_bomb_costs_the_server_no_memory():
    """300 MB of zeros deflated to ~300 KB, sent as a compressed frame after
    offering permessage-deflate: the server, which refused the extension,
    drops the connection and its peak memory grows by under 50 MB."""
    process, url = await start_cli("--log-level", "warning")
    host, port = url.removeprefix("http://").rsplit(":", 1)
    writer = None
    try:
        before = peak_rss_mb(process.pid)
        reader, writer = await asyncio.open_connection(host, int(port))
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n"
                "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
            ).encode()
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert b" 101 " in head and b"permessage-deflate" not in head.lower()
        bomb = deflated_zeros(300 << 20)
        assert len(bomb) < 400_000
        # FIN + RSV1 + text; masked with a zero key, so the payload goes as is.
        header = bytes([0xC1, 0x80 | 127]) + len(bomb).to_bytes(8, "big") + bytes(4)
        writer.write(header + bomb)
        try:
            await writer.drain()
            async with asyncio.timeout(10):
                while await reader.read(1 << 16):
                    pass  # hello, snapshot... then the server hangs up
        except ConnectionError:
            pass  # hung up while we were still sending: also refused
        grown = peak_rss_mb(process.pid) - before
        assert grown < 50, f"server peak RSS grew {grown:.0f} MB"
    finally:
        if writer is not None:
            writer.close()
        await stop_process(process)
