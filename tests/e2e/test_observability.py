"""End to end: GET /metrics and structured logs on real Hypercorn."""

import asyncio
import json
import logging
import re

import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families

from feeds import feed
from tests.support.clients import open_raw_websocket, recv_json
from tests.support.ingest import TOKEN, connect_ingest, http, push
from tests.support.metrics import get_text, metric, scrape, value
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e


async def no_viewers(server) -> None:
    """Wait until the connection gauge is 0 (the start-up probe's viewer has left)."""

    async def zero() -> bool:
        return await metric(server, "livefeed_viewers") == 0

    await wait_until(zero, what="livefeed_viewers == 0")


async def test_metrics_endpoint_serves_prometheus_text_with_every_metric(server):
    """/metrics answers in the Prometheus text format and names every livefeed metric."""
    content_type, text = await asyncio.to_thread(get_text, server.url + "/metrics")
    assert content_type.startswith("text/plain; version=0.0.4")
    names = {family.name for family in text_string_to_metric_families(text)}
    assert {
        "livefeed_viewers",
        "livefeed_frames_sent",
        "livefeed_points_sent",
        "livefeed_bytes_sent",
        "livefeed_conflations",
        "livefeed_viewer_disconnects",
        "livefeed_feed_restarts",
        "livefeed_ingest_points_accepted",
        "livefeed_ingest_rejected",
        "livefeed_hub_lag_seconds",
        "livefeed_viewer_lag_seconds",
        "livefeed_hub_flush_seconds",
        "process_resident_memory_bytes",
    } <= names


async def test_viewer_gauge_goes_0_1_0(server):
    """livefeed_viewers is 0, then 1 while a websockets client is connected, then 0."""
    await no_viewers(server)
    async with websockets.connect(server.ws_url) as ws:
        await recv_json(ws)
        assert await metric(server, "livefeed_viewers") == 1
    await no_viewers(server)


async def test_frames_points_and_bytes_count_what_a_viewer_reads(server):
    """While a viewer reads, frames, points and bytes sent grow by at least what it got."""
    await no_viewers(server)
    before = await scrape(server)
    frames = points = size = 0
    async with websockets.connect(server.ws_url, max_size=None) as ws:
        while frames < 10:
            async with asyncio.timeout(10):
                text = await ws.recv()
            frames, size = frames + 1, size + len(text.encode())
            points += len(json.loads(text).get("points", []))
        after = await scrape(server)
    assert points > 0
    for name, got in [
        ("livefeed_frames_sent_total", frames),
        ("livefeed_points_sent_total", points),
        ("livefeed_bytes_sent_total", size),
    ]:
        assert value(after, name) - value(before, name) >= got, name


async def disconnects(server, code: int) -> float:
    return await metric(server, "livefeed_viewer_disconnects_total", code=str(code))


async def test_disconnects_counted_by_the_peer_close_code(server):
    """A viewer closing with 1000, one closing with 1001 and one that vanishes
    without a close frame are counted under codes 1000, 1001 and 1006."""
    await no_viewers(server)
    counts = {code: await disconnects(server, code) for code in (1000, 1001, 1006)}
    async with websockets.connect(server.ws_url) as ws:
        await recv_json(ws)
    async with websockets.connect(server.ws_url) as ws:
        await recv_json(ws)
        await ws.close(1001, "tab closed")
    await no_viewers(server)
    vanishing = open_raw_websocket(server.port)
    try:

        async def connected() -> bool:
            return await metric(server, "livefeed_viewers") == 1

        await wait_until(connected, what="raw viewer registered")
    finally:
        vanishing.close()  # a FIN, no close frame
    await no_viewers(server)
    for code in (1000, 1001, 1006):
        assert await disconnects(server, code) == counts[code] + 1, code


async def test_viewer_connect_and_close_are_logged_with_address_and_reason(start_server, caplog):
    """A viewer closed by the server logs one viewer_closed line with its
    host:port, code and quoted reason; a peer's own close logs its reason."""
    caplog.set_level(logging.INFO, logger="dashboard")
    server = await start_server(await_subscribe_timeout=0.2)
    async with websockets.connect(server.ws_url + "?await_subscribe=1") as ws:
        host, port = ws.local_address[:2]
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                await recv_json(ws)
    async with websockets.connect(server.ws_url) as peer:
        peer_port = peer.local_address[1]
        await peer.close(1001, "tab closed")
    await no_viewers(server)
    lines = [r.getMessage() for r in caplog.records if r.name == "dashboard.web.viewer"]
    # Its permessage-deflate offer refused (the default), it takes the fast path.
    assert f"event=viewer_connected client={host}:{port} send_path=direct" in lines
    closed = [
        line for line in lines if line.startswith(f"event=viewer_closed client={host}:{port} ")
    ]
    assert len(closed) == 1
    assert re.fullmatch(
        rf"event=viewer_closed client={host}:{port} code=1008 "
        r'reason="no subscribe message in time" by=server duration=[0-9.]+',
        closed[0],
    )
    assert any(
        line.startswith(
            f'event=viewer_closed client={host}:{peer_port} code=1001 reason="tab closed" by=peer '
        )
        for line in lines
    )


