"""End to end: the app on real Hypercorn, real clients from `websockets`."""

import asyncio
import base64
import json
import os

import pytest
import websockets

from tests.support.clients import (
    collect,
    masked_frame,
    open_raw_websocket,
    point_seqs,
    raw_frames,
    read_until_close_frame,
    recv_json,
    server_frames,
)
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e


async def test_snapshot_then_live_batches(server):
    """A silent client gets hello, a snapshot of every feed, then live batches."""
    async with websockets.connect(server.ws_url) as ws:
        hello = await recv_json(ws)
        snapshot = await recv_json(ws)
        status = await recv_json(ws)
        assert hello["type"] == "hello" and len(hello["feeds"]) == 8
        assert status["type"] == "status"
        assert {f: s["state"] for f, s in status["feeds"].items()} == {
            f["name"]: "running" for f in hello["feeds"]
        }
        assert snapshot["type"] == "snapshot" and snapshot["feeds"] == [
            f["name"] for f in hello["feeds"]
        ]
        batches = await collect(ws, lambda got: len(got) >= 5)
    assert {m["type"] for m in batches} == {"batch"}
    for feed in snapshot["feeds"]:
        seqs = point_seqs([snapshot, *batches], feed)
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), f"{feed}: gap or duplicate"
    for point in batches[0]["points"]:
        assert set(point) == {"feed", "seq", "ts", "values"}
        assert set(point["values"]) == {"price", "volume"}


async def test_two_clients_see_identical_seqs(server):
    """Two viewers connected at once receive the same points with the same seqs."""
    async with websockets.connect(server.ws_url) as a, websockets.connect(server.ws_url) as b:
        got_a = await collect(a, lambda g: max(point_seqs(g, "ACME") or [0]) >= 60)
        got_b = await collect(b, lambda g: max(point_seqs(g, "ACME") or [0]) >= 60)
    for feed in ("ACME", "WAYNE"):
        pts_a = {p["seq"]: p for m in got_a for p in m.get("points", []) if p["feed"] == feed}
        pts_b = {p["seq"]: p for m in got_b for p in m.get("points", []) if p["feed"] == feed}
        common = pts_a.keys() & pts_b.keys()
        assert len(common) > 20
        assert all(pts_a[s] == pts_b[s] for s in common)


async def test_reconnect_with_last_seq_gets_exactly_missed_points(server):
    """A client that reconnects with its last seqs gets exactly what it missed."""
    async with websockets.connect(server.ws_url) as ws:
        got = await collect(ws, lambda g: len(g) >= 4)
    epoch = got[0]["epoch"]
    last = {f["name"]: max(point_seqs(got, f["name"])) for f in got[0]["feeds"]}
    # Let points pile up while disconnected.
    await wait_until(lambda: server.hub.histories["ACME"].last_seq >= last["ACME"] + 10)
    async with websockets.connect(server.ws_url + "?await_subscribe=1") as ws:
        assert (await recv_json(ws))["type"] == "hello"
        await ws.send(json.dumps({"type": "subscribe", "resume": {"epoch": epoch, "seqs": last}}))
        replay = await recv_json(ws)
        assert replay["type"] == "replay" and set(replay["feeds"]) == set(last)
        live = await collect(ws, lambda g: len(g) >= 3)
    for feed, seq in last.items():
        seqs = point_seqs([replay, *live], feed)
        assert seqs == list(range(seq + 1, seq + 1 + len(seqs))), feed
    assert len(point_seqs([replay], "ACME")) >= 10


async def test_resume_after_server_restart_is_a_reset(server):
    """After a restart (new epoch), a resume gets a reset snapshot of the new run."""
    async with websockets.connect(server.ws_url) as ws:
        hello = await recv_json(ws)
    await server.restart()
    async with websockets.connect(server.ws_url + "?await_subscribe=1") as ws:
        new_hello = await recv_json(ws)
        assert new_hello["epoch"] != hello["epoch"]
        resume = {"epoch": hello["epoch"], "seqs": {"ACME": 5}}
        await ws.send(json.dumps({"type": "subscribe", "resume": resume}))
        replay, snapshot = await recv_json(ws), await recv_json(ws)
    assert replay == {"type": "replay", "epoch": new_hello["epoch"], "feeds": [], "points": []}
    assert snapshot["type"] == "snapshot" and snapshot["reset"] is True
    assert snapshot["epoch"] == new_hello["epoch"]


