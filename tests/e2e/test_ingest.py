"""End to end: push ingest over HTTP and WebSocket on real Hypercorn."""

import asyncio
import json
import logging
import random
import time

import pytest
import websockets

from dashboard.ingest import MAX_SERIES
from tests.support.clients import recv_json
from tests.support.ingest import JSON, NDJSON, TOKEN, connect_ingest, http, push
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e


async def history(server, feed: str) -> tuple[int, list[dict]]:
    status, _, body = await http(server, "GET", f"/api/feeds/{feed}/history")
    return status, body["points"] if status == 200 else []


async def watch(ws, feed: str, count: int) -> tuple[dict[str, dict], list[dict]]:
    """Read a viewer until *count* points of *feed* arrived: (the feeds it was
    told of, by name, from its hello and `feeds` messages; points of feed).
    Each point's feed must have been declared before it."""
    declared: dict[str, dict] = {}
    points = []
    async with asyncio.timeout(15):
        while len(points) < count:
            message = json.loads(await ws.recv())
            if message["type"] in ("hello", "feeds"):
                added = message["feeds" if message["type"] == "hello" else "added"]
                declared.update((f["name"], f) for f in added)
            for point in message.get("points", []):
                if point["feed"] == feed:
                    assert feed in declared
                    points.append(point)
    return declared, points


def sample(n: int, base_ts: int) -> list[dict]:
    return [{"ts": base_ts + i, "values": {"a": i, "b": i / 4}} for i in range(n)]


@pytest.fixture
async def ingest_server(start_server):
    return await start_server(
        ingest_token=TOKEN, symbols=("ACME",), history_size=10_000, pushed_history_size=10_000
    )


# --- happy paths ---------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", [JSON, NDJSON])
async def test_push_creates_feed_and_viewers_get_every_point(ingest_server, content_type, caplog):
    """5,000 pushed points create the feed: viewers get a `feeds` message declaring
    it and the points in order with seqs 1..5000; history holds them; the token is
    never logged."""
    caplog.set_level(logging.DEBUG)
    server, n = ingest_server, 5000
    points = sample(n, int(time.time() * 1000) - n)
    async with websockets.connect(server.ws_url, max_size=None) as viewer:
        assert (await recv_json(viewer))["type"] == "hello"
        status, _, body = await push(server, "PUSHED", points, content_type)
        assert (status, body) == (200, {"feed": "PUSHED", "accepted": n})
        declared, got = await watch(viewer, "PUSHED", n)
    assert [s["name"] for s in declared["PUSHED"]["series"]] == ["a", "b"]
    expected = [{"feed": "PUSHED", "seq": i + 1, **p} for i, p in enumerate(points)]
    assert got == expected
    status, held = await history(server, "PUSHED")
    assert status == 200 and held == expected
    _, _, feeds = await http(server, "GET", "/api/feeds")
    assert {f["name"]: f["status"] for f in feeds["feeds"]}["PUSHED"] == "external"
    assert TOKEN not in caplog.text


async def test_points_without_ts_are_stamped_now(ingest_server):
    """A point with no ts (or ts null) gets the server's time."""
    before = int(time.time() * 1000)
    pushed = [{"values": {"x": 1}}, {"ts": None, "values": {"x": 2}}]
    assert (await push(ingest_server, "STAMPED", pushed, NDJSON))[0] == 200
    await wait_until(lambda: ingest_server.hub.histories["STAMPED"].last_seq == 2)
    _, held = await history(ingest_server, "STAMPED")
    after = int(time.time() * 1000)
    assert [p["values"] for p in held] == [{"x": 1}, {"x": 2}]
    assert all(before <= p["ts"] <= after for p in held)


async def test_second_push_continues_seqs_and_may_use_fewer_series(ingest_server):
    """Pushing again to a feed appends after its last seq; a point may omit series."""
    now = int(time.time() * 1000)
    assert (await push(ingest_server, "TWICE", sample(3, now)))[0] == 200
    status, _, body = await push(ingest_server, "TWICE", [{"ts": now + 9, "values": {"b": 7}}])
    assert (status, body) == (200, {"feed": "TWICE", "accepted": 1})
    await wait_until(lambda: ingest_server.hub.histories["TWICE"].last_seq == 4)
    _, held = await history(ingest_server, "TWICE")
    assert [(p["seq"], p["values"]) for p in held][-2:] == [(3, {"a": 2, "b": 0.5}), (4, {"b": 7})]


# --- rejected requests write nothing ----------------------------------------------------

