"""End to end: the two send paths (dashboard/web/direct_send.py), over ws and
wss, on the real command line.

A viewer over HTTP/1.1 without permessage-deflate gets its frames written
straight to its transport; one that negotiated permessage-deflate
(``--ws-compression``) or came over HTTP/2 goes through Quart and
Hypercorn. Each test checks which path a viewer took (its log line and
``livefeed_frames_sent_direct``) and what it sees on either: the same
frames, the slow-viewer rule, the close codes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import trustme
import websockets
from prometheus_client.parser import text_string_to_metric_families

from tests.support.h2_websocket import h2_websocket_messages
from tests.support.log_lines import LogLines
from tests.support.servers import http_request, start_cli, stop_process
from tests.support.tls import cert_args, trusting
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

FEEDS = ("--symbols", "ACME,GLOBX", "--rate", "20", "--flush-interval", "0.05")


@dataclass
class Dashboard:
    """The command line's server, its log, and how to reach it (ws or wss)."""

    process: asyncio.subprocess.Process
    url: str
    log: LogLines
    context: ssl.SSLContext | None

    @property
    def ws_url(self) -> str:
        return self.url.replace("http", "ws", 1) + "/ws"

    def connect(self, query: str = "", **options: Any) -> websockets.connect:
        return websockets.connect(self.ws_url + query, ssl=self.context, open_timeout=10, **options)

    async def metrics(self) -> dict[str, float]:
        response = await http_request(self.url + "/metrics", ssl=self.context)
        families = text_string_to_metric_families(response.body.decode())
        return {
            sample.name + json.dumps(sample.labels, sort_keys=True): sample.value
            for family in families
            for sample in family.samples
        }

    async def path_of(self, ws: websockets.ClientConnection) -> str:
        """The send path the server logged for *ws* ("direct", "framework")."""
        client = "{}:{}".format(*ws.local_address[:2])

        def logged() -> bool:
            return bool(self.log.of_client("viewer_connected", client))

        await wait_until(logged, what=f"viewer_connected logged for {client}")
        (line,) = self.log.of_client("viewer_connected", client)
        return line.partition("send_path=")[2].split()[0]


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(params=["ws", "wss"])
async def start(request, ca, tmp_path) -> AsyncIterator[Any]:
    """``await start(*args, env=...)``: the dashboard over ws or wss."""
    processes = []

    async def start_dashboard(*args: str, env: dict[str, str] | None = None) -> Dashboard:
        tls = cert_args(ca, tmp_path) if request.param == "wss" else []
        process, url = await start_cli(*FEEDS, *tls, *args, env=env)
        processes.append(process)
        assert process.stderr is not None
        context = trusting(ca) if tls else None
        return Dashboard(process, url, LogLines(process.stderr), context)

    try:
        yield start_dashboard
    finally:
        for process in processes:
            await stop_process(process)


async def batches(ws: websockets.ClientConnection, until_seq: int) -> dict[tuple, str]:
    """Batch frames as received, keyed by their points' (feed, seq), until
    ACME's *until_seq* has come."""
    received: dict[tuple, str] = {}
    async with asyncio.timeout(15):
        while True:
            text = await ws.recv()
            message = json.loads(text)
            if message["type"] != "batch":
                continue
            key = tuple((p["feed"], p["seq"]) for p in message["points"])
            received[key] = text
            if any(feed == "ACME" and seq >= until_seq for feed, seq in key):
                return received


def seqs_of(received: dict[tuple, str], feed: str) -> list[int]:
    return sorted(seq for key in received for f, seq in key if f == feed)


async def test_both_paths_deliver_the_same_frames_and_say_which_they_took(start):
    """With --ws-compression, a viewer that offers permessage-deflate goes
    through the framework and one that does not is written to directly; both
    receive the same batches, byte for byte, with no seq missing, and the
    direct frames counter counts only the direct viewer's frames."""
    dashboard = await start("--ws-compression")
    before = await dashboard.metrics()  # no viewer yet
    async with (
        dashboard.connect(compression=None) as direct,
        dashboard.connect() as framed,
    ):
        hello = json.loads(await framed.recv())
        assert hello["type"] == "hello"
        assert await dashboard.path_of(direct) == "direct"
        assert await dashboard.path_of(framed) == "framework"
        target = (await anext(aiter(_acme_seqs(framed)))) + 20
        on_direct, on_framed = await asyncio.gather(
            batches(direct, target), batches(framed, target)
        )
        after = await dashboard.metrics()
    common = on_direct.keys() & on_framed.keys()
    assert len(common) >= 10
    assert all(on_direct[key] == on_framed[key] for key in common)
    for received in (on_direct, on_framed):
        seqs = seqs_of(received, "ACME")
        assert seqs == list(range(seqs[0], seqs[-1] + 1))  # nothing missing
    direct_frames = after["livefeed_frames_sent_direct_total{}"]
    direct_frames -= before["livefeed_frames_sent_direct_total{}"]
    all_frames = after["livefeed_frames_sent_total{}"] - before["livefeed_frames_sent_total{}"]
    # Each got its hello, snapshot and batches its own way.
    assert direct_frames >= len(on_direct) + 2
    assert all_frames - direct_frames >= len(on_framed) + 2