async def test_subscribe_narrows_live_stream(server):
    """After subscribing to one feed's price, only that arrives."""
    async with websockets.connect(server.ws_url + "?await_subscribe=1") as ws:
        await recv_json(ws)
        await ws.send(json.dumps({"type": "subscribe", "feeds": ["STARK"], "series": ["price"]}))
        got = await collect(ws, lambda g: len(g) >= 4)
    assert got[0]["type"] == "snapshot" and got[0]["feeds"] == ["STARK"]
    assert [m["type"] for m in got[:2]] == ["snapshot", "status"]
    points = [p for m in got for p in m.get("points", [])]
    assert points and {p["feed"] for p in points} == {"STARK"}
    assert all(list(p["values"]) == ["price"] for p in points)


async def test_malformed_messages_get_errors_and_everyone_goes_on(server):
    """Garbage from one client is answered with errors; it and others keep streaming."""
    async with websockets.connect(server.ws_url) as bad, websockets.connect(server.ws_url) as good:
        await collect(bad, lambda g: len(g) >= 2)
        for garbage in (
            "{",
            "[]",
            '{"type":"x"}',
            b"\x00\xff",
            b"",
            '{"type":"subscribe","feeds":["Z"]}',
            '{"type":"subscribe","series":["colour"]}',
        ):
            await bad.send(garbage)
        got = await collect(bad, lambda g: sum(m["type"] == "error" for m in g) >= 7)
        errors = [m["code"] for m in got if m["type"] == "error"]
        assert errors == [
            "bad_json",
            "bad_message",
            "unknown_type",
            "bad_json",
            "bad_json",
            "unknown_feed",
            "unknown_series",
        ]
        await bad.send(json.dumps({"type": "ping", "id": 9}))
        after = await collect(bad, lambda g: any(m["type"] == "pong" for m in g))
        assert after[-1] == {"type": "pong", "id": 9}
        still = await collect(bad, lambda g: any(m["type"] == "batch" for m in g))
        assert still[-1]["type"] == "batch"
        good_got = await collect(good, lambda g: sum(m["type"] == "batch" for m in g) >= 3)
        assert not any(m["type"] == "error" for m in good_got)


async def test_await_subscribe_times_out_with_1008(start_server):
    """A client that asks to speak first but stays silent is closed with 1008."""
    server = await start_server(await_subscribe_timeout=0.3)
    async with websockets.connect(server.ws_url + "?await_subscribe=1") as ws:
        assert (await recv_json(ws))["type"] == "hello"
        with pytest.raises(websockets.ConnectionClosed):
            await recv_json(ws)
    assert ws.close_code == 1008


async def test_shutdown_closes_viewers_with_1001(start_server):
    """Stopping the server closes every viewer with 1001 (going away), not 1011."""
    server = await start_server()
    async with websockets.connect(server.ws_url) as a, websockets.connect(server.ws_url) as b:
        await recv_json(a)
        await recv_json(b)
        await server.stop()
        for ws in (a, b):
            with pytest.raises(websockets.ConnectionClosed):
                while True:
                    await recv_json(ws)
            assert ws.close_code == 1001