GOOD = b'{"values": {"a": 1}}'
FUTURE = int(time.time() * 1000) + 2 * 86_400_000


def arr(*points: bytes) -> bytes:
    return b"[" + b",".join(points) + b"]"


BAR = b'{"open": 1, "high": 2, "low": 0, "close": 1}'
MANY = json.dumps({"values": {f"s{i}": i for i in range(MAX_SERIES)}}).encode()


def bad(case: str, body: bytes, status: int, code: str, index: int | None = None, **options):
    """One rejected request: POST *body* to feed PUSHED (or options["feed"])."""
    return pytest.param(body, status, code, index, options, id=case)


BAD_REQUESTS = [
    bad("not-json", b"[{", 400, "bad_json"),
    bad("not-utf8", arr(b'{"values": {"a": "\xff"}}'), 400, "bad_json"),
    bad("nan-literal", arr(b'{"values": {"a": NaN}}'), 400, "bad_json"),
    bad("inf-literal", arr(b'{"values": {"a": 1e999}}'), 400, "bad_json"),
    bad("empty-body", b"", 400, "bad_json"),
    bad("not-array", GOOD, 400, "bad_body"),
    bad("empty-array", b"[]", 400, "no_points"),
    bad("not-object", arr(GOOD, b"5"), 400, "bad_point", 1),
    bad("no-values", arr(GOOD, b'{"ts": 1764096123456}'), 400, "bad_point", 1),
    bad("empty-values", arr(b'{"values": {}}'), 400, "bad_point", 0),
    bad("unknown-field", arr(b'{"value": {"a": 1}}'), 400, "bad_point", 0),
    bad("string-value", arr(b'{"values": {"a": "1"}}'), 400, "bad_value", 0),
    bad("bool-value", arr(b'{"values": {"a": true}}'), 400, "bad_value", 0),
    bad("null-value", arr(b'{"values": {"a": null}}'), 400, "bad_value", 0),
    bad("unsafe-int", arr(b'{"values": {"a": 9007199254740992}}'), 400, "bad_value", 0),
    bad("float-ts", arr(b'{"ts": 1764096123456.0, "values": {"a": 1}}'), 400, "bad_ts", 0),
    bad("negative-ts", arr(b'{"ts": -1, "values": {"a": 1}}'), 400, "bad_ts", 0),
    bad("ts-before-2000", arr(b'{"ts": 946684799999, "values": {"a": 1}}'), 400, "bad_ts", 0),
    bad("ts-in-2-days", arr(b'{"ts": %d, "values": {"a": 1}}' % FUTURE), 400, "bad_ts", 0),
    # A configured feed's series are fixed; a pushed feed may add some, but
    # keeps the kind of those it has and stays within MAX_SERIES (256).
    bad("unknown-series", arr(b'{"values": {"c": 1}}'), 400, "unknown_series", 0, feed="ACME"),
    bad("line-series-sent-a-bar", arr(GOOD, b'{"values": {"a": %s}}' % BAR), 400, "bad_value", 1),
    bad("past-the-series-cap", arr(b'{"values": {"c": 1}}', MANY), 400, "too_many_series", 1),
    bad("bad-last-point", arr(*[GOOD] * 9, b"{}"), 400, "bad_point", 9),
    bad(
        "ndjson-bad-line", GOOD + b"\n\n" + GOOD + b"\n{\n", 400, "bad_json", 2, content_type=NDJSON
    ),
    bad("ndjson-bad-point", GOOD + b"\n[]\n", 400, "bad_point", 1, content_type=NDJSON),
    bad("too-many-points", arr(*[GOOD] * 51), 413, "too_many_points"),
    bad("too-many-lines", b"\n".join([GOOD] * 51), 413, "too_many_points", content_type=NDJSON),
    bad("too-large", arr(b" " * 20_000 + GOOD), 413, "too_large"),
    bad("too-large-chunked", arr(b" " * 20_000 + GOOD), 413, "too_large", chunked=True),
    bad("text-plain", arr(GOOD), 415, "unsupported_media_type", content_type="text/plain"),
    bad("no-content-type", arr(GOOD), 415, "unsupported_media_type", content_type=None),
    bad("no-token", arr(GOOD), 401, "unauthorized", token=None),
    bad("wrong-token", arr(GOOD), 401, "unauthorized", token="s3cre"),
    bad("bad-feed-name", arr(GOOD), 400, "bad_feed_name", feed="-PUSHED"),
    bad("encoded-feed-name", arr(GOOD), 400, "bad_feed_name", feed="a%20b"),
    bad(
        "new-feed-bad-value",
        arr(GOOD, b'{"values": {"a": "x"}}'),
        400,
        "bad_value",
        1,
        feed="FRESH",
    ),
    bad(
        "new-feed-bad-series",
        arr(GOOD, b'{"values": {"a b": 1}}'),
        400,
        "bad_series_name",
        1,
        feed="FRESH",
    ),
    bad(
        "new-feed-bad-ts",
        arr(GOOD, b'{"ts": "now", "values": {"a": 1}}'),
        400,
        "bad_ts",
        1,
        feed="FRESH",
    ),
]


