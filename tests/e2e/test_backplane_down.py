"""The shared backplane unreachable, on real Hypercorn (a switchable in-memory
backplane stands in for Redis): viewers stay and are told, /healthz and
/metrics say so, ingest answers 503 with Retry-After and writes nothing."""

import asyncio
import json

import pytest
import websockets

from tests.support.backplanes import switchable_server
from tests.support.clients import recv_json
from tests.support.ingest import connect_ingest, http, push
from tests.support.metrics import metric
from tests.support.servers import get_json

pytestmark = pytest.mark.e2e

URL = "redis://app:pa55word@127.0.0.1:1/0"  # shown redacted; never dialled (the fake serves)


async def next_of(ws, kind: str) -> dict:
    async with asyncio.timeout(5):
        while (message := await recv_json(ws))["type"] != kind:
            pass
    return message


async def test_backplane_down_and_back_for_viewers_health_and_ingest():
    async with switchable_server(ingest_token="s3cret", symbols=("ACME",), backplane=URL) as server:
        async with websockets.connect(server.ws_url) as viewer:
            assert (await recv_json(viewer))["backplane_up"] is True
            health = await get_json(server.url + "/healthz")
            assert health["status"] == "ok"
            assert health["backplane"] == {
                "kind": "redis",
                "url": "redis://app:***@127.0.0.1:1/0",
                "up": True,
            }
            assert await metric(server, "livefeed_backplane_up") == 1

            server.backplane.go_down()
            assert await next_of(viewer, "backplane") == {"type": "backplane", "up": False}
            health = await get_json(server.url + "/healthz")
            # First: the cause (a producer refused meanwhile may add its own reason).
            assert (health["status"], health["reasons"][0]) == ("degraded", "backplane down")
            assert health["backplane"]["up"] is False and "pa55word" not in json.dumps(health)
            assert await metric(server, "livefeed_backplane_up") == 0
            async with websockets.connect(server.ws_url) as late:
                assert (await recv_json(late))["backplane_up"] is False

            status, headers, body = await push(server, "lab", [{"values": {"t": 1}}])
            assert (status, headers["retry-after"]) == (503, "3")
            assert body["code"] == "backplane_down" and body["retry_after"] == 3
            assert "pa55word" not in json.dumps(body)
            status, _, listed = await http(server, "GET", "/api/feeds")
            assert "lab" not in [feed["name"] for feed in listed["feeds"]]

            async with connect_ingest(server) as ingest:
                message = {"feed": "lab", "points": [{"values": {"t": 1}}]}
                await ingest.send(json.dumps(message))
                refused = await recv_json(ingest)
                assert (refused["type"], refused["code"]) == ("error", "backplane_down")
                assert refused["retry_after"] == 3

                server.backplane.go_up()  # the same ingest socket goes on
                assert await next_of(viewer, "backplane") == {"type": "backplane", "up": True}
                await ingest.send(json.dumps(message))
                assert await recv_json(ingest) == {"type": "ack", "feed": "lab", "accepted": 1}
            added = await next_of(viewer, "feeds")
            assert [feed["name"] for feed in added["added"]] == ["lab"]
            assert "backplane down" not in (await get_json(server.url + "/healthz"))["reasons"]
            assert await metric(server, "livefeed_backplane_up") == 1
            status, _, held = await http(server, "GET", "/api/feeds/lab/history")
            assert status == 200 and [p["seq"] for p in held["points"]] == [1]
