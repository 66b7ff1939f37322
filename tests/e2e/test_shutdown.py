"""A stop ends within --shutdown-timeout whatever the viewers do (issue 10).

Viewers that stopped reading hold a write the server cannot finish: their TCP
windows are full. SIGTERM must still end the process within the grace period
(plus a margin for the last flush and the interpreter's exit), with status 0,
no traceback in the log, and the history written so a restart keeps the epoch.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import socket
import time

import pytest
import websockets

from tests.support.clients import recv_json
from tests.support.log_lines import LogLines
from tests.support.servers import get_json, http_request, start_cli, stop_process

pytestmark = pytest.mark.e2e

GRACE = 2.0
#: Time past the grace for the store's last write and the interpreter's exit.
MARGIN = 2.5
#: A receive buffer this small fills after a few frames (the kernel doubles it).
SMALL_RCVBUF = 2048
TOKEN = "s3cret"


async def stalled_viewer(url: str) -> socket.socket:
    """A viewer that completes the WebSocket handshake and never reads again."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_RCVBUF)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, (host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    await loop.sock_sendall(sock, request.encode())
    head = b""
    async with asyncio.timeout(10):
        while b"\r\n\r\n" not in head:
            head += await loop.sock_recv(sock, 1)  # byte by byte: nothing past the head
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


async def read_one_frame_a_second(ws: websockets.ClientConnection) -> None:
    try:
        while True:
            await ws.recv()
            await asyncio.sleep(1.0)
    except websockets.ConnectionClosed:
        pass


async def push_bulk(url: str, points: int = 1000, series: int = 50) -> None:
    """One large ingest request: about a megabyte for every viewer, in few
    points (the history store bounds the points it has yet to write)."""
    values = {f"series_{i}": 1.0 + i / 7 for i in range(series)}
    body = json.dumps([{"values": values}] * points).encode()
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    response = await http_request(
        url + "/api/feeds/BULK/points", "POST", headers=headers, body=body
    )
    assert response.status == 200, response.body


async def test_sigterm_ends_within_the_grace_with_stalled_viewers_and_keeps_the_history(tmp_path):
    """3 viewers whose TCP windows are full and one reading a frame a second,
    points flowing: SIGTERM ends the process within --shutdown-timeout plus a
    margin, status 0, no traceback or CancelledError in the log; a restart on
    the same --history-db keeps the epoch and a resuming viewer gets a replay."""
    db = tmp_path / "history.db"
    args = ("--symbols", "ACME,GLOBX", "--rate", "50")
    args += ("--history-db", str(db))
    # The grace is given in the environment, which today's code also reads (the
    # option is tested in tests/unit/test_config_sources.py).
    env = {"DASHBOARD_SHUTDOWN_TIMEOUT": str(GRACE), "DASHBOARD_INGEST_TOKEN": TOKEN}
    process, url = await start_cli(*args, env=env)
    log = LogLines(process.stderr)
    stalled: list[socket.socket] = []
    slow_task = None
    try:
        epoch = (await get_json(url + "/healthz"))["epoch"]
        for _ in range(3):
            stalled.append(await stalled_viewer(url))
        small = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        small.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_RCVBUF)
        host, port = url.removeprefix("http://").split(":")
        small.connect((host, int(port)))
        slow = await websockets.connect(
            url.replace("http", "ws") + "/ws",
            sock=small,
            max_queue=1,
            max_size=None,
            ping_interval=None,
        )
        slow_task = asyncio.create_task(read_one_frame_a_second(slow))
        # Big ingested batches fill the server's socket buffers (on loopback
        # they grow to megabytes) until every viewer's write is stuck on a
        # full window and the hub starts conflating for it: the soak's state.
        async with asyncio.timeout(30):
            while len(log.clients_with("viewer_lagging")) < 4:
                await push_bulk(url)
        listed = (await get_json(url + "/api/feeds"))["feeds"]
        seen = {f["name"]: f["last_seq"] for f in listed if f["name"] in ("ACME", "GLOBX")}

        process.send_signal(signal.SIGTERM)
        stopped_at = time.monotonic()
        try:
            async with asyncio.timeout(GRACE + MARGIN):
                status = await process.wait()
        except TimeoutError:
            pytest.fail(f"still running {GRACE + MARGIN} s after SIGTERM (grace {GRACE} s)")
        took = time.monotonic() - stopped_at
    finally:
        for sock in stalled:
            sock.close()
        if slow_task is not None:
            slow_task.cancel()
            slow.transport.abort()
        await stop_process(process)
    text = await log.text()
    assert status == 0, text
    assert took < GRACE + MARGIN
    for noise in ("Traceback", "Exception in callback", "CancelledError", "Task was destroyed"):
        assert noise not in text, text
    assert "event=server_stopped" in text
    # The cut-off viewers are logged as closed by the server, without a close frame.
    cut = 'code=1006 reason="server shutting down" by=server'
    assert len([line for line in log.lines if cut in line]) >= 3, text

    process, url = await start_cli(*args, env=env)
    try:
        assert (await get_json(url + "/healthz"))["epoch"] == epoch
        async with websockets.connect(url.replace("http", "ws") + "/ws?await_subscribe=1") as ws:
            assert (await recv_json(ws))["epoch"] == epoch
            resume = {"epoch": epoch, "seqs": seen}
            await ws.send(json.dumps({"type": "subscribe", "resume": resume}))
            replay = await recv_json(ws)
    finally:
        await stop_process(process)
    assert replay["type"] == "replay", replay["type"]
    for feed, last in seen.items():
        # The points published between that listing and the stop were written.
        seqs = [p["seq"] for p in replay["points"] if p["feed"] == feed]
        assert seqs and seqs == list(range(last + 1, last + 1 + len(seqs))), feed


async def test_a_stop_with_viewers_that_read_does_not_wait_for_the_grace(start_server):
    """Viewers that take their close frame get 1001 and the stop ends at once:
    the grace bounds a stop, it is not a wait every stop pays."""
    server = await start_server(shutdown_timeout=10.0)
    async with (
        websockets.connect(server.ws_url) as first,
        websockets.connect(server.ws_url) as second,
    ):
        for ws in (first, second):
            assert (await recv_json(ws))["type"] == "hello"
        started = time.monotonic()
        await server.stop()
        took = time.monotonic() - started
        for ws in (first, second):
            with pytest.raises(websockets.ConnectionClosed):
                while True:
                    await recv_json(ws)
            assert ws.close_code == 1001
    assert took < 3.0  # not the 10 s grace