@pytest.fixture
async def ingest_server(start_server):
    return await start_server(ingest_token=TOKEN, symbols=("ACME",))


async def test_ingest_accepted_and_rejected_are_counted(ingest_server, caplog):
    """Accepted points (HTTP and WebSocket) and rejected requests by code are
    counted; a rejection is logged with the client and its code."""
    caplog.set_level(logging.INFO, logger="dashboard")
    server = ingest_server
    points = [{"values": {"x": i}} for i in range(3)]
    assert (await push(server, "PUSHED", points))[0] == 200
    assert (await push(server, "PUSHED", points, token="wrong"))[0] == 401
    assert (await http(server, "POST", "/api/feeds/PUSHED/points", b"[1,"))[0] == 400
    async with connect_ingest(server) as ws:
        await ws.send(json.dumps({"feed": "PUSHED", "points": points[:2]}))
        assert (await recv_json(ws))["type"] == "ack"
        await ws.send(json.dumps({"feed": "PUSHED", "points": []}))
        assert (await recv_json(ws))["code"] == "no_points"
    samples = await scrape(server)
    assert value(samples, "livefeed_ingest_points_accepted_total") == 5
    rejected = "livefeed_ingest_rejected_total"
    assert value(samples, rejected, code="unauthorized") == 1
    assert value(samples, rejected, code="bad_json") == 1
    assert value(samples, rejected, code="no_points") == 1
    lines = [r.getMessage() for r in caplog.records if r.name == "dashboard.web.ingest"]
    assert any(
        re.match(
            r'event=ingest_rejected client=127\.0\.0\.1:\d+ error="missing or wrong '
            r'bearer token" code=unauthorized$',
            line,
        )
        for line in lines
    ), lines


async def test_no_token_in_any_log_record(ingest_server, caplog):
    """Ingest with a wrong and a right token, over HTTP and WebSocket: neither
    token appears in any server log record, even at DEBUG."""
    caplog.set_level(logging.DEBUG)
    server, wrong = ingest_server, "not-the-s3cret-token"
    points = [{"values": {"x": 1}}]
    assert (await push(server, "PUSHED", points, token=wrong))[0] == 401
    assert (await push(server, "PUSHED", points))[0] == 200
    with pytest.raises(websockets.InvalidStatus):
        async with connect_ingest(server, token=wrong):
            pass
    async with connect_ingest(server) as ws:
        await ws.send(json.dumps({"feed": "PUSHED", "points": points}))
        assert (await recv_json(ws))["type"] == "ack"
    await server.stop()  # and the shutdown's records too
    # The websockets library is the test's client, not the server.
    server_records = [r for r in caplog.records if not r.name.startswith("websockets")]
    assert any("ingest_rejected" in r.getMessage() for r in server_records)
    for record in server_records:
        text = record.getMessage() + (
            logging.Formatter().formatException(record.exc_info) if record.exc_info else ""
        )
        assert TOKEN not in text and wrong not in text, text


async def test_crashing_feed_restarts_are_counted_and_logged(start_server, caplog):
    """A feed that raises is counted in livefeed_feed_restarts_total{feed} and
    each crash is logged as feed_crashed with its error."""
    caplog.set_level(logging.INFO, logger="dashboard")

    @feed("broken", series=["v"])
    async def broken():
        raise OSError("sensor unplugged")
        yield {}  # pragma: no cover - makes this an async generator

    server = await start_server(
        extra_sources=lambda: [broken], restart_backoff=0.01, restart_backoff_max=0.05
    )

    async def restarted_twice() -> bool:
        return await metric(server, "livefeed_feed_restarts_total", feed="broken") >= 2

    await wait_until(restarted_twice, what="two restarts counted")
    assert await metric(server, "livefeed_feed_restarts_total", feed="ACME") == 0
    crashes = [r for r in caplog.records if "event=feed_crashed" in r.getMessage()]
    assert (
        crashes[0]
        .getMessage()
        .startswith('event=feed_crashed feed=broken error="OSError: sensor unplugged" failures=1')
    )
    assert crashes[0].levelno == logging.ERROR and crashes[0].exc_info is not None


async def test_hub_lag_is_present_and_sane(server):
    """While points flow, hub lag is above 0 and well under a second; the last
    flush took a measured, non-negative time."""
    async with websockets.connect(server.ws_url) as ws:
        await recv_json(ws)

        async def flushed() -> bool:
            return await metric(server, "livefeed_hub_lag_seconds") > 0

        await wait_until(flushed, what="a flush measured")
        samples = await scrape(server)
    # Sane, not a timing claim: points wait about flush_interval (0.05 s);
    # even a loaded machine is far below 5 s.
    assert 0 < value(samples, "livefeed_hub_lag_seconds") < 5
    assert 0 <= value(samples, "livefeed_hub_flush_seconds") < 5


async def test_limit_violations_are_counted_by_reason(start_server):
    """A handshake refused for too many connections from one address shows up
    in /metrics under its reason."""
    server = await start_server(max_connections_per_address=1)
    async with websockets.connect(server.ws_url):
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(server.ws_url):
                pass
    assert refused.value.response.status_code == 429
    name = "livefeed_limit_violations_total"
    assert await metric(server, name, reason="connections_per_address") == 1
