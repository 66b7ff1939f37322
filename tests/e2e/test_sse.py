"""End to end: ``GET /sse``, the viewer stream as Server-Sent Events, read by
a raw HTTP/1.1 client the way a browser's EventSource reads it, on real
Hypercorn: the same messages as /ws, ids that resume with no gap and no
duplicate, the same refusals, heartbeats, and an end that says why."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import orjson
import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families

from dashboard.lagging import close_slow
from dashboard.sse import decode_id
from tests.support.nginx import site_for
from tests.support.redis_server import free_port
from tests.support.servers import http_request
from tests.support.sse import EventStream, open_events
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

TOKEN = "viewer-s3cret-Zq8"


def seqs_of(messages: list[dict[str, Any]], feed: str) -> list[int]:
    return [p["seq"] for m in messages for p in m.get("points", ()) if p["feed"] == feed]


async def read_until(stream: EventStream, enough, timeout: float = 10) -> list[dict[str, Any]]:
    """Messages until *enough(messages)* holds."""
    messages: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while not enough(messages):
            messages += await stream.messages(1)
    return messages


async def test_the_stream_sends_what_ws_sends_with_an_id_on_every_point_message(server):
    stream = await open_events(server.url + "/sse")
    try:
        assert stream.status == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.headers["cache-control"] == "no-cache"
        assert stream.headers["x-accel-buffering"] == "no"
        hello = await stream.next()
        assert hello is not None and hello.json()["type"] == "hello"
        assert 1000 <= (stream.retry or 0) <= 3000
        epoch = hello.json()["epoch"]
        assert hello.id == f"1/{epoch}/"
        snapshot = await stream.next()
        assert snapshot is not None and snapshot.json()["type"] == "snapshot"
        status = await stream.next()
        assert status is not None and status.json()["type"] == "status" and status.id is None
        batches = []
        while len(batches) < 5:
            event = await stream.next()
            assert event is not None
            if event.json()["type"] == "batch":
                batches.append(event)
                # The id says where the stream stands after this event.
                resume = decode_id(event.id or "", 1024)
                assert resume.epoch == epoch
                for point in event.json()["points"]:
                    assert resume.seqs[point["feed"]] >= point["seq"]
        messages = [snapshot.json()] + [b.json() for b in batches]
        acme = seqs_of(messages, "ACME")
        assert acme == list(range(1, acme[-1] + 1))  # no gap, no duplicate
    finally:
        await stream.close()


@pytest.mark.parametrize("via", ["header", "query"])
async def test_a_stream_resumed_from_its_last_id_misses_nothing_and_repeats_nothing(server, via):
    first = await open_events(server.url + "/sse")
    held = await read_until(first, lambda m: len(seqs_of(m, "ACME")) >= 10)
    await first.close()
    last_id = first.last_id
    before = decode_id(last_id, 1024).seqs
    # Points go on while it is away.
    await wait_until(
        lambda: server.hub.histories["ACME"].last_seq >= before["ACME"] + 10, what="new points"
    )
    if via == "header":
        second = await open_events(server.url + "/sse", {"Last-Event-ID": last_id})
    else:
        second = await open_events(server.url + f"/sse?last_event_id={last_id}")
    try:
        hello, replay = await second.messages(2)
        assert hello["type"] == "hello" and replay["type"] == "replay"
        after = await read_until(second, lambda m: len(seqs_of(m, "ACME")) >= 5)
    finally:
        await second.close()
    for feed in before:
        seqs = seqs_of(held, feed) + seqs_of([replay, *after], feed)
        assert seqs == list(range(1, seqs[-1] + 1)), feed


async def test_heartbeats_keep_a_quiet_stream_alive(start_server):
    server = await start_server(rate=0.1, sse_heartbeat=0.2)
    stream = await open_events(server.url + "/sse")
    try:
        await stream.messages(3)  # hello, snapshot, status
        event = await stream.next(timeout=2)
        assert event is not None and event.event == "ping"
        assert "ping" in stream.comments  # what a proxy sees: a comment
    finally:
        await stream.close()


async def test_another_sites_page_is_refused_and_an_allowed_one_let_in(start_server):
    server = await start_server(allowed_origins=("https://dash.example",))
    evil = await http_request(server.url + "/sse", headers={"Origin": "http://evil.example"})
    assert evil.status == 403
    assert "evil.example" in evil.json()["error"]
    allowed = await open_events(server.url + "/sse", {"Origin": "https://dash.example"})
    try:
        assert allowed.status == 200
        assert allowed.headers["access-control-allow-origin"] == "https://dash.example"
    finally:
        await allowed.close()


async def test_with_a_viewer_token_the_stream_needs_it(start_server):
    server = await start_server(viewer_token=TOKEN)
    refused = await http_request(server.url + "/sse")
    assert refused.status == 401 and refused.headers["www-authenticate"] == "Bearer"
    stream = await open_events(server.url + "/sse", {"Authorization": f"Bearer {TOKEN}"})
    try:
        assert stream.status == 200
        [hello] = await stream.messages(1)
        assert hello["type"] == "hello"
    finally:
        await stream.close()


async def test_a_logout_ends_the_stream_with_4401_as_it_ends_a_websocket(start_server):
    server = await start_server(viewer_token=TOKEN)
    login = await http_request(
        server.url + "/login",
        "POST",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        body=f"token={TOKEN}".encode(),
    )
    cookie = {"Cookie": login.headers["set-cookie"].split(";", 1)[0]}
    stream = await open_events(server.url + "/sse", cookie)
    try:
        await stream.messages(3)
        assert (await http_request(server.url + "/logout", "POST", headers=cookie)).status == 303
        while (event := await stream.next()) is not None and event.event != "close":
            pass
        assert event is not None and event.json()["code"] == 4401
        assert event.json()["reason"] == "logged out"
    finally:
        await stream.close()
    assert (await http_request(server.url + "/sse", headers=cookie)).status == 401


async def test_a_bad_last_event_id_is_refused_in_one_line(server):
    answer = await http_request(server.url + "/sse", headers={"Last-Event-ID": "1/e/ACME"})
    assert answer.status == 400
    assert answer.json() == {
        "error": "Last-Event-ID 'ACME' is not <feed>:<seq>",
        "code": "bad_event_id",
    }


async def test_streams_count_against_the_address_like_websockets(start_server):
    server = await start_server(max_connections_per_address=1)
    stream = await open_events(server.url + "/sse")
    try:
        await stream.messages(1)
        second = await http_request(server.url + "/sse")
        assert second.status == 429 and second.json()["code"] == "too_many_connections"
        with pytest.raises(websockets.InvalidStatus):
            async with websockets.connect(server.ws_url):
                pass
    finally:
        await stream.close()
    await wait_until(lambda: not server.hub.clients, what="the stream let go")
    again = await open_events(server.url + "/sse")
    assert again.status == 200
    await again.close()


async def test_transports_turn_either_endpoint_off(start_server):
    ws_only = await start_server(transports=("ws",))
    answer = await http_request(ws_only.url + "/sse")
    assert answer.status == 404 and "--transports" in answer.json()["error"]
    page = await http_request(ws_only.url + "/")
    assert b'<meta name="livefeed-transports" content="ws">' in page.body
    sse_only = await start_server(transports=("sse",))
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(sse_only.ws_url):
            pass
    assert refused.value.response.status_code == 404
    stream = await open_events(sse_only.url + "/sse")
    assert stream.status == 200
    await stream.close()


async def test_a_slow_viewer_is_told_why_its_stream_ends(server):
    stream = await open_events(server.url + "/sse")
    try:
        await stream.messages(3)
        await wait_until(lambda: len(server.hub.clients) == 1, what="the viewer")
        [client] = server.hub.clients
        close_slow(client)  # what the hub does to a viewer behind past slow_client_timeout
        while (event := await stream.next()) is not None and event.event != "close":
            pass
        assert event is not None
        assert event.json() == {
            "type": "close",
            "code": 1008,
            "reason": "too slow: reconnect and resume",
        }
        assert await stream.next() is None  # and the stream ends
    finally:
        await stream.close()


async def test_a_stop_ends_the_stream_with_going_away_and_metrics_count_it(server):
    stream = await open_events(server.url + "/sse")
    await stream.messages(2)
    metrics = await http_request(server.url + "/metrics")
    families = {f.name: f for f in text_string_to_metric_families(metrics.body.decode())}
    assert families["livefeed_sse_viewers"].samples[0].value == 1
    assert families["livefeed_viewers"].samples[0].value == 1
    await server.stop()
    while (event := await stream.next()) is not None and event.event != "close":
        pass
    assert event is not None and event.json()["code"] == 1001
    assert await stream.next() is None
    await stream.close()


async def test_candles_asked_in_the_url_come_as_on_a_websocket(server):
    stream = await open_events(server.url + "/sse?candles=ACME:price:1s,NOPE:price:1s")
    try:
        messages = await read_until(
            stream, lambda m: {"candles", "error"} <= {x["type"] for x in m}
        )
    finally:
        await stream.close()
    [candles] = [m for m in messages if m["type"] == "candles"]
    assert (candles["feed"], candles["series"], candles["interval"]) == ("ACME", "price", "1s")
    assert candles["reset"] is True and candles["bars"]
    [error] = [m for m in messages if m["type"] == "error"]
    assert error["code"] == "unknown_feed"
    bad = await http_request(server.url + "/sse?candles=ACME:price")
    assert bad.status == 400 and bad.json()["code"] == "bad_candles"


async def test_through_the_readme_nginx_events_flow_and_resume(start_server, start_nginx):
    """The README's nginx block, as printed, passes the stream on as it is
    written (proxy_buffering off) and the Last-Event-ID of a reconnect."""
    server = await start_server(symbols=("ACME",))
    nginx = start_nginx(site_for(free_port(), server.port, server.port))
    first = await open_events(nginx.url + "/sse", {"Origin": nginx.url})
    try:
        assert first.status == 200
        held = await read_until(
            first, lambda m: len(seqs_of(m, "ACME")) >= 5 and m[-1]["type"] == "batch"
        )
    finally:
        await first.close()
    second = await open_events(nginx.url + "/sse", {"Last-Event-ID": first.last_id})
    try:
        hello, replay = await second.messages(2)
        assert replay["type"] == "replay"
        after = await read_until(second, lambda m: len(seqs_of(m, "ACME")) >= 3)
    finally:
        await second.close()
    seqs = seqs_of(held, "ACME") + seqs_of([replay, *after], "ACME")
    assert seqs == list(range(1, seqs[-1] + 1))


async def test_a_reader_that_stopped_is_cut_after_slow_client_timeout(start_server):
    """A client that stops reading holds the stream's write once the socket
    buffers are full: the viewer falls behind, and after slow_client_timeout
    it is let go (1008) with its write abandoned, as a WebSocket viewer is."""
    server = await start_server(
        slow_client_timeout=1.0, max_viewer_lag=0.5, ingest_token=TOKEN, symbols=("ACME",)
    )
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fills at once
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, ("127.0.0.1", server.port))
    await loop.sock_sendall(sock, b"GET /sse HTTP/1.1\r\nHost: x\r\n\r\n")
    values = {f"series_{i}": 1.0 + i / 7 for i in range(50)}
    bulk = orjson.dumps([{"values": values}] * 1000)  # about 1 MB to the viewer
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    try:
        await wait_until(lambda: len(server.hub.clients) == 1, what="the viewer")
        for _ in range(8):  # more than the kernel's buffers hold
            url = server.url + "/api/feeds/BULK/points"
            assert (await http_request(url, "POST", headers=headers, body=bulk)).status == 200
        await wait_until(lambda: not server.hub.clients, timeout=15, what="the slow viewer let go")
    finally:
        sock.close()
    metrics = await http_request(server.url + "/metrics")
    families = {f.name: f for f in text_string_to_metric_families(metrics.body.decode())}
    codes = {s.labels["code"]: s.value for s in families["livefeed_viewer_disconnects"].samples}
    assert codes.get("1008") == 1, codes
    assert families["livefeed_sse_viewers"].samples[0].value == 0
