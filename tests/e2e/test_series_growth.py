"""End to end: a pushed feed takes new series in later writes, over two real
CLI instances sharing one real redis-server (``--backplane redis://``).

Feeds are created on instance A (JSON ingest and the influxdb-client's
synchronous write API), viewers connect to both instances, then later
writes add series: each is accepted, and viewers of both instances get the
feed declared again with the new series before the first point holding one.
A write that would pass the series cap is refused whole: nothing of it is
written anywhere.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from typing import Any

import pytest
import websockets
from influxdb_client import InfluxDBClient, Point
from influxdb_client.client.write_api import SYNCHRONOUS

from dashboard.ingest import MAX_SERIES
from tests.support.clients import Message
from tests.support.ingest import TOKEN
from tests.support.servers import get_json, start_clis, stop_process
from tests.support.streams import Recorder, last_seqs
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

NOW_S = 1_764_000_000


def post_points(url: str, feed: str, points: list[dict[str, Any]]) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"{url}/api/feeds/{feed}/points",
        json.dumps(points).encode(),
        {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def influx_write(url: str, bucket: str, records: list[Point]) -> None:
    """One synchronous write; raises unless the dashboard answered 2xx."""
    with InfluxDBClient(url=url, token=TOKEN, org="o") as client:
        client.write_api(write_options=SYNCHRONOUS).write(
            bucket=bucket, record=records, write_precision="s"
        )


def cpu(host: str, usage: float) -> Point:
    return Point("cpu").tag("host", host).field("usage", usage).time(NOW_S, "s")


def declared_before_points(messages: list[Message], feed: str, series: str) -> bool:
    """*feed* is declared with *series* (hello or feeds) before the first
    point holding it, and that point came."""
    for message in messages:
        infos = {"hello": "feeds", "feeds": "added"}.get(message["type"])
        for info in message[infos] if infos else []:
            if info["name"] == feed and series in [s["name"] for s in info["series"]]:
                return any(
                    series in p["values"]
                    for m in messages[messages.index(message) :]
                    for p in m.get("points", [])
                    if p["feed"] == feed
                )
        if any(series in p["values"] for p in message.get("points", []) if p["feed"] == feed):
            return False  # a point of a series not declared yet
    return False


async def history(url: str, feed: str) -> list[dict[str, Any]]:
    points: list[dict[str, Any]] = (await get_json(f"{url}/api/feeds/{feed}/history"))["points"]
    return points


async def test_series_added_on_one_instance_reach_viewers_of_both(redis_server):
    args = ("--backplane", redis_server.url, "--ingest-token", TOKEN, "--symbols", "ACME")
    started = await start_clis(2, *args, "--rate", "1")
    (_, a), (_, b) = started
    try:
        assert (await asyncio.to_thread(post_points, a, "lab", [{"values": {"x": 1}}]))[0] == 200
        await asyncio.to_thread(influx_write, a, "tg", [cpu("a", 1.0)])
        for url in (a, b):  # both instances hold both feeds before the viewers come
            for feed in ("lab", "tg"):
                await wait_until(
                    lambda u=url, f=feed: _has_points(u, f, 1), what=f"{feed} on {url}"
                )
        viewers = [
            Recorder(await websockets.connect(url.replace("http", "ws") + "/ws", max_size=None))
            for url in (a, b)
        ]
        try:
            grow = [{"values": {"x": 2, "y": 3}}]
            assert await asyncio.to_thread(post_points, a, "lab", grow) == (
                200,
                {"feed": "lab", "accepted": 1},
            )
            await asyncio.to_thread(influx_write, a, "tg", [cpu("a", 2.0), cpu("b", 3.0)])

            # Over the cap: refused whole, on the other instance, nothing written.
            too_many = {f"s{i}": i for i in range(MAX_SERIES)}
            status, body = await asyncio.to_thread(
                post_points, b, "lab", [{"values": {"x": 4}}, {"values": too_many}]
            )
            assert status == 400 and body["code"] == "too_many_series", body
            assert f"more than {MAX_SERIES} series" in body["error"] and body["index"] == 1
            assert (await asyncio.to_thread(post_points, b, "lab", [{"values": {"x": 5}}]))[
                0
            ] == 200

            for viewer in viewers:
                await wait_until(
                    lambda v=viewer: (
                        last_seqs(v.messages).get("lab", 0) >= 3
                        and last_seqs(v.messages).get("tg", 0) >= 3
                    ),
                    what="the grown feeds' points",
                )
        finally:
            for viewer in viewers:
                await viewer.close()
        for viewer in viewers:
            assert declared_before_points(viewer.messages, "lab", "y")
            assert declared_before_points(viewer.messages, "tg", "cpu.usage.b")
        for url in (a, b):
            lab = [(p["seq"], p["values"]) for p in await history(url, "lab")]
            assert lab == [(1, {"x": 1}), (2, {"x": 2, "y": 3}), (3, {"x": 5})]
            tg = [p["values"] for p in await history(url, "tg")]
            assert tg == [{"cpu.usage.a": 1.0}, {"cpu.usage.a": 2.0}, {"cpu.usage.b": 3.0}]
            feeds = {f["name"]: f for f in (await get_json(f"{url}/api/feeds"))["feeds"]}
            assert [s["name"] for s in feeds["lab"]["series"]] == ["x", "y"]
    finally:
        for process, _ in started:
            await stop_process(process)


async def _has_points(url: str, feed: str, count: int) -> bool:
    try:
        return len(await history(url, feed)) >= count
    except urllib.error.HTTPError:
        return False