@pytest.fixture
async def small_limits_server(start_server):
    """Ingest on, at most 50 points and 20,000 bytes per request; feed PUSHED holds 3 points."""
    server = await start_server(
        ingest_token=TOKEN, symbols=("ACME",), ingest_max_points=50, ingest_max_bytes=20_000
    )
    assert (await push(server, "PUSHED", sample(3, int(time.time() * 1000))))[0] == 200
    await wait_until(lambda: server.hub.histories["PUSHED"].last_seq == 3)
    return server


@pytest.mark.parametrize(("body", "status", "code", "index", "options"), BAD_REQUESTS)
async def test_bad_request_is_4xx_and_writes_nothing(
    small_limits_server, body, status, code, index, options
):
    """Each bad request gets its 4xx JSON error (with the first bad point's index);
    afterwards the feed holds exactly what it held, and no feed was created."""
    server = small_limits_server
    _, before = await history(server, "PUSHED")
    options = {"feed": "PUSHED", "content_type": JSON, **options}
    path = f"/api/feeds/{options.pop('feed')}/points"
    got_status, headers, answer = await http(server, "POST", path, body, **options)
    assert (got_status, answer["code"], answer.get("index")) == (status, code, index), answer
    assert isinstance(answer["error"], str) and answer["error"]
    if status == 401:
        assert headers["www-authenticate"] == "Bearer"
    # A good push after it is the barrier: it lands right after the old points.
    assert (await push(server, "PUSHED", [{"values": {"b": 42}}]))[0] == 200
    await wait_until(lambda: server.hub.histories["PUSHED"].last_seq >= 4)
    _, after = await history(server, "PUSHED")
    assert after[:-1] == before and after[-1]["seq"] == 4 and after[-1]["values"] == {"b": 42}
    assert list(server.hub.feeds) == ["ACME", "PUSHED"]
    assert (await history(server, "FRESH"))[0] == 404


async def test_declared_huge_body_is_refused_before_it_is_sent(small_limits_server):
    """A Content-Length over the limit is 413 at once, without the body being sent."""
    status, _, body = await http(
        small_limits_server, "POST", "/api/feeds/PUSHED/points", length=10**9
    )
    assert (status, body["code"]) == (413, "too_large")


async def test_random_bodies_never_get_a_500(small_limits_server):
    """Mutated and random bodies always get 200 or a 4xx, never a 5xx."""
    rng = random.Random(7)
    valid = json.dumps(sample(5, int(time.time() * 1000))).encode()
    statuses = set()
    for _ in range(150):
        body = bytearray(valid)
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(body) + 1)
            body[at : at + rng.randint(0, 4)] = rng.choice(
                [b"", b"NaN", b"1e999", b"[", b"}", b'"', b"\xff", b"-", b"null", b"\n", b"9" * 30]
            )
        feed = rng.choice(["PUSHED", "NEW1", "NEW2"])
        content_type = rng.choice([JSON, NDJSON])
        status, _, _ = await http(
            small_limits_server,
            "POST",
            f"/api/feeds/{feed}/points",
            bytes(body),
            content_type=content_type,
        )
        statuses.add(status)
    assert statuses <= {200, 400, 413} and 400 in statuses


# --- auth and configuration ---------------------------------------------------------------


async def test_no_token_configured_disables_ingest(start_server):
    """Without a token ingest is off: HTTP 404 saying so, WebSocket handshake refused (404)."""
    server = await start_server(symbols=("ACME",))
    status, _, body = await push(server, "PUSHED", sample(1, int(time.time() * 1000)))
    assert (status, body["error"]) == (404, "ingest is disabled (no token configured)")
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with connect_ingest(server):
            pass
    assert refused.value.response.status_code == 404
    assert list(server.hub.feeds) == ["ACME"]


