"""End to end: hostile client messages on /ws and /api/ingest, on real Hypercorn.

Each malformed message gets an error and the connection goes on; a frame the
WebSocket layer itself cannot accept (invalid UTF-8 in a text frame) gets a
close frame with its code; meanwhile another viewer misses nothing.
"""

import asyncio
import base64
import json
import os
import struct
import time

import pytest
import websockets

from tests.support.clients import recv_json
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

TOKEN = "s3cret"
HOSTILE = "<img src=x onerror=alert(1)>"

#: (frame, error code): text frames as str, binary frames as bytes. Every one is
#: answered with an error; the subscription stays as it was.
NASTY_VIEWER_MESSAGES = [
    ("{", "bad_json"),  # not JSON
    ("", "bad_json"),  # empty text
    (b"", "bad_json"),  # empty binary: Quart hands it over as None
    (b"\xff\xfe", "bad_json"),  # invalid UTF-8 in a binary frame
    (b"\xed\xa0\x80", "bad_json"),  # a lone surrogate, UTF-8-encoded, in a binary frame
    ('{"type":"ping","id":"\\ud800"}', "bad_json"),  # a lone surrogate escape
    ("\x00", "bad_json"),  # a NUL byte
    ("1e400", "bad_json"),  # overflows a double
    ('{"type":"ping","id":' + "9" * 5000 + "}", "bad_json"),  # a 5,000-digit integer
    # 5,000 levels of nesting (orjson stops at 1024); the parser's unit test
    # takes 100,000, which is over any sensible viewer message size limit.
    ("[" * 5000 + "]" * 5000, "bad_json"),
    ("[]", "bad_message"),  # JSON, but not an object
    ('"subscribe"', "bad_message"),
    ("42", "bad_message"),
    ("null", "bad_message"),
    ('{"type":5}', "bad_message"),  # wrong type of type
    ('{"type":"dance"}', "unknown_type"),
    (b'{"type":"dance"}', "unknown_type"),  # the same in a binary frame
    ('{"type":"ping","id":1,"extra":true}', "bad_message"),  # a field too many
    ('{"type":"subscribe","feed":["ACME"]}', "bad_message"),  # a typo of "feeds"
    ('{"type":"subscribe","feeds":"ACME"}', "bad_message"),  # feeds not a list
    ('{"type":"subscribe","feeds":[1]}', "bad_message"),
    ('{"type":"subscribe","resume":{"epoch":5,"seqs":{}}}', "bad_message"),
    ('{"type":"subscribe","resume":{"epoch":"e","seqs":{"ACME":-1}}}', "bad_message"),
    ('{"type":"subscribe","resume":{"epoch":"e","seqs":{"ACME":1.5}}}', "bad_message"),
    ('{"type":"subscribe","resume":{"epoch":"e","seqs":{"ACME":"7"}}}', "bad_message"),
    ('{"type":"subscribe","resume":{"epoch":"e","seqs":{"ACME":1e300}}}', "bad_message"),
    ('{"type":"subscribe","resume":{"epoch":"e","seqs":{"ACME":2e400}}}', "bad_json"),
    ('{"type":"subscribe","feeds":["A\\u0000"]}', "unknown_feed"),  # NUL in a name
    (json.dumps({"type": "subscribe", "feeds": [HOSTILE]}), "unknown_feed"),
    (json.dumps({"type": "subscribe", "feeds": ["x" * 2000] * 3}), "unknown_feed"),
]


async def next_error(ws) -> dict:
    """Skip live data up to the next error (answers come in order)."""
    async with asyncio.timeout(5):
        while (message := json.loads(await ws.recv()))["type"] != "error":
            assert message["type"] in ("hello", "snapshot", "batch", "status"), message
    return message


MAX_ROUNDS = 200


def batches(messages: list[dict]) -> int:
    return sum(m["type"] == "batch" for m in messages)


def seqs_of(messages: list[dict], feed: str) -> list[int]:
    return [p["seq"] for m in messages for p in m.get("points", []) if p["feed"] == feed]