async def _acme_seqs(ws: websockets.ClientConnection) -> AsyncIterator[int]:
    while True:
        message = json.loads(await ws.recv())
        for point in message.get("points", ()):
            if point["feed"] == "ACME":
                yield point["seq"]


async def test_a_viewer_that_stops_reading_is_closed_1008_and_others_go_on(start):
    """On the fast path the transport's buffer and the delivery probes stand
    for the outbox: a viewer that stops reading (its client's queue full, so
    it answers no ping) is closed with 1008 after the slow-viewer timeout,
    while a reading viewer misses nothing."""
    env = {"DASHBOARD_MAX_VIEWER_LAG": "0.5", "DASHBOARD_SLOW_CLIENT_TIMEOUT": "1.5"}
    dashboard = await start(env=env)
    async with (
        dashboard.connect(max_queue=1, ping_interval=None) as stalled,
        dashboard.connect() as reader,
    ):
        assert await dashboard.path_of(stalled) == "direct"
        seqs: list[int] = []

        async def read_on() -> None:
            async for seq in _acme_seqs(reader):
                seqs.append(seq)

        reading = asyncio.create_task(read_on())
        try:

            async def closed_slow() -> bool:
                metrics = await dashboard.metrics()
                return metrics.get('livefeed_viewer_disconnects_total{"code": "1008"}', 0) >= 1

            await wait_until(closed_slow, timeout=20, what="the stalled viewer closed with 1008")
        finally:
            reading.cancel()
        client = "{}:{}".format(*stalled.local_address[:2])
        (closed,) = dashboard.log.of_client("viewer_closed", client)
        assert "code=1008" in closed and "by=server" in closed
        assert reader.close_code is None
        stalled.transport.abort()  # it would wait for a close frame it never reads
    assert len(seqs) > 20 and seqs == list(range(seqs[0], seqs[-1] + 1))


async def test_close_codes_reach_a_direct_viewer_behind_its_data(start):
    """Close frames go through Hypercorn, data frames around them: a message
    over the size limit gets 1009 with its reason, messages over the rate get
    1008, and a stop gets 1001 with its reason, each after the data written
    before it."""
    env = {"DASHBOARD_VIEWER_MAX_MESSAGE_BYTES": "1024", "DASHBOARD_VIEWER_MAX_MESSAGES_PER_S": "5"}
    dashboard = await start(env=env)
    async with (
        dashboard.connect() as big,
        dashboard.connect() as fast,
        dashboard.connect() as stays,
    ):
        assert await dashboard.path_of(big) == await dashboard.path_of(stays) == "direct"
        await first_batch(big)
        await big.send("x" * 2000)
        await closed(big)
        assert (big.close_code, big.close_reason) == (1009, "message over 1024 bytes")
        await first_batch(fast)
        with contextlib.suppress(websockets.ConnectionClosed):
            for _ in range(200):  # well past the burst
                await fast.send(json.dumps({"type": "ping", "id": "p"}))
        await closed(fast)
        assert (fast.close_code, fast.close_reason) == (1008, "too many messages")
        await first_batch(stays)
        dashboard.process.send_signal(signal.SIGTERM)
        await closed(stays)
        assert (stays.close_code, stays.close_reason) == (1001, "server shutting down")


async def first_batch(ws: websockets.ClientConnection) -> None:
    async with asyncio.timeout(10):
        while json.loads(await ws.recv())["type"] != "batch":
            pass


async def closed(ws: websockets.ClientConnection) -> None:
    """Read on until the server's close frame (data before it is read)."""
    with pytest.raises(websockets.ConnectionClosed):
        async with asyncio.timeout(10):
            while True:
                await ws.recv()


async def test_a_websocket_over_http2_takes_the_framework_path():
    """Hypercorn serves WebSockets over HTTP/2 (RFC 8441): such a viewer gets
    hello, snapshot and batches through the framework, never the direct path."""
    process, url = await start_cli(*FEEDS)
    assert process.stderr is not None
    log = LogLines(process.stderr)
    try:
        host, port = url.removeprefix("http://").split(":")
        messages = await h2_websocket_messages(host, int(port), "/ws", count=6)
        kinds = [json.loads(text)["type"] for text in messages]
        assert kinds[:2] == ["hello", "snapshot"] and "batch" in kinds[2:]
        response = await http_request(url + "/metrics")
        text = response.body.decode()
        assert "livefeed_frames_sent_direct_total 0.0" in text
        assert any("send_path=framework" in line for line in log.lines)
    finally:
        await stop_process(process)
