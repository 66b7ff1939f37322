"""Per-client limits on a real server: each violation ends in a clear close code
(1009 too big, 1008 policy) or a 4xx with a reason, is counted, and every
other client goes on."""

import asyncio
import base64
import contextlib
import json
import os
import socket

import psutil
import pytest
import websockets
from websockets.protocol import State

from dashboard.web.state import runtime_of
from tests.support.clients import recv_json, server_frames
from tests.support.servers import start_cli, stop_process
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MB = 2**20


def limits_of(server):
    return runtime_of(server.app).limits


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
    """A viewer that sends 500 messages of 60 KB as fast as it can, never
    reading meanwhile, is closed with 1008 "too many messages" after its burst
    (100): reading afterwards it finds the close and its reason. The server
    process grows under 50 MB, lets go of the socket, and another viewer goes on."""
    process, url = await start_cli("--symbols", "ACME", "--rate", "20", "--log-level", "warning")
    ws_url = url.replace("http", "ws") + "/ws"
    try:
        async with websockets.connect(ws_url) as good:
            assert (await recv_json(good))["type"] == "hello"
            memory = RssPeak(process.pid)
            payload = json.dumps({"type": "ping", "id": "x" * 60_000})
            async with websockets.connect(ws_url) as flooder:
                flooder_port = flooder.local_address[1]
                with contextlib.suppress(websockets.ConnectionClosed):
                    async with asyncio.timeout(30):
                        for _ in range(500):
                            await flooder.send(payload)
                await read_until_closed(flooder)
            assert (flooder.close_code, flooder.close_reason) == (1008, "too many messages")
            growth = await memory.stop()
            assert growth < 50 * MB, f"server grew {growth / MB:.0f} MB"
            await wait_until(
                lambda: flooder_port not in tcp_peers(process.pid),
                timeout=5,
                what="the server to close the flooder's socket",
            )
            await batches(good, 2)
    finally:
        await stop_process(process)


def masked_text_frame(payload: bytes) -> bytes:
    """A client text frame; the all-zero mask (a valid key) leaves the payload as is."""
    assert 126 <= len(payload) < 2**16
    return bytes([0x81, 0x80 | 126]) + len(payload).to_bytes(2, "big") + bytes(4) + payload


