"""Two instances over one real redis-server act as one dashboard: viewers of
each see the very same points, a viewer resumes on the other instance with
exactly what it missed, ingest on either reaches viewers of both, and each
producer feed runs on one instance only."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from tests.support.ingest import TOKEN, push
from tests.support.servers import get_json
from tests.support.streams import assert_runs_on, last_seqs, read_until, seen
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

SYMBOLS = ("ACME", "GLOBX")


@pytest.fixture
async def pair(start_server, redis_server):
    """Two instances over one Redis, the same tickers, ingest on."""
    return [
        await start_server(symbols=SYMBOLS, backplane=redis_server.url, ingest_token=TOKEN)
        for _ in range(2)
    ]


async def test_viewers_of_two_instances_see_identical_points(pair):
    """A viewer of each instance: the same epoch, and over the seqs both saw,
    the identical (feed, seq, ts, values), each feed's seqs without gap or
    repeat; each feed is produced by exactly one of the instances."""
    first, second = pair
    async with (
        websockets.connect(first.ws_url, max_size=None) as a,
        websockets.connect(second.ws_url, max_size=None) as b,
    ):
        hello_a, hello_b = json.loads(await a.recv()), json.loads(await b.recv())
        assert hello_a["epoch"] == hello_b["epoch"]
        await wait_until(lambda: all(first.hub.histories[f].last_seq >= 10 for f in SYMBOLS))
        target = {f: first.hub.histories[f].last_seq + 40 for f in SYMBOLS}
        got_a, got_b = await asyncio.gather(read_until(a, target), read_until(b, target))
    for feed in SYMBOLS:
        seen_a, seen_b = seen(got_a, feed), seen(got_b, feed)
        seqs_a, seqs_b = assert_runs_on(seen_a, feed), assert_runs_on(seen_b, feed)
        start, end = max(seqs_a[0], seqs_b[0]), target[feed]
        common_a = [p for p in seen_a if start <= p[1] <= end]
        common_b = [p for p in seen_b if start <= p[1] <= end]
        assert len(common_a) >= 40 and common_a == common_b
    states = [
        row["status"] for s in pair for row in (await get_json(s.url + "/api/feeds"))["feeds"]
    ]
    assert sorted(states) == ["running"] * len(SYMBOLS) + ["standby"] * len(SYMBOLS)


async def test_viewer_resumes_on_the_other_instance_with_exactly_the_missed_points(pair):
    """A viewer leaves the first instance and comes back on the second: its
    replay starts right after its last seq, the live batches follow with no
    gap and no repeat, and the replayed points are the first instance's
    history, point for point."""
    first, second = pair
    async with websockets.connect(first.ws_url, max_size=None) as ws:
        hello = json.loads(await ws.recv())
        await wait_until(lambda: all(first.hub.histories[f].last_seq >= 10 for f in SYMBOLS))
        kept = last_seqs(await read_until(ws, {f: 10 for f in SYMBOLS}))
    await wait_until(
        lambda: all(second.hub.histories[f].last_seq >= kept[f] + 20 for f in SYMBOLS),
        what="points missed while away",
    )
    async with websockets.connect(second.ws_url + "?await_subscribe=1", max_size=None) as ws:
        resume = {"epoch": hello["epoch"], "seqs": kept}
        await ws.send(json.dumps({"type": "subscribe", "resume": resume}))
        got = await read_until(ws, {f: kept[f] + 40 for f in SYMBOLS})
    with_points = [m for m in got if m["type"] in ("snapshot", "replay", "batch")]
    assert got[0]["type"] == "hello" and with_points[0]["type"] == "replay"
    assert not [m for m in got if m["type"] == "snapshot"]
    for feed in SYMBOLS:
        points = seen(got, feed)
        assert assert_runs_on(points, feed)[0] == kept[feed] + 1
        url = f"{first.url}/api/feeds/{feed}/history?since={kept[feed]}"
        history = seen([{"type": "replay", "points": (await get_json(url))["points"]}])
        replayed = seen(with_points[:1], feed)
        assert len(replayed) >= 20 and replayed == history[: len(replayed)]


async def test_ingest_on_either_instance_reaches_viewers_of_both(pair):
    """Points pushed alternately to each instance into one new feed: viewers
    of both learn of the feed and get all of them, numbered 1..6 in the order
    they were accepted."""
    first, second = pair
    async with (
        websockets.connect(first.ws_url, max_size=None) as a,
        websockets.connect(second.ws_url, max_size=None) as b,
    ):
        for n in range(6):
            status, _, body = await push((first, second)[n % 2], "PUSHED", [{"values": {"n": n}}])
            assert status == 200, body
        got_a, got_b = await asyncio.gather(
            read_until(a, {"PUSHED": 6}), read_until(b, {"PUSHED": 6})
        )
    for got in (got_a, got_b):
        declared = [f["name"] for m in got if m["type"] == "feeds" for f in m["added"]]
        assert "PUSHED" in declared
        points = seen(got, "PUSHED")
        assert [(seq, json.loads(values)) for _, seq, _, values in points] == [
            (n + 1, {"n": n}) for n in range(6)
        ]
    assert seen(got_a, "PUSHED") == seen(got_b, "PUSHED")