async def test_nasty_messages_get_errors_while_another_viewer_misses_nothing(start_server):
    """Every malformed message is answered with an error of the documented code and
    the connection still answers a ping; a viewer connected all along gets live
    batches with no gap in seq; a new viewer then still gets hello and snapshot."""
    # The barrage runs far over the viewer message and subscribe rates, whose
    # limits tests/e2e/test_limits.py covers: off here.
    server = await start_server(viewer_max_messages_per_s=0, viewer_max_subscribes_per_s=0)
    watched: list[dict] = []
    async with websockets.connect(server.ws_url) as watcher:

        async def watch() -> None:
            async for frame in watcher:
                watched.append(json.loads(frame))

        watching = asyncio.create_task(watch())
        async with websockets.connect(server.ws_url) as nasty:
            assert (await recv_json(nasty))["type"] == "hello"
            # Round after round, until the watcher has had live batches
            # throughout (a round takes a fraction of a flush interval or two).
            batches_before = batches(watched)
            for _ in range(MAX_ROUNDS):
                for frame, code in NASTY_VIEWER_MESSAGES:
                    await nasty.send(frame)
                    error = await next_error(nasty)
                    assert error["code"] == code, (frame[:40], error)
                    assert 0 < len(error["message"]) < 500
                if batches(watched) - batches_before >= 10:
                    break
            else:
                raise AssertionError(f"the watcher got no 10 batches in {MAX_ROUNDS} rounds")
            await nasty.send(json.dumps({"type": "ping", "id": 9}))
            async with asyncio.timeout(5):
                while (message := json.loads(await nasty.recv()))["type"] != "pong":
                    assert message["type"] in ("batch", "status"), message
            assert message == {"type": "pong", "id": 9}
        # Live data kept flowing to the watcher past the barrage.
        target = server.hub.histories["ACME"].last_seq + 3
        await wait_until(
            lambda: max(seqs_of(watched, "ACME"), default=0) >= target, what="live batches"
        )
        watching.cancel()
        await asyncio.gather(watching, return_exceptions=True)
    assert [m["type"] for m in watched[:2]] == ["hello", "snapshot"]
    assert not [m for m in watched if m["type"] == "error"]
    for feed in server.hub.feeds:
        seqs = seqs_of(watched, feed)
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), feed
    async with websockets.connect(server.ws_url) as late:
        assert (await recv_json(late))["type"] == "hello"
        assert (await recv_json(late))["type"] == "snapshot"


# --- raw frames: what no WebSocket client library will send ------------------------------


def masked_frame(opcode: int, payload: bytes) -> bytes:
    """One final client frame (clients must mask)."""
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    if len(payload) < 126:
        head = bytes([0x80 | opcode, 0x80 | len(payload)])
    else:
        head = bytes([0x80 | opcode, 0x80 | 126]) + struct.pack("!H", len(payload))
    return head + mask + body


