"""End to end: InfluxDB's write APIs on the real CLI, written by the real clients.

The influxdb-client package (InfluxDB 2's, synchronous write API, with and
without gzip) and the influxdb package (1.x) write to one dashboard process;
each test writes to a bucket (feed) of its own and checks what a user sees:
the points in the history API and on a viewer WebSocket, or the error and an
unchanged history.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from influxdb import InfluxDBClient as InfluxDB1Client
from influxdb_client import InfluxDBClient, Point, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException
from websockets.sync.client import connect

from tests.support.backplanes import switchable_server
from tests.support.ingest import http

pytestmark = pytest.mark.e2e

TOKEN = "influx-s3cret"
NOW_S = 1_764_000_000  # 2025-11-24: within the dashboard's ts window
BODY_LIMIT = 256 * 1024
REDIS = "redis://127.0.0.1:1/0"  # never dialled: the switchable fake serves


class Dashboard:
    def __init__(self, process: subprocess.Popen[str], url: str) -> None:
        self.process, self.url = process, url
        self.port = int(url.rsplit(":", 1)[1])

    def history(self, feed: str) -> list[dict[str, Any]]:
        try:
            with urllib.request.urlopen(f"{self.url}/api/feeds/{feed}/history", timeout=10) as r:
                return json.load(r)["points"]
        except urllib.error.HTTPError as error:
            assert error.code == 404, error
            return []

    def history_of(self, feed: str, count: int) -> list[dict[str, Any]]:
        """The history once it holds *count* points (a write's points reach it
        with the hub's next flush); fails after 10 s."""
        deadline = time.monotonic() + 10
        while len(points := self.history(feed)) < count:
            assert time.monotonic() < deadline, f"{feed}: {len(points)} of {count} points"
            time.sleep(0.02)
        return points

    def post(
        self, path: str, body: bytes, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(self.url + path, body, headers or {}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as r:
                return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
        except urllib.error.HTTPError as error:
            return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()

    def metrics(self) -> str:
        with urllib.request.urlopen(self.url + "/metrics", timeout=10) as r:
            return r.read().decode()


@pytest.fixture(scope="module")
def dashboard() -> Iterator[Dashboard]:
    """One real CLI for the module (each test writes its own feed): ingest on,
    a small body limit so the gzip-bomb test stays small."""
    process = subprocess.Popen(
        [sys.executable, "-m", "dashboard", "--port", "0", "--symbols", "ACME", "--rate", "1"]
        + ["--ingest-token", TOKEN],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "DASHBOARD_INGEST_MAX_BYTES": str(BODY_LIMIT)},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # the address, once serving
        url = "http://" + line.split("http://", 1)[1].split()[0].rstrip("/,")
        yield Dashboard(process, url)
    finally:
        process.terminate()
        process.wait(15)
        if process.stdout is not None:
            process.stdout.close()


def values(points: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    return [(p["ts"], p["values"]) for p in points]


def test_influxdb_client_writes_points_seen_in_history_and_by_a_viewer(dashboard):
    """Four writes in four precisions: the feed is the bucket, its series
    measurement.field.tag-values, each point's ts the same instant in ms; a
    viewer connected before is told of the feed and gets every point."""
    with connect(dashboard.url.replace("http", "ws") + "/ws", open_timeout=10) as viewer:
        with InfluxDBClient(url=dashboard.url, token=TOKEN, org="any") as client:
            write = client.write_api(write_options=SYNCHRONOUS)
            for i, (precision, scale) in enumerate(
                [
                    (WritePrecision.NS, 10**9),
                    (WritePrecision.US, 10**6),
                    (WritePrecision.MS, 10**3),
                    (WritePrecision.S, 1),
                ]
            ):
                points = [
                    Point("cpu")
                    .tag("host", "web 1")
                    .field("usage_user", 12.5 + i)
                    .field("n", i)
                    .time((NOW_S + i) * scale, precision),
                    Point("mem").field("used", 1000 * i).time((NOW_S + i) * scale, precision),
                ]
                write.write(bucket="servers", record=points, write_precision=precision)
        seen: list[dict[str, Any]] = []
        declared: dict[str, Any] = {}
        while len(seen) < 8:
            message = json.loads(viewer.recv(timeout=10))
            if message["type"] == "feeds":
                declared.update((f["name"], f) for f in message["added"])
            seen += [p for p in message.get("points", []) if p["feed"] == "servers"]
    expected = []
    for i in range(4):
        ts = (NOW_S + i) * 1000
        expected += [
            (ts, {"cpu.usage_user.web_1": 12.5 + i, "cpu.n.web_1": i}),
            (ts, {"mem.used": 1000 * i}),
        ]
    assert values(dashboard.history_of("servers", 8)) == expected
    assert values(seen) == expected
    names = [s["name"] for s in declared["servers"]["series"]]
    assert names == ["cpu.n.web_1", "cpu.usage_user.web_1", "mem.used"]  # Point sorts fields


def test_a_later_write_may_add_series_declared_to_a_viewer_before_its_point(dashboard):
    """Telegraf finds a new host after its first flush: the write adding its
    series is accepted (204, not the whole write refused), and a viewer gets
    the feed declared again, with the new series, before the point holding it."""
    with InfluxDBClient(url=dashboard.url, token=TOKEN, org="o") as client:
        write = client.write_api(write_options=SYNCHRONOUS)

        def cpu(host: str, usage: float, second: int) -> Point:
            return Point("cpu").tag("host", host).field("usage", usage).time(second, "s")

        write.write(bucket="grows", record=cpu("a", 1.0, NOW_S), write_precision="s")
        dashboard.history_of("grows", 1)
        with connect(dashboard.url.replace("http", "ws") + "/ws", open_timeout=10) as viewer:
            later = [cpu("a", 2.0, NOW_S + 1), cpu("b", 3.0, NOW_S + 1)]
            write.write(bucket="grows", record=later, write_precision="s")  # raises unless 2xx
            got: list[dict[str, Any]] = []
            while not any(
                (p["feed"], p["seq"]) == ("grows", 3) for m in got for p in m.get("points", [])
            ):
                got.append(json.loads(viewer.recv(timeout=10)))
    declared = [
        i
        for i, m in enumerate(got)
        for f in m.get("added", [])
        if f["name"] == "grows"
        and [s["name"] for s in f["series"]] == ["cpu.usage.a", "cpu.usage.b"]
    ]
    with_b = [
        i
        for i, m in enumerate(got)
        for p in m.get("points", [])
        if p["feed"] == "grows" and "cpu.usage.b" in p["values"]
    ]
    assert declared and with_b and declared[0] < with_b[0]
    assert values(dashboard.history_of("grows", 3)) == [
        (NOW_S * 1000, {"cpu.usage.a": 1.0}),
        ((NOW_S + 1) * 1000, {"cpu.usage.a": 2.0}),
        ((NOW_S + 1) * 1000, {"cpu.usage.b": 3.0}),
    ]


def test_gzip_bodies_are_inflated_and_a_gzip_bomb_is_refused(dashboard):
    with InfluxDBClient(url=dashboard.url, token=TOKEN, org="o", enable_gzip=True) as client:
        point = Point("temp").tag("room", "lab").field("c", 21.5).time(NOW_S, WritePrecision.S)
        client.write_api(write_options=SYNCHRONOUS).write(
            bucket="zipped", record=[point] * 3, write_precision=WritePrecision.S
        )
    assert values(dashboard.history_of("zipped", 3)) == [(NOW_S * 1000, {"temp.c.lab": 21.5})] * 3

    bomb = gzip.compress(b"# padding\n" * (BODY_LIMIT // 5))  # twice the limit inflated
    assert len(bomb) < BODY_LIMIT // 10
    headers = {"Authorization": f"Token {TOKEN}", "Content-Encoding": "gzip"}
    status, _, body = dashboard.post("/api/v2/write?bucket=zipped", bomb, headers)
    assert status == 413
    assert json.loads(body)["code"] == "request too large"
    sentinel = gzip.compress(b"temp,room=lab c=22.5 1764000001")
    assert dashboard.post("/api/v2/write?bucket=zipped&precision=s", sentinel, headers)[0] == 204
    assert values(dashboard.history_of("zipped", 4))[3:] == [
        (NOW_S * 1000 + 1000, {"temp.c.lab": 22.5})
    ]


def test_a_string_field_on_line_3_is_refused_naming_it_and_nothing_is_written(dashboard):
    headers = {"Authorization": f"Bearer {TOKEN}"}
    good = b"lab,probe=a t=1 1764000000\n"
    assert dashboard.post("/api/v2/write?bucket=lab&precision=s", good, headers)[0] == 204
    before = dashboard.history_of("lab", 1)
    body = b'lab,probe=a t=2 1764000001\nlab,probe=a t=3 1764000002\nlab,probe=a t="hot"\n'
    status, _, answer = dashboard.post("/api/v2/write?bucket=lab&precision=s", body, headers)
    assert status == 400
    error = json.loads(answer)
    assert error["code"] == "invalid" and error["line"] == 3
    assert error["message"].startswith("line 3: field 't' is a string")
    assert dashboard.history("lab") == before

    # The client library raises it with the message as sent.
    with InfluxDBClient(url=dashboard.url, token=TOKEN, org="o") as client:
        with pytest.raises(ApiException) as raised:
            client.write_api(write_options=SYNCHRONOUS).write(
                bucket="lab", record=body.decode(), write_precision=WritePrecision.S
            )
    assert raised.value.status == 400 and "line 3" in raised.value.body
    # A write after them is the next point: nothing of the two refused ones came between.
    sentinel = b"lab,probe=a t=4 1764000003"
    assert dashboard.post("/api/v2/write?bucket=lab&precision=s", sentinel, headers)[0] == 204
    after = dashboard.history_of("lab", 2)
    assert after[:1] == before and values(after[1:]) == [(1764000003000, {"lab.t.a": 4.0})]
    assert 'livefeed_ingest_rejected_total{code="bad_line"} 2.0' in dashboard.metrics()


def test_a_body_large_enough_to_be_parsed_in_a_thread_is_written_whole(dashboard):
    """Over 64 KiB (INLINE_PARSE_BYTES) a body is parsed off the event loop: a
    bad last line still refuses all of it, a good body is written whole."""
    headers = {"Authorization": f"Token {TOKEN}"}
    lines = [b"big,probe=a v=%di %d" % (i, 1764000000000 + i) for i in range(2500)]
    good = b"\n".join(lines)
    assert 64 * 1024 < len(good) < BODY_LIMIT
    bad = good + b"\nbig,probe=a v=true"
    status, _, answer = dashboard.post("/api/v2/write?bucket=big&precision=ms", bad, headers)
    assert (status, json.loads(answer)["line"]) == (400, 2501)
    assert dashboard.post("/api/v2/write?bucket=big&precision=ms", good, headers)[0] == 204
    assert [p["values"]["big.v.a"] for p in dashboard.history_of("big", 2500)] == list(range(2500))


def test_the_token_is_required_and_checked(dashboard):
    body = b"m f=1\n"
    for headers in ({}, {"Authorization": "Token wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        status, answer_headers, answer = dashboard.post("/api/v2/write?bucket=m", body, headers)
        assert (status, json.loads(answer)["code"]) == (401, "unauthorized")
        assert answer_headers["www-authenticate"].startswith("Token")
    assert dashboard.post("/write?db=m&p=wrong", body)[0] == 401
    right = {"Authorization": f"Token {TOKEN}"}
    assert dashboard.post("/api/v2/write?bucket=m", b"m f=2", right)[0] == 204
    assert [p["values"] for p in dashboard.history_of("m", 1)] == [{"m.f": 2.0}]


def test_influxdb_1x_client_and_its_token_forms(dashboard):
    """The influxdb package (1.x) sends the token as its password; a raw
    1.x request may send it as ``p=`` or a Token header."""
    client = InfluxDB1Client("127.0.0.1", dashboard.port, "telegraf", TOKEN, "legacy")
    try:
        client.write_points(
            [{"measurement": "disk", "tags": {"dev": "sda"}, "fields": {"free": 7}, "time": NOW_S}],
            time_precision="s",
        )
        client.write(
            ["disk,dev=sda free=8i 1764000001"], {"db": "legacy", "precision": "s"}, 204, "line"
        )
    finally:
        client.close()
    body = b"disk,dev=sda free=9i 1764000002000"
    assert dashboard.post(f"/write?db=legacy&precision=ms&u=x&p={TOKEN}", body)[0] == 204
    headers = {"Authorization": f"Token {TOKEN}"}
    assert (
        dashboard.post("/write?db=legacy&precision=h", b"disk,dev=sda free=10i 490000", headers)[0]
        == 204
    )
    assert values(dashboard.history_of("legacy", 4)) == [
        (1764000000000, {"disk.free.sda": 7}),
        (1764000001000, {"disk.free.sda": 8}),
        (1764000002000, {"disk.free.sda": 9}),
        (1764000000000, {"disk.free.sda": 10}),
    ]


@pytest.mark.parametrize(
    ("query", "body", "status", "message"),
    [
        ("bucket=b&precision=d", b"m f=1", 400, "precision 'd' is not one of"),
        ("org=o", b"m f=1", 400, "the bucket parameter (the feed) is missing"),
        ("bucket=no%20spaces", b"m f=1", 400, "invalid feed name 'no spaces'"),
        ("bucket=b", b"# only a comment\n", 400, "no points"),
        ("bucket=b", b"m f=1\nm f=2 1", 400, "line 2: ts 0 must be integer ms"),
        ("bucket=b", b"m f=9007199254740993i", 400, "line 1: series 'm.f': 9007199254740993"),
    ],
)
def test_bad_requests_answer_as_influxdb_does(dashboard, query, body, status, message):
    headers = {"Authorization": f"Token {TOKEN}"}
    got, _, answer = dashboard.post(f"/api/v2/write?{query}", body, headers)
    assert got == status
    assert message in json.loads(answer)["message"]
    assert dashboard.history("b") == []


# --- on the in-process server: ingest off, backplane down ---------------------------------


async def test_ingest_off_answers_404(server):
    """Without an ingest token both write APIs are off, as push ingest is."""
    for path in ("/api/v2/write?bucket=b", "/write?db=b"):
        status, _, answer = await http(server, "POST", path, b"m f=1", token="anything")
        assert (status, answer["code"], answer["livefeed_code"]) == (404, "not found", "disabled")


async def test_backplane_down_answers_503_with_retry_after_and_writes_nothing():
    async with switchable_server(ingest_token=TOKEN, symbols=("ACME",), backplane=REDIS) as server:
        server.backplane.go_down()
        status, headers, answer = await http(
            server, "POST", "/api/v2/write?bucket=lab", b"m f=1", token=TOKEN
        )
        assert (status, answer["code"], headers["retry-after"]) == (503, "unavailable", "3")
        _, _, listed = await http(server, "GET", "/api/feeds")
        assert "lab" not in [feed["name"] for feed in listed["feeds"]]