async def flood_until_cut_off(sock: socket.socket, frame: bytes, timeout: float) -> None:
    """Send *frame* over and over until the server resets the connection."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            while True:
                await loop.sock_sendall(sock, frame)
    except TimeoutError:
        raise AssertionError(f"the server still held the flooder after {timeout} s") from None
    except ConnectionError:  # reset, or a broken pipe: cut off
        return


async def test_raw_flood_that_never_reads_is_cut_off(start_server):
    """A raw client that floods 60 KB frames and never reads a byte (so never
    sees the close frame) is cut off by the server within seconds, instead of
    being held open by back-pressure; it leaves the hub and others go on."""
    server = await start_server()
    frame = masked_text_frame(json.dumps({"type": "ping", "id": "x" * 60_000}).encode())
    # max_queue=None: batches pile up in the library while the test floods,
    # instead of pausing its reading (and then its closing handshake).
    async with websockets.connect(server.ws_url, max_queue=None) as good:
        assert (await recv_json(good))["type"] == "hello"
        flooder = await raw_handshake(server.port)
        try:
            await wait_until(lambda: len(server.hub.clients) == 2, what="both viewers in the hub")
            await flood_until_cut_off(flooder, frame, timeout=15)
        finally:
            flooder.close()
        await wait_until(lambda: len(server.hub.clients) == 1, what="the flooder gone")
        assert limits_of(server).violations["message_rate"] == 1
        await batches(good, 2)


async def test_ingest_flood_meets_back_pressure_not_memory(tmp_path):
    """An ingest client pushing heavy 60 KB messages faster than the server can
    validate them (message rate limit off) is slowed by TCP back-pressure: the
    server's memory grows under 50 MB (Quart's own unbounded queue took every
    message in: about 2,500 in 3 s, +150 MB)."""
    config = tmp_path / "dashboard.toml"
    # With a read_timeout Hypercorn runs each socket read as a task of its
    # own, which incidentally slows its reading next to a busy handler and
    # would hide an unbounded queue (+28 MB in 3 s instead of +151 MB): off.
    config.write_text("[server]\ningest_max_messages_per_s = 0\nread_timeout = 0\n")
    process, url = await start_cli(
        "--config", str(config), "--ingest-token", TOKEN, "--log-level", "warning"
    )
    try:
        message = ingest_message("FLOOD", 60_000)
        memory = RssPeak(process.pid)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 3.0  # a bounded flood: 3 s or 3,000 messages
        sent = 0
        # max_queue=None: the acks are taken in (never read by the test), so
        # the close handshake at the end is not stuck behind them.
        async with websockets.connect(
            url.replace("http", "ws") + "/api/ingest", additional_headers=AUTH, max_queue=None
        ) as flooder:
            while sent < 3000 and loop.time() < deadline:
                await flooder.send(message)
                sent += 1
            growth = await memory.stop()
        assert sent > 10  # the flood did get going
        assert growth < 50 * MB, f"server grew {growth / MB:.0f} MB after {sent} messages"
    finally:
        await stop_process(process)


async def test_ingest_over_its_message_rate_is_slowed_not_closed_and_loses_nothing(
    start_server,
):
    """Past its burst an ingest socket is slowed to its message rate (the
    server reads its next message only when it may take it), not closed:
    every message is acked and written, in order."""
    server = await start_server(ingest_token=TOKEN, ingest_max_messages_per_s=10.0)  # burst 50
    url = server.url.replace("http", "ws") + "/api/ingest"
    loop = asyncio.get_running_loop()
    async with websockets.connect(url, additional_headers=AUTH) as ingest:
        started = loop.time()
        for i in range(70):  # as fast as it can: 20 past the burst
            await ingest.send(json.dumps({"feed": "RATE", "points": [{"values": {"n": i}}]}))
        answers = [await recv_json(ingest, timeout=10) for _ in range(70)]
        took = loop.time() - started
    assert [a["type"] for a in answers] == ["ack"] * 70
    assert ingest.close_code == 1000  # closed by the test, not by the server
    assert took >= 1.5, f"70 messages acked in {took:.2f} s: not slowed to 10/s past 50"
    history = server.hub.histories["RATE"]
    await wait_until(lambda: history.last_seq >= 70, what="every point held")
    assert [p.values["n"] for p in history.recent()] == list(range(70))
    assert limits_of(server).violations["message_rate"] == 0


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


async def raw_handshake(port: int, receive_buffer: int | None = None) -> socket.socket:
    """A WebSocket handshake on a plain socket, read up to the end of the 101
    response; what the socket does next is up to the test."""
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    if receive_buffer is not None:  # set before connecting: the window is negotiated with it
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.setblocking(False)
    await loop.sock_connect(sock, ("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    await loop.sock_sendall(
        sock,
        f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        f"Sec-WebSocket-Version: 13\r\n\r\n".encode(),
    )
    head = b""
    async with asyncio.timeout(5):
        while b"\r\n\r\n" not in head:  # byte by byte: nothing after the head is taken
            head += await loop.sock_recv(sock, 1)
    assert head.startswith(b"HTTP/1.1 101 "), head
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
        # It was pinged (viewer pings carry a delivery probe's payload).
        assert any(opcode == 0x9 for opcode, _ in server_frames(bytes(received)))
        await wait_until(lambda: len(server.hub.clients) == 1, what="the silent viewer gone")
        quiet_until = loop.time() + 3.0
        while loop.time() < quiet_until:
            await batches(live, 1)
        assert live.state is State.OPEN
        await batches(live, 2)


async def test_data_before_the_handshake_answer_is_refused_and_forgotten(server):
    """A client that sends a frame before the server has answered its handshake
    gets 400 and is disconnected, and its viewer leaves the hub (Hypercorn
    alone keeps both the connection and the handler forever)."""
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setblocking(False)
    try:
        await loop.sock_connect(sock, ("127.0.0.1", server.port))
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        await loop.sock_sendall(sock, request + masked_text_frame(b'{"type": "ping"}' * 10))
        answer = b""
        async with asyncio.timeout(5):
            while chunk := await loop.sock_recv(sock, 1 << 16):
                answer += chunk
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 400 ")
    await wait_until(lambda: not server.hub.clients, what="the viewer gone from the hub")
    await no_limit_holds_a_connection(server)


def server_holds_socket_of(client_port: int) -> bool:
    """Whether this process (the in-process server) still has a socket to *client_port*."""
    connections = psutil.Process().net_connections(kind="tcp")
    return any(c.raddr and c.raddr.port == client_port for c in connections)


async def test_flooder_that_never_reads_is_cut_off_and_let_go(start_server):
    """A viewer that floods and never reads a byte, so that even its close frame
    cannot be written, is closed (1008), cut off, and its socket released by the
    server within seconds; another viewer goes on. (Hypercorn alone would wait
    for room in its app queue and for unsent bytes to be taken, for good.)"""
    server = await start_server(ingest_token=TOKEN, history_size=100_000)
    await no_limit_holds_a_connection(server)
    async with websockets.connect(
        server.url.replace("http", "ws") + "/api/ingest", additional_headers=AUTH
    ) as ingest:
        await ingest.send(ingest_message("BULK", 2_300_000))  # a snapshot of megabytes
        # Validating and publishing its points takes seconds on a loaded machine.
        assert (await recv_json(ingest, timeout=30))["type"] == "ack"
    frame = masked_text_frame(json.dumps({"type": "ping", "id": "x" * 60_000}).encode())
    async with websockets.connect(server.ws_url, max_queue=None, max_size=None) as good:
        await batches(good, 1)
        tasks_before = len(asyncio.all_tasks())  # this test's, and the server's
        stalled = await raw_handshake(server.port, receive_buffer=4096)
        try:
            port = stalled.getsockname()[1]
            await flood_until_cut_off(stalled, frame, timeout=15)
        finally:
            stalled.close()
        await wait_until(
            lambda: not server_holds_socket_of(port), timeout=5, what="the socket released"
        )
        await wait_until(
            lambda: len(asyncio.all_tasks()) <= tasks_before, what="no task left for it"
        )
        assert len(server.hub.clients) == 1
        assert limits_of(server).violations["message_rate"] == 1
        await batches(good, 2)