@pytest.mark.parametrize("token", [None, "wrong"])
async def test_websocket_handshake_without_the_token_is_401(ingest_server, token):
    """A WebSocket ingest handshake without the right bearer token is refused with 401."""
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with connect_ingest(ingest_server, token):
            pass
    assert refused.value.response.status_code == 401
    assert refused.value.response.headers["WWW-Authenticate"] == "Bearer"


async def test_unknown_feed_is_404_when_creation_is_off(start_server):
    """With ingest_create_feeds=False an unknown feed is 404 over HTTP and an error over WS;
    existing feeds still take points."""
    server = await start_server(ingest_token=TOKEN, symbols=("ACME",), ingest_create_feeds=False)
    status, _, body = await push(server, "NEW", sample(1, int(time.time() * 1000)))
    assert (status, body["code"], body["error"]) == (404, "unknown_feed", "unknown feed 'NEW'")
    async with connect_ingest(server) as ws:
        await ws.send(json.dumps({"feed": "NEW", "points": [{"values": {"a": 1}}]}))
        assert (await recv_json(ws))["code"] == "unknown_feed"
        await ws.send(json.dumps({"feed": "ACME", "points": [{"values": {"price": 1.5}}]}))
        assert await recv_json(ws) == {"type": "ack", "feed": "ACME", "accepted": 1}
    assert list(server.hub.feeds) == ["ACME"]


# --- WebSocket ingest ----------------------------------------------------------------------


async def test_websocket_ingest_acks_each_message_and_viewers_see_points(ingest_server):
    """Each message is acked with its count; viewers see the points in order, seqs 1..n."""
    server = ingest_server
    now = int(time.time() * 1000)
    messages = [sample(k, now + 1000 * k) for k in (1, 500, 30)]
    async with websockets.connect(server.ws_url, max_size=None) as viewer:
        assert (await recv_json(viewer))["type"] == "hello"
        async with connect_ingest(server) as ws:
            for points in messages:
                await ws.send(json.dumps({"feed": "WS", "points": points}))
                assert await recv_json(ws) == {"type": "ack", "feed": "WS", "accepted": len(points)}
        _, got = await watch(viewer, "WS", 531)
    expected = [p for points in messages for p in points]
    assert [p["seq"] for p in got] == list(range(1, 532))
    assert [{"ts": p["ts"], "values": p["values"]} for p in got] == expected
    assert (await history(server, "WS"))[1] == got


async def test_websocket_errors_are_answered_and_the_connection_goes_on(ingest_server):
    """Bad messages get one error each (nothing written), then good ones are still acked."""
    server = ingest_server
    one = {"values": {"a": 1}}
    good = {"feed": "WS", "points": [one]}
    bad = [
        ("{", "bad_json", None),
        ("[]", "bad_message", None),
        (b"\xff", "bad_json", None),
        (json.dumps({"feed": "a b", "points": [one]}), "bad_feed_name", None),
        (json.dumps({"feed": "WS", "points": [one, {"values": {"a": "x"}}]}), "bad_value", 1),
        (json.dumps({"feed": "WS", "points": [one, {"ts": 5, **one}]}), "bad_ts", 1),
    ]
    async with connect_ingest(server) as ws:
        for message, code, index in bad:
            await ws.send(message)
            error = await recv_json(ws)
            assert (error["type"], error["code"], error.get("index")) == ("error", code, index)
            assert error["message"]
        assert "WS" not in server.hub.feeds
        await ws.send(json.dumps(good))
        assert await recv_json(ws) == {"type": "ack", "feed": "WS", "accepted": 1}
        bar = {"open": 1, "high": 2, "low": 0, "close": 1}  # "a" is a line
        await ws.send(json.dumps({"feed": "WS", "points": [{"values": {"z": 1, "a": bar}}]}))
        error = await recv_json(ws)
        assert (error["code"], error["index"]) == ("bad_value", 0)
        assert "'a'" in error["message"]
        assert server.hub.feeds["WS"].series_names == {"a"}  # z refused with it
        await ws.send(json.dumps(good))
        assert (await recv_json(ws))["type"] == "ack"
    await wait_until(lambda: server.hub.histories["WS"].last_seq == 2)
    assert [p["values"] for p in (await history(server, "WS"))[1]] == [{"a": 1}, {"a": 1}]