async def raw_get(server, path: str) -> int:
    """GET *path* byte for byte (no client-side normalisation) and return the status."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    async with asyncio.timeout(5):
        response = await reader.read()  # to the end: Connection: close
    writer.close()
    await writer.wait_closed()
    return int(response.split(maxsplit=2)[1])


@pytest.mark.parametrize(
    "path",
    [
        "/static/../pyproject.toml",
        "/static/../x",
        "/static/v1/../../pyproject.toml",
        "/static/v1/%2e%2e/%2e%2e/pyproject.toml",
        "/static/v1/..%2f..%2fpyproject.toml",
        "/static/v1/js/../../../dashboard/web/app.py",
        "/static/v1/..%5c..%5cpyproject.toml",
    ],
)
async def test_static_path_traversal_is_404(server, path):
    """Paths that try to leave static/ get 404 from the real server."""
    assert await raw_get(server, path) == 404
    assert await raw_get(server, "/static/v1/js/main.js") == 200


async def test_client_that_stops_reading_is_closed_1008_and_others_go_on(start_server):
    """A viewer that stops reading stays behind past slow_client_timeout and
    is closed with 1008; a reading viewer meanwhile gets every point."""
    symbols = tuple(f"S{i}" for i in range(100))
    server = await start_server(
        symbols=symbols,
        rate=100.0,
        client_max_frames=8,
        client_conflate_frames=4,
        slow_client_timeout=1.0,
    )
    stalled = open_raw_websocket(server.port)
    try:
        async with websockets.connect(server.ws_url, max_size=None) as reader:
            got: list[dict] = []

            async def read_until_stalled_dropped() -> bool:
                got.append(json.loads(await reader.recv()))
                return len(server.hub.clients) == 1

            await wait_until(read_until_stalled_dropped, timeout=60, what="stalled client dropped")
            got += await collect(reader, lambda g: len(g) >= 5)
        seqs = point_seqs(got, "S0")
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        # Reading again, the stalled client drains what was buffered, then the close.
        async with asyncio.timeout(30):
            close_code = await read_until_close_frame(stalled)
    finally:
        stalled.close()
    assert close_code == 1008


async def test_viewer_that_pauses_gets_a_conflated_batch_then_live(start_server):
    """A viewer that stops reading until it falls behind is not dropped: when
    it reads again it gets a batch marked conflated, then live batches."""
    symbols = tuple(f"S{i}" for i in range(100))
    server = await start_server(
        symbols=symbols,
        rate=100.0,
        client_max_frames=256,
        client_conflate_frames=4,
        slow_client_timeout=60.0,
    )
    sock = open_raw_websocket(server.port)
    try:
        await wait_until(
            lambda: any(c.lagging_since is not None for c in server.hub.clients),
            timeout=30,
            what="the paused viewer is conflated",
        )
        kinds: list[str] = []
        async with asyncio.timeout(30):
            async for opcode, payload in raw_frames(sock):
                if opcode == 0x9:
                    continue  # the server's pings (ws_ping_interval)
                assert opcode == 0x1, f"frame {opcode:#x}: {payload[:80]!r}"
                message = json.loads(payload)
                kinds.append("conflated" if message.get("conflated") else message["type"])
                if "conflated" in kinds and kinds[-3:] == ["batch"] * 3:
                    break
        assert all(not c.closing for c in server.hub.clients)
    finally:
        sock.close()
    assert kinds.count("conflated") >= 1 and kinds[-1] == "batch"


async def test_compression_refused_by_default(server):
    """A browser-like client offering permessage-deflate gets plain frames by default."""
    async with websockets.connect(server.ws_url, compression="deflate") as ws:
        assert ws.response.headers.get("Sec-WebSocket-Extensions") is None
        assert (await recv_json(ws))["type"] == "hello"


async def test_compression_when_enabled(start_server):
    """With ws_compression on, the offer is accepted and frames still decode."""
    server = await start_server(ws_compression=True)
    async with websockets.connect(server.ws_url, compression="deflate") as ws:
        assert "permessage-deflate" in ws.response.headers["Sec-WebSocket-Extensions"]
        assert (await recv_json(ws))["type"] == "hello"
        assert (await recv_json(ws))["type"] == "snapshot"


async def test_compressed_frame_without_extension_is_a_protocol_error(server):
    """A client that sends a compressed (RSV1) frame it never negotiated is
    disconnected; the server never inflates it."""
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
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
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert b" 101 " in head and b"permessage-deflate" not in head.lower()
    writer.write(masked_frame(0x1, b"\x4b\x4c\x04\x00", rsv1=True))  # deflated text
    await writer.drain()
    # wsproto reports the protocol error (1002); the server sends it as a
    # close frame (Hypercorn alone would hang up without one) and hangs up:
    # read() returns, and nothing in the frame was treated as a message.
    rest = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    frames = list(server_frames(rest))
    types = [json.loads(payload)["type"] for opcode, payload in frames if opcode == 0x1]
    assert types[:1] == ["hello"] and "error" not in types
    opcode, payload = frames[-1]
    assert opcode == 0x8 and int.from_bytes(payload[:2], "big") == 1002