async def raw_websocket(server, path: str, headers: str = ""):
    """A handshake on a plain TCP connection; returns the open streams."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        f"Sec-WebSocket-Version: 13\r\n{headers}\r\n".encode()
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 101 "), head
    return reader, writer


async def read_close(reader: asyncio.StreamReader) -> tuple[int, str]:
    """Skip server frames up to the close frame; its code and reason."""
    async with asyncio.timeout(5):
        while True:
            first, second = await reader.readexactly(2)
            length = second & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", await reader.readexactly(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", await reader.readexactly(8))
            payload = await reader.readexactly(length)
            if first & 0x0F == 0x8:
                return int.from_bytes(payload[:2], "big"), payload[2:].decode()


@pytest.mark.parametrize(
    "payload",
    [b"\xff", b'{"type":"ping","id":"\xc3"}', b'{"type":"ping","id":"\xed\xa0\x80"}'],
    ids=["invalid-byte", "truncated-sequence", "encoded-surrogate"],
)
@pytest.mark.parametrize("path", ["/ws", "/api/ingest"])
async def test_invalid_utf8_in_a_text_frame_closes_1007(start_server, path, payload):
    """A text frame that is not UTF-8 breaks the WebSocket protocol (RFC 6455
    8.1): the server closes with 1007 and says why, where Hypercorn alone would
    drop the connection without a close frame; other clients go on."""
    server = await start_server(ingest_token=TOKEN)
    auth = f"Authorization: Bearer {TOKEN}\r\n" if path == "/api/ingest" else ""
    async with websockets.connect(server.ws_url) as bystander:
        reader, writer = await raw_websocket(server, path, auth)
        try:
            writer.write(masked_frame(0x1, payload))
            await writer.drain()
            code, reason = await read_close(reader)
        finally:
            writer.close()
            await writer.wait_closed()
        assert code == 1007 and reason
        await bystander.send(json.dumps({"type": "ping", "id": 1}))
        async with asyncio.timeout(5):
            while json.loads(await bystander.recv())["type"] != "pong":
                pass
    await wait_until(lambda: len(server.hub.clients) == 0, what="the hub forgot both clients")


# --- the ingest WebSocket ----------------------------------------------------------------

GOOD = {"values": {"a": 1}}

#: (frame, error code, index) for /api/ingest: each is answered, nothing is written.
NASTY_INGEST_MESSAGES = [
    ("{", "bad_json", None),
    ("", "bad_json", None),
    (b"", "bad_json", None),  # Quart's None: not to be taken for the server shutting down
    (b"\xff\xfe", "bad_json", None),
    ("\x00", "bad_json", None),
    ("1e400", "bad_json", None),
    ("[" * 5000 + "]" * 5000, "bad_json", None),
    ('{"feed":"NASTY","points":[{"values":{"a":' + "9" * 5000 + "}}]}", "bad_json", None),
    ('{"feed":"NASTY","points":[{"values":{"a":"\\ud800"}}]}', "bad_json", None),
    ("[]", "bad_message", None),
    ('"NASTY"', "bad_message", None),
    ("3", "bad_message", None),
    (json.dumps({"feed": "NASTY", "points": [GOOD], "token": TOKEN}), "bad_message", None),
    (json.dumps({"feed": "NASTY", "points": {"0": GOOD}}), "bad_message", None),
    (json.dumps({"feed": 5, "points": [GOOD]}), "bad_feed_name", None),
    (json.dumps({"feed": HOSTILE, "points": [GOOD]}), "bad_feed_name", None),
    (json.dumps({"feed": "A\x00", "points": [GOOD]}), "bad_feed_name", None),
    (json.dumps({"feed": "NASTY", "points": []}), "no_points", None),
    (json.dumps({"feed": "NASTY", "points": [GOOD, [1]]}), "bad_point", 1),
    (json.dumps({"feed": "NASTY", "points": [{"values": {HOSTILE: 1}}]}), "bad_series_name", 0),
    (json.dumps({"feed": "NASTY", "points": [{"values": {"a": 2**53}}]}), "bad_value", 0),
    (json.dumps({"feed": "NASTY", "points": [{"values": {"a": [1]}}]}), "bad_value", 0),
    (json.dumps({"feed": "NASTY", "points": [{"ts": True, **GOOD}]}), "bad_ts", 0),
    (json.dumps({"feed": "NASTY", "points": [{"ts": 2**64, **GOOD}]}), "bad_ts", 0),
]


async def test_nasty_ingest_messages_get_errors_and_write_nothing(start_server):
    """Every malformed ingest message (an empty binary frame included) gets one
    error of the documented code, writes nothing, and the connection still
    takes a good message afterwards."""
    server = await start_server(ingest_token=TOKEN, symbols=("ACME",))
    headers = {"Authorization": f"Bearer {TOKEN}"}
    url = server.url.replace("http://", "ws://", 1) + "/api/ingest"
    async with websockets.connect(url, additional_headers=headers) as ws:
        for frame, code, index in NASTY_INGEST_MESSAGES:
            await ws.send(frame)
            error = await recv_json(ws)
            assert (error["type"], error["code"], error.get("index")) == ("error", code, index), (
                frame[:40],
                error,
            )
            assert 0 < len(error["message"]) < 500
        assert "NASTY" not in server.hub.feeds
        now = int(time.time() * 1000)
        await ws.send(json.dumps({"feed": "NASTY", "points": [{"ts": now, **GOOD}]}))
        assert await recv_json(ws) == {"type": "ack", "feed": "NASTY", "accepted": 1}
    await wait_until(lambda: server.hub.histories["NASTY"].last_seq == 1)
