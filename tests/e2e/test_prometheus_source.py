"""End to end: the built-in `prometheus` feed scraping real exposition endpoints:
the dashboard's own /metrics through the real CLI, an exporter served by
prometheus_client's own start_http_server, and targets that fail."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from feeds.prometheus import Prometheus, ScrapeError, read
from feeds.prometheus_samples import Selection
from tests.support.clients import recv_json
from tests.support.redis_server import free_port
from tests.support.servers import start_cli, stop_process

pytestmark = pytest.mark.e2e

FRAMES = "livefeed_frames_sent_total"
VIEWERS = "livefeed_viewers"


class Watch:
    """What a viewer socket has said about one feed: its series (from the
    hello and `feeds` messages), its latest values per series, its status."""

    def __init__(self, ws: websockets.ClientConnection, feed: str) -> None:
        self.ws, self.feed = ws, feed
        self.series: dict[str, dict[str, Any]] = {}
        self.values: dict[str, float] = {}
        self.status: dict[str, Any] = {}

    async def until(self, done: Any, timeout: float = 10.0) -> None:
        """Read messages until *done*(self) holds; fail after *timeout* seconds."""
        async with asyncio.timeout(timeout):
            while not done(self):
                self.take(await recv_json(self.ws, timeout))

    def take(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        declared = message.get("feeds") if kind == "hello" else message.get("added")
        if kind in ("hello", "feeds"):
            for meta in declared or []:
                if meta["name"] == self.feed:
                    self.series = {s["name"]: s for s in meta["series"]}
        elif kind in ("batch", "snapshot", "replay"):
            for point in message["points"]:
                if point["feed"] == self.feed:
                    self.values.update(point["values"])
        elif kind == "status":
            self.status = message["feeds"].get(self.feed, self.status)


async def test_cli_scrapes_its_own_metrics_counter_as_rate_gauge_as_value():
    """`--feed prometheus url=<its own /metrics>`: the frames counter arrives on
    a viewer socket as a positive per-second rate, the viewers gauge as 1."""
    port = free_port()
    process, base = await start_cli(
        "--port",
        str(port),
        "--feed",
        "ticker",
        "rate=20",
        "--feed",
        "prometheus",
        f"url=http://127.0.0.1:{port}/metrics",
        f"metrics={FRAMES},{VIEWERS}",
        "interval=0.25",
        "timeout=5",  # a loaded machine's first answers, as it starts, may be slow
    )
    try:
        assert base == f"http://127.0.0.1:{port}"
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws") as ws:
            watch = Watch(ws, "prometheus")
            await watch.until(lambda w: FRAMES in w.values and w.values.get(VIEWERS) == 1)
            assert watch.series[FRAMES]["unit"] == "/s"
            assert watch.series[VIEWERS]["unit"] == ""
            # 20 ticker points/s and 4 scrapes/s to one viewer, in 50 ms batches
            assert 1 <= watch.values[FRAMES] <= 100, watch.values
            # The first scrape, as the server starts, already found it listening.
            assert watch.status["state"] == "running", watch.status
            assert watch.status["restarts"] == 0, watch.status
    finally:
        assert await stop_process(process) == 0


@contextlib.contextmanager
def exporter(registry: CollectorRegistry, port: int = 0) -> Iterator[int]:
    """prometheus_client's own exposition server on loopback; yields its port."""
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


async def test_exporter_scraped_then_down_shows_the_error_then_back(start_server):
    """A counter incremented at ~100/s plots as about that rate, a gauge as its
    value with its unit; the exporter gone, the feed says why and retries;
    back, it plots again."""
    registry = CollectorRegistry()
    jobs = Counter("jobs_total", "Jobs done", registry=registry)
    temperature = Gauge("room_temperature_celsius", "Room", ["room"], registry=registry)
    temperature.labels("lab").set(21.5)

    async def work() -> None:
        while True:
            jobs.inc(5)
            await asyncio.sleep(0.05)

    worker = asyncio.create_task(work())
    try:
        with exporter(registry) as port:
            url = f"http://127.0.0.1:{port}/metrics"
            selected = ["jobs_total", "room_.*"]

            def sources() -> list[Any]:
                return [Prometheus(url, metrics=selected, interval=0.2, name="exporter")]

            server = await start_server(extra_sources=sources)
            room = "room_temperature_celsius.room-lab"
            async with websockets.connect(server.ws_url) as ws:
                watch = Watch(ws, "exporter")
                await watch.until(lambda w: "jobs_total" in w.values and room in w.values)
                assert watch.series["jobs_total"]["unit"] == "/s"
                assert watch.series[room]["unit"] == "°C"
                assert watch.values[room] == 21.5
                assert 20 <= watch.values["jobs_total"] <= 400, watch.values
        # The exporter is gone: the feed restarts with the reason, and keeps trying.
        async with websockets.connect(server.ws_url) as ws:
            watch = Watch(ws, "exporter")
            await watch.until(lambda w: w.status.get("state") == "restarting")
            assert watch.status["error"].startswith(f"ScrapeError: GET {url}: ")
            assert "refused" in watch.status["error"]
            with exporter(registry, port):
                watch.values.clear()
                await watch.until(
                    lambda w: w.status["state"] == "running" and "jobs_total" in w.values
                )
    finally:
        worker.cancel()


class Fixed(http.server.BaseHTTPRequestHandler):
    """Answers every GET with the server's `answer`: (status, content type, body)."""

    def do_GET(self) -> None:  # noqa: N802
        status, content_type, body = self.server.answer  # type: ignore[attr-defined]
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ((500, "text/plain", b"boom"), "HTTP 500 Internal Server Error"),
        ((200, "text/html", b"<html><body>hi</body></html>\n"), "not a Prometheus text exposition"),
        ((200, "text/plain", b"up 1\n" * 50_000), "the body is over max_bytes=100000"),
        (
            (200, "application/openmetrics-text; version=1.0.0", b"up 1\n"),
            "not a OpenMetrics exposition",
        ),
    ],
)
def test_a_failed_scrape_says_why_in_one_line(answer, message):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Fixed)
    server.answer = answer  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        with pytest.raises(ScrapeError, match=message) as caught:
            read(url, 2.0, 100_000, Selection.parse([".*"]))
        assert str(caught.value).startswith(f"GET {url}: ") and "\n" not in str(caught.value)
    finally:
        server.shutdown()
        server.server_close()