async def test_websocket_message_over_the_limit_closes_1009(start_server):
    """A message over ingest_max_bytes closes the connection with 1009 (too big)."""
    server = await start_server(ingest_token=TOKEN, symbols=("ACME",), ingest_max_bytes=10_000)
    async with connect_ingest(server) as ws:
        await ws.send(json.dumps({"feed": "WS", "points": [{"values": {"a": 1}}]}))
        assert (await recv_json(ws))["type"] == "ack"
        await ws.send(json.dumps({"feed": "WS", "points": sample(1000, 0)}))
        with pytest.raises(websockets.ConnectionClosed):
            await recv_json(ws)
    assert ws.close_code == 1009
    assert (await push(server, "WS", [{"values": {"a": 2}}]))[0] == 200
    await wait_until(lambda: server.hub.histories["WS"].last_seq == 2)
    assert [p["values"] for p in (await history(server, "WS"))[1]] == [{"a": 1}, {"a": 2}]


async def test_open_ingest_socket_is_closed_1001_on_shutdown(start_server):
    """Stopping the server closes an idle ingest WebSocket with 1001 (going
    away), promptly, instead of holding shutdown and cutting it with 1011."""
    server = await start_server(ingest_token=TOKEN, shutdown_timeout=5.0)
    async with connect_ingest(server) as ws:
        await ws.send(json.dumps({"feed": "idle", "points": [{"values": {"v": 1}}]}))
        assert (await recv_json(ws))["type"] == "ack"
        loop = asyncio.get_running_loop()
        started = loop.time()
        await server.stop()
        with pytest.raises(websockets.ConnectionClosed):
            await recv_json(ws)
        elapsed = loop.time() - started
    assert ws.close_code == 1001
    assert elapsed < 4.0  # well before the 5 s shutdown timeout would have cut it


async def test_readme_curl_example_creates_the_feed(start_server):
    """The README's curl command, pointed at a test server, creates and fills its feed."""
    import re
    import shlex
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```sh\n\s*(curl .*?)```", readme, re.S).group(1)
    words = shlex.split(block.replace("\\\n", " "))
    token = re.search(r"Bearer (\S+?)'?$", next(w for w in words if "Bearer" in w)).group(1)
    server = await start_server(ingest_token=token)
    words[-1] = words[-1].replace("http://127.0.0.1:8000", server.url)
    process = await asyncio.create_subprocess_exec(*words, stdout=asyncio.subprocess.PIPE)
    stdout, _ = await process.communicate()
    assert process.returncode == 0 and json.loads(stdout) == {"feed": "lab", "accepted": 1}
    info = server.hub.feeds["lab"]
    assert sorted(info.series_names) == ["humidity", "temp_c"]
    await wait_until(lambda: server.hub.histories["lab"].last_seq == 1)


async def test_pushed_bars_create_an_ohlc_series(ingest_server):
    """Pushing objects with open/high/low/close creates a candle (ohlc) series;
    viewers get the bars as sent; a bar that does not hold together is a 400."""
    server = ingest_server
    bars = [
        {"values": {"bar": {"open": 10, "high": 12, "low": 9, "close": 11}, "volume": 5}},
        {"values": {"bar": {"open": 11, "high": 11.5, "low": 10, "close": 10.5}, "volume": 2}},
    ]
    async with websockets.connect(server.ws_url) as viewer:
        assert (await recv_json(viewer))["type"] == "hello"
        path = "/api/feeds/candles/points"
        status, _, body = await http(server, "POST", path, json.dumps(bars).encode())
        assert (status, body) == (200, {"feed": "candles", "accepted": 2})
        declared, got = await watch(viewer, "candles", 2)
    series = declared["candles"]["series"]
    assert [(s["name"], s["kind"]) for s in series] == [("bar", "ohlc"), ("volume", "line")]
    assert [p["values"] for p in got] == [b["values"] for b in bars]
    broken = [{"values": {"bar": {"open": 10, "high": 9, "low": 8, "close": 9.5}}}]
    status, _, body = await http(server, "POST", path, json.dumps(broken).encode())
    assert status == 400 and body["code"] == "bad_value" and "low <= open" in body["error"]
    assert len(server.hub.histories["candles"]) == 2


async def test_ingest_limit_above_quarts_default_is_honoured(start_server):
    """A body limit raised past Quart's 16 MiB default is the one that applies."""
    server = await start_server(ingest_token=TOKEN, ingest_max_bytes=20 * 2**20)
    # Valid JSON padded with whitespace to 17 MiB: over Quart's default only.
    body = json.dumps(sample(3, int(time.time() * 1000))).encode()
    body += b" " * (17 * 2**20 - len(body))
    status, _, reply = await http(server, "POST", "/api/feeds/big/points", body)
    assert (status, reply) == (200, {"feed": "big", "accepted": 3})
