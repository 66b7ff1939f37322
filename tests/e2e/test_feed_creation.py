"""End to end: feeds created by push ingest, announced to viewers as deltas and capped.

Issue 10: each feed created by ingest used to re-send the whole ``hello`` to
every viewer, so K creations cost each viewer O(K²) bytes (2,000 new feeds:
370 MB per viewer). Now viewers get a small ``feeds`` message per flush, and
``max_feeds`` bounds how many feeds there can be.
"""

import asyncio
import json
import subprocess
import sys
import time

import orjson
import pytest
import websockets

from dashboard.protocol import Point
from feeds.base import FeedInfo, Series
from tests.support.clients import recv_json
from tests.support.ingest import TOKEN, connect_ingest, http, push
from tests.support.metrics import scrape, value
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e


class Viewer:
    """A real websockets viewer that records every frame after its first
    snapshot: its bytes, which feeds it has been told of, and their points."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws
        self.known: set[str] = set()
        self.points: dict[str, list[dict]] = {}
        self.bytes = 0
        self.unknown_points: list[dict] = []  # points of a feed not announced first

    async def start(self) -> None:
        hello = await recv_json(self.ws)
        assert hello["type"] == "hello"
        self.known.update(f["name"] for f in hello["feeds"])
        snapshot = await recv_json(self.ws)
        assert snapshot["type"] == "snapshot"
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for text in self.ws:
            self.bytes += len(text.encode())
            message = json.loads(text)
            if message["type"] == "hello":
                self.known.update(f["name"] for f in message["feeds"])
            elif message["type"] == "feeds":
                self.known.update(f["name"] for f in message["added"])
            for point in message.get("points", []):
                if point["feed"] not in self.known:
                    self.unknown_points.append(point)
                self.points.setdefault(point["feed"], []).append(point)

    def knows_all(self, names: list[str]) -> bool:
        return all(name in self.known and name in self.points for name in names)


async def push_many(server, names: list[str], concurrency: int = 8) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int, name: str) -> None:
        async with gate:
            status, _, body = await push(server, name, [{"values": {"v": i}}])
            assert status == 200, body

    await asyncio.gather(*(one(i, name) for i, name in enumerate(names)))


async def test_creating_feeds_costs_each_viewer_bytes_linear_in_their_number(start_server):
    """3 viewers watch 150 one-point posts create 150 feeds: each viewer learns
    every feed before its first point and gets every point, for at most 3 times
    the bytes of the feeds' declarations and points themselves (a whole hello
    per creation was about 60 times that here). A viewer connecting afterwards
    gets every feed in its hello and their points in its snapshot."""
    server = await start_server(ingest_token=TOKEN, symbols=("ACME",), rate=0.2)
    names = [f"new-{i:04d}" for i in range(150)]
    declaration = orjson.dumps(FeedInfo(names[0], series=(Series("v"),)).to_dict())
    point = Point(names[0], 1, int(time.time() * 1000), {"v": 149}).wire
    own_size = len(names) * (len(declaration) + len(point))
    viewers = []
    for _ in range(3):
        ws = await websockets.connect(server.ws_url, max_size=None)
        viewers.append(Viewer(ws))
        await viewers[-1].start()
    try:
        await push_many(server, names)
        await wait_until(
            lambda: all(v.knows_all(names) for v in viewers), what="every viewer has every feed"
        )
        for viewer in viewers:
            assert viewer.unknown_points == []
            assert all(len(viewer.points[name]) == 1 for name in names)
            assert viewer.bytes <= 3 * own_size, (viewer.bytes, own_size)
        async with websockets.connect(server.ws_url, max_size=None) as late:
            hello = await recv_json(late)
            assert {f["name"] for f in hello["feeds"]} == {"ACME", *names}
            snapshot = await recv_json(late)
            assert {p["feed"] for p in snapshot["points"]} >= set(names)
    finally:
        for viewer in viewers:
            await viewer.ws.close()


async def test_feeds_beyond_max_feeds_are_refused_and_counted(start_server):
    """With max_feeds 3 and one configured feed, two pushes create feeds; a
    third new name is refused over HTTP and over the ingest WebSocket with 409
    too_many_feeds naming the cap, creates nothing and publishes nothing;
    existing feeds still take points; /metrics counts feeds and refusals."""
    server = await start_server(ingest_token=TOKEN, symbols=("ACME",), max_feeds=3)
    for name in ("one", "two"):
        assert (await push(server, name, [{"values": {"v": 1}}]))[0] == 200
    status, _, body = await push(server, "three", [{"values": {"v": 1}}])
    assert status == 409
    assert body["code"] == "too_many_feeds"
    assert "3" in body["error"] and "max_feeds" in body["error"]
    async with connect_ingest(server) as ingest:
        await ingest.send(json.dumps({"feed": "four", "points": [{"values": {"v": 1}}]}))
        answer = await recv_json(ingest)
        assert answer["type"] == "error" and answer["code"] == "too_many_feeds"
        assert "3" in answer["message"]
        await ingest.send(json.dumps({"feed": "one", "points": [{"values": {"v": 2}}]}))
        assert await recv_json(ingest) == {"type": "ack", "feed": "one", "accepted": 1}
    _, _, feeds = await http(server, "GET", "/api/feeds")
    assert [f["name"] for f in feeds["feeds"]] == ["ACME", "one", "two"]
    assert (await http(server, "GET", "/api/feeds/three/history"))[0] == 404
    assert "three" not in server.hub.histories and "four" not in server.hub.histories
    samples = await scrape(server)
    assert value(samples, "livefeed_feeds") == 3
    assert value(samples, "livefeed_max_feeds") == 3
    assert value(samples, "livefeed_ingest_rejected_total", code="too_many_feeds") == 2


def test_configured_feeds_beyond_max_feeds_are_a_one_line_start_error():
    """Three configured tickers with --max-feeds 2: exit 2, one line naming both numbers."""
    result = subprocess.run(
        [sys.executable, "-m", "dashboard", "--symbols", "A,B,C", "--max-feeds", "2"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(lines) == 1 and "3 feeds" in lines[0] and "max_feeds 2" in lines[0], result.stderr


@pytest.mark.parametrize("given", ["0", "100001", "many"])
def test_max_feeds_out_of_range_is_refused(given):
    """--max-feeds is bounded: at least 1, at most 100,000 (each feed is a history)."""
    result = subprocess.run(
        [sys.executable, "-m", "dashboard", "--max-feeds", given],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert f'--max-feeds must be an integer 1-100000, not "{given}"' in result.stderr


async def test_a_pushed_feed_holds_pushed_history_size_while_a_ticker_holds_history_size(
    start_server,
):
    """Anyone with the ingest token may create up to max_feeds feeds: each holds
    pushed_history_size points, so an hour of history per feed (history_size)
    never multiplies by max_feeds. A ticker still holds history_size."""
    server = await start_server(
        ingest_token=TOKEN,
        symbols=("ACME",),
        rate=50,
        history_size=60,
        pushed_history_size=8,
        snapshot_size=5,
    )
    points = [{"ts": 1_764_000_000_000 + i, "values": {"v": i}} for i in range(30)]
    assert (await push(server, "pushed", points))[0] == 200
    history = server.hub.histories["pushed"]
    await wait_until(lambda: history.last_seq == 30, timeout=10, what="the 30 pushed points")
    _, _, pushed = await http(server, "GET", "/api/feeds/pushed/history")
    assert [p["values"]["v"] for p in pushed["points"]] == list(range(22, 30))
    await wait_until(
        lambda: len(server.hub.histories["ACME"]) == 60, timeout=20, what="a full ticker ring"
    )
    _, _, ticker = await http(server, "GET", "/api/feeds/ACME/history")
    assert len(ticker["points"]) == 60
