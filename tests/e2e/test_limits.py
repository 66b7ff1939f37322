"""Per-client limits on a real server: each violation ends in a clear close code
(1009 too big, 1008 policy) or a 4xx with a reason, is counted, and every
other client goes on."""

import asyncio
import base64
import json
import os
import socket

import psutil
import pytest
import websockets
from websockets.protocol import State

from tests.conftest import recv_json, start_cli, stop_process, wait_until

pytestmark = pytest.mark.e2e

TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MB = 2**20


def limits_of(server):
    return server.app.extensions["livefeed"].limits


def ingest_message(feed: str, size: int) -> str:
    """A valid ingest message of about *size* bytes: many one-value points."""
    per_point = len(json.dumps({"values": {"v": 1000}})) + 2
    points = [{"values": {"v": 1000 + i % 9000}} for i in range(size // per_point + 1)]
    return json.dumps({"feed": feed, "points": points})


async def batches(ws, count: int, timeout: float = 10.0) -> list[dict]:
    """Read until *count* batches arrived; return them."""
    got = []
    async with asyncio.timeout(timeout):
        while len(got) < count:
            message = json.loads(await ws.recv())
            if message["type"] == "batch":
                got.append(message)
    return got


async def read_until_closed(ws, timeout: float = 10.0) -> None:
    with pytest.raises(websockets.ConnectionClosed):
        async with asyncio.timeout(timeout):
            while True:
                await ws.recv()


async def no_limit_holds_a_connection(server) -> None:
    # The start-up probe's handler may still be finishing.
    await wait_until(lambda: not limits_of(server).connections, what="probe connection released")


# --- message size ---------------------------------------------------------------------


async def test_viewer_message_over_its_limit_closes_1009_ingest_takes_that_size(start_server):
    """A 100 KB message to /ws is closed with 1009 and a reason (the viewer
    limit is 64 KiB), counted, and the viewer leaves the hub; the same size to
    the ingest socket is accepted; another viewer keeps getting batches."""
    server = await start_server(ingest_token=TOKEN)
    async with (
        websockets.connect(server.ws_url) as good,
        websockets.connect(server.ws_url) as bad,
    ):
        assert (await recv_json(bad))["type"] == "hello"
        await wait_until(lambda: len(server.hub.clients) == 2, what="both viewers in the hub")
        await bad.send(json.dumps({"type": "ping", "id": "x" * 100_000}))
        await read_until_closed(bad)
        assert bad.close_code == 1009
        assert bad.close_reason == "message over 65536 bytes"
        await wait_until(lambda: len(server.hub.clients) == 1, what="the bad viewer gone")
        assert limits_of(server).violations["message_too_big"] == 1

        message = ingest_message("BIG", 100_000)
        assert len(message) > 100_000
        async with websockets.connect(
            server.url.replace("http", "ws") + "/api/ingest", additional_headers=AUTH
        ) as ingest:
            await ingest.send(message)
            ack = await recv_json(ingest)
        assert ack == {"type": "ack", "feed": "BIG", "accepted": len(json.loads(message)["points"])}
        await batches(good, 2)


# --- message rate and flooding --------------------------------------------------------


class RssPeak:
    """Samples a process's resident memory until stopped; keeps the peak."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.baseline = self.peak = self.process.memory_info().rss
        self._task = asyncio.ensure_future(self._sample())

    async def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, self.process.memory_info().rss)
            await asyncio.sleep(0.01)

    async def stop(self) -> int:
        """Growth over the baseline, in bytes."""
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self.peak = max(self.peak, self.process.memory_info().rss)
        return self.peak - self.baseline


def tcp_peers(pid: int) -> set[int]:
    """Client ports of the process's established TCP connections."""
    connections = psutil.Process(pid).net_connections(kind="tcp")
    return {c.raddr.port for c in connections if c.raddr and c.status == "ESTABLISHED"}


async def test_viewer_flood_is_closed_1008_with_memory_bounded():
    """A viewer sending 60 KB messages as fast as it can, its application never
    reading, is closed with 1008 "too many messages" after its burst; the
    server process grows under 50 MB, lets go of its socket, and another viewer
    goes on."""
    process, url = await start_cli("--symbols", "ACME", "--rate", "20", "--log-level", "warning")
    ws_url = url.replace("http", "ws") + "/ws"
    try:
        async with websockets.connect(ws_url) as good:
            assert (await recv_json(good))["type"] == "hello"
            memory = RssPeak(process.pid)
            payload = json.dumps({"type": "ping", "id": "x" * 60_000})
            sent = 0
            # max_queue=None: the library still takes in frames (and so sees
            # the close frame) as a browser's does; the test itself never reads.
            async with websockets.connect(ws_url, max_queue=None) as flooder:
                flooder_port = flooder.local_address[1]
                with pytest.raises(websockets.ConnectionClosed):
                    async with asyncio.timeout(30):
                        for _ in range(5000):
                            await flooder.send(payload)
                            sent += 1
                assert (flooder.close_code, flooder.close_reason) == (1008, "too many messages")
            growth = await memory.stop()
            # The default burst is 100 messages (20/s for 5 s); a few more were in flight.
            assert sent < 1000
            assert growth < 50 * MB, f"server grew {growth / MB:.0f} MB"
            await wait_until(
                lambda: flooder_port not in tcp_peers(process.pid),
                timeout=5,
                what="the server to close the flooder's socket",
            )
            await batches(good, 2)
    finally:
        await stop_process(process)


async def test_ingest_flood_meets_back_pressure_not_memory(tmp_path):
    """An ingest client pushing heavy 60 KB messages faster than the server can
    validate them (message rate limit off) is slowed by TCP back-pressure: the
    server's memory grows under 50 MB (Quart alone would queue every message:
    5,000 of them took it from 40 to 327 MB)."""
    config = tmp_path / "dashboard.toml"
    config.write_text("[server]\ningest_max_messages_per_s = 0\n")
    process, url = await start_cli(
        "--config", str(config), "--ingest-token", TOKEN, "--log-level", "warning"
    )
    try:
        message = ingest_message("FLOOD", 60_000)
        memory = RssPeak(process.pid)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 3.0  # a bounded flood: 3 s or 3,000 messages
        sent = 0
        async with websockets.connect(
            url.replace("http", "ws") + "/api/ingest", additional_headers=AUTH
        ) as flooder:
            while sent < 3000 and loop.time() < deadline:
                await flooder.send(message)
                sent += 1
            growth = await memory.stop()
        assert sent > 10  # the flood did get going
        assert growth < 50 * MB, f"server grew {growth / MB:.0f} MB after {sent} messages"
    finally:
        await stop_process(process)


async def test_ingest_over_its_message_rate_is_closed_1008_after_what_it_was_acked(
    start_server,
):
    """Past its burst an ingest socket is closed with 1008 "too many messages";
    every message acked before that is written, nothing after."""
    server = await start_server(ingest_token=TOKEN, ingest_max_messages_per_s=2.0)  # burst 10
    url = server.url.replace("http", "ws") + "/api/ingest"
    async with websockets.connect(url, additional_headers=AUTH) as ingest:
        for i in range(15):
            await ingest.send(json.dumps({"feed": "RATE", "points": [{"values": {"n": i}}]}))
        acks = 0
        with pytest.raises(websockets.ConnectionClosed):
            async with asyncio.timeout(10):
                while True:
                    assert json.loads(await ingest.recv())["type"] == "ack"
                    acks += 1
    assert (ingest.close_code, ingest.close_reason) == (1008, "too many messages")
    assert acks == 10
    await wait_until(lambda: server.hub.histories["RATE"].last_seq == 10, what="10 points held")
    assert server.hub.points_waiting == 0
    assert limits_of(server).violations["message_rate"] == 1


# --- connections per address ----------------------------------------------------------


async def test_connections_over_the_per_address_limit_are_refused_429(start_server):
    """With 3 WebSockets open from 127.0.0.1, a 4th (viewer or ingest) is
    refused with HTTP 429 and a JSON reason before any WebSocket data; the open
    ones go on; closing one makes room."""
    server = await start_server(ingest_token=TOKEN, max_connections_per_address=3)
    await no_limit_holds_a_connection(server)
    ingest_url = server.url.replace("http", "ws") + "/api/ingest"
    async with (
        websockets.connect(server.ws_url) as first,
        websockets.connect(server.ws_url) as second,
        websockets.connect(ingest_url, additional_headers=AUTH),
    ):
        for url, headers in ((server.ws_url, {}), (ingest_url, AUTH)):
            with pytest.raises(websockets.InvalidStatus) as refused:
                async with websockets.connect(url, additional_headers=headers):
                    pass
            response = refused.value.response
            assert response.status_code == 429
            body = json.loads(response.body)
            assert body["error"] == "too many connections from this address (at most 3)"
            assert body["code"] == "too_many_connections"
        assert limits_of(server).violations["connections_per_address"] == 2
        await second.close()
        await batches(first, 2)
        await wait_until(lambda: limits_of(server).connections["127.0.0.1"] == 2)
        async with websockets.connect(server.ws_url) as third:
            assert (await recv_json(third))["type"] == "hello"


# --- subscriptions --------------------------------------------------------------------


async def test_subscribes_beyond_their_burst_close_1008(start_server):
    """Subscribes beyond the subscribe burst close the viewer with 1008 "too
    many subscribe messages"; another viewer goes on."""
    server = await start_server(viewer_subscribe_burst=3)
    async with (
        websockets.connect(server.ws_url) as good,
        websockets.connect(server.ws_url + "?await_subscribe=1") as viewer,
    ):
        assert (await recv_json(viewer))["type"] == "hello"
        for _ in range(4):
            await viewer.send(json.dumps({"type": "subscribe", "feeds": ["ACME"]}))
        await read_until_closed(viewer)
        assert (viewer.close_code, viewer.close_reason) == (1008, "too many subscribe messages")
        assert limits_of(server).violations["subscribe_rate"] == 1
        await batches(good, 2)


async def test_subscribe_listing_too_many_names_gets_an_error_and_goes_on(start_server):
    """A subscribe naming more series than allowed is answered with a
    too_many_names error; the connection and its subscription go on."""
    server = await start_server(viewer_max_subscribe_names=4)
    async with websockets.connect(server.ws_url) as viewer:
        series = [f"s{i}" for i in range(5)]
        await viewer.send(json.dumps({"type": "subscribe", "series": series}))
        async with asyncio.timeout(10):
            while (message := json.loads(await viewer.recv()))["type"] != "error":
                pass
        assert message["code"] == "too_many_names"
        assert "more than 4 names" in message["message"]
        await batches(viewer, 2)
    assert limits_of(server).violations["subscribe_names"] == 1


# --- dead peers -----------------------------------------------------------------------


async def raw_handshake(port: int) -> socket.socket:
    """A WebSocket handshake on a plain socket, which then never sends a byte
    (so never answers a ping) but reads what it is sent."""
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setblocking(False)
    await loop.sock_connect(sock, ("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    await loop.sock_sendall(
        sock,
        f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        f"Sec-WebSocket-Version: 13\r\n\r\n".encode(),
    )
    return sock


async def test_silent_peer_is_dropped_and_a_live_one_stays(start_server):
    """With pings every 0.3 s and a 1 s read timeout, a peer that never answers
    pings is disconnected and leaves the hub; a `websockets` client (it answers
    pings) that sends nothing stays connected for 3 s and keeps getting batches."""
    server = await start_server(ws_ping_interval=0.3, read_timeout=1.0)
    loop = asyncio.get_running_loop()
    async with websockets.connect(server.ws_url, ping_interval=None) as live:
        assert (await recv_json(live))["type"] == "hello"
        silent = await raw_handshake(server.port)
        try:
            await wait_until(lambda: len(server.hub.clients) == 2, what="both viewers in the hub")
            received = bytearray()

            async def silent_is_cut_off() -> bool:
                chunk = await loop.sock_recv(silent, 1 << 16)
                received.extend(chunk)
                return not chunk  # the server closed the connection

            await wait_until(silent_is_cut_off, timeout=10, what="the silent peer dropped")
        finally:
            silent.close()
        assert b"\r\n\r\n\x89\x00" in received or b"\x89\x00" in received  # it was pinged
        await wait_until(lambda: len(server.hub.clients) == 1, what="the silent viewer gone")
        quiet_until = loop.time() + 3.0
        while loop.time() < quiet_until:
            await batches(live, 1)
        assert live.state is State.OPEN
        await batches(live, 2)
