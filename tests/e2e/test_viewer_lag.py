"""Viewers behind 10,000-point ingest batches, on a real server: conflated by
the age of what waits for them, closed by the slow-viewer rule, and shown on
/metrics."""

import asyncio
import json
import time

import pytest
import websockets

from tests.support.clients import open_raw_websocket, raw_frames
from tests.support.ingest import TOKEN, push
from tests.support.metrics import metric
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

BULK = 10_000  # points per request: ~560 KB batches
LAG = "livefeed_viewer_lag_seconds"


async def push_bulk(server, start: int) -> None:
    """One ingest request of BULK points to feed BULK, every one acked."""
    points = [{"values": {"v": float(start + i)}} for i in range(BULK)]
    status, _, body = await push(server, "BULK", points)
    assert (status, body["accepted"]) == (200, BULK), body


async def test_viewer_behind_bulk_batches_is_conflated_and_shown_on_metrics(start_server):
    """A viewer that pauses while 10,000-point batches arrive holds a handful
    of frames, far below client_conflate_frames: once its oldest unsent one is
    older than max_viewer_lag, /metrics shows it and the viewer is sent no more
    stale batches; reading again, it gets a conflated batch with the latest."""
    server = await start_server(
        ingest_token=TOKEN,
        max_viewer_lag=0.5,
        client_conflate_frames=64,
        max_viewer_bytes=2**30,  # the age alone decides here
        history_size=200,  # a small snapshot
        read_timeout=0,  # the paused viewer answers no pings
        rate=0.01,  # the tickers all but silent: the bulk batches are all its frames
    )
    await wait_until(lambda: not server.hub.clients, what="the start-up probe gone")
    paused = open_raw_websocket(server.port)  # reads nothing until told
    try:
        await wait_until(lambda: len(server.hub.clients) == 1, what="the viewer connected")
        posted = 0
        # Until the kernel's buffers are full and a frame has waited 0.5 s
        # unsent (bounded: 40 requests, 22 MB).
        while await metric(server, LAG) < 0.5:
            assert posted < 40, "the viewer's lag never reached max_viewer_lag"
            await push_bulk(server, posted * BULK)
            posted += 1
        (viewer,) = server.hub.clients
        for _ in range(3):  # sent to nobody: it is behind
            await push_bulk(server, posted * BULK)
            posted += 1
        # Held by the first flush that had points for it once it was behind
        # (with nothing new to send, there is nothing to hold back).
        await wait_until(lambda: viewer.lagging_since is not None, what="the viewer held")
        last = server.hub.histories["BULK"].last_seq
        assert last == posted * BULK
        got: list[dict] = []
        async for opcode, payload in raw_frames(paused):
            if opcode == 0x1:
                got.append(json.loads(payload))
                if got[-1].get("conflated"):
                    break
            assert len(got) < 200, "no conflated batch"
    finally:
        paused.close()
    conflated = got[-1]["points"]
    assert ("BULK", last) in {(p["feed"], p["seq"]) for p in conflated}
    batches = [m for m in got[:-1] if m["type"] == "batch"]
    held_back = BULK * posted - sum(p["feed"] == "BULK" for m in batches for p in m["points"])
    assert held_back >= 3 * BULK  # the stale batches were never sent
    assert await metric(server, "livefeed_conflations_total") >= 1


async def test_viewer_that_never_reads_is_closed_1008_by_the_slow_viewer_rule(start_server):
    """A viewer that never reads is closed with 1008 about max_viewer_lag +
    slow_client_timeout after its socket stopped taking frames, however few
    they are: not left for the read timeout (20 s here) to drop."""
    server = await start_server(
        ingest_token=TOKEN,
        max_viewer_lag=0.5,
        slow_client_timeout=1.0,
        client_max_frames=1000,
        client_conflate_frames=1000,  # frames alone would take 25 s of ticks
        max_viewer_bytes=2**30,
        history_size=200,
        ws_ping_interval=1.0,
        read_timeout=20.0,
    )
    await wait_until(lambda: not server.hub.clients, what="the start-up probe gone")
    stuck = open_raw_websocket(server.port)
    try:
        await wait_until(lambda: len(server.hub.clients) == 1, what="the viewer connected")
        for i in range(20):  # 11 MB: more than its socket's buffers hold
            await push_bulk(server, i * BULK)
        full = time.monotonic()

        async def closed_1008() -> bool:
            return await metric(server, "livefeed_viewer_disconnects_total", code="1008") == 1

        await wait_until(closed_1008, timeout=8.0, what="the stuck viewer closed with 1008")
        took = time.monotonic() - full
    finally:
        stuck.close()
    assert took < 5.0, f"closed {took:.1f} s after its buffers filled (0.5 + 1.0 s expected)"


async def test_viewer_behind_in_socket_buffers_is_seen_conflated_and_catches_up(start_server):
    """A websockets client that stops reading (max_queue=1: its library then
    stops reading the socket) while points flow: every frame leaves the
    server's outbox for the kernel's socket buffers, so the outbox looks
    empty. The server's ping probe goes unanswered, so /metrics shows the lag
    past max_viewer_lag and the viewer is held; reading again, it gets a
    conflated batch with the latest points, then live batches, and the gauge
    falls back."""
    server = await start_server(
        symbols=tuple(f"S{i}" for i in range(20)),
        rate=50.0,  # 1,000 points/s: seconds of it fit in the socket buffers
        max_viewer_lag=0.5,
        slow_client_timeout=60.0,
    )
    await wait_until(lambda: not server.hub.clients, what="the start-up probe gone")
    async with websockets.connect(server.ws_url, max_queue=1, max_size=None) as viewer:
        first = json.loads(await viewer.recv())
        assert first["type"] == "hello"
        (client,) = server.hub.clients

        # It reads nothing now, until the server has seen it fall behind.
        async def lag_shown() -> bool:
            return await metric(server, LAG) >= 0.5

        await wait_until(lag_shown, timeout=15.0, what="the unread viewer's lag on /metrics")
        assert client.backlog(time.monotonic()).frames < 64  # not behind by frames
        await wait_until(lambda: client.lagging_since is not None, what="the viewer held")
        kinds: list[str] = []
        async with asyncio.timeout(30):
            while "conflated" not in kinds or kinds[-3:] != ["batch"] * 3:
                message = json.loads(await viewer.recv())
                kinds.append("conflated" if message.get("conflated") else message["type"])

        async def keep_reading() -> None:
            while True:
                await viewer.recv()

        reading = asyncio.ensure_future(keep_reading())
        try:

            async def lag_gone() -> bool:
                return await metric(server, LAG) < 0.5

            await wait_until(lag_gone, what="the gauge back under max_viewer_lag")
        finally:
            reading.cancel()
    stale = kinds.index("conflated")
    # What it read before the conflated batch is what was written before it
    # was held: about max_viewer_lag of batches (0.05 s apart), not all of
    # the time it was not reading.
    assert kinds[:stale].count("batch") <= 40, kinds
    assert client.lagging_since is None
