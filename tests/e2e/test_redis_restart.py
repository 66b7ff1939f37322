"""Redis taken away mid-run and brought back (appendonly, fsync always), under
two instances with a viewer each, a ticker and a client pushing points: every
point whose push was acknowledged reaches both viewers exactly once, pushes
while Redis is down are refused with 503 and Retry-After, and no viewer sees
a seq twice or a hole."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal

import pytest
import websockets

from tests.support.clients import collect
from tests.support.ingest import TOKEN, push
from tests.support.redis_server import RedisServer, need_redis
from tests.support.servers import get_json
from tests.support.streams import Recorder, assert_runs_on, last_seqs, seen
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e


class Pusher:
    """Pushes {"n": 0, 1, 2, ...} into PUSHED, one point per request,
    alternating between the instances; keeps which were acknowledged."""

    def __init__(self, servers):
        self.servers = servers
        self.acked: list[int] = []
        self.refused: list[dict[str, str]] = []  # the 503s' headers
        self.other: list[tuple[int, object]] = []

    async def run(self) -> None:
        n = 0
        while True:
            server = self.servers[n % len(self.servers)]
            status, headers, body = await push(server, "PUSHED", [{"values": {"n": n}}])
            if status == 200:
                self.acked.append(n)
            elif status == 503:
                self.refused.append(headers)
            else:
                self.other.append((status, body))
            n += 1
            await asyncio.sleep(0.02)  # pacing: about 50 pushes a second


def pushed_values(messages) -> list[int]:
    return [json.loads(values)["n"] for _, _, _, values in seen(messages, "PUSHED")]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["stopped", "killed"])
async def test_redis_restart_loses_nothing_acknowledged_and_repeats_nothing(
    start_server, redis_server, sig
):
    servers = [
        await start_server(symbols=("ACME",), backplane=redis_server.url, ingest_token=TOKEN)
        for _ in range(2)
    ]
    epoch = servers[0].hub.epoch
    viewers = [Recorder(await websockets.connect(s.ws_url, max_size=None)) for s in servers]
    pusher = Pusher(servers)
    task = asyncio.create_task(pusher.run())
    try:
        await wait_until(lambda: len(pusher.acked) >= 10, what="pushes before the restart")
        await asyncio.to_thread(redis_server.stop, sig)
        await wait_until(lambda: not any(s.hub.backplane_up for s in servers), what="down")
        await wait_until(lambda: len(pusher.refused) >= 3, what="pushes refused while down")
        acked_before = len(pusher.acked)
        await asyncio.to_thread(redis_server.start)
        await wait_until(lambda: all(s.hub.backplane_up for s in servers), 15, "up again")
        await wait_until(lambda: len(pusher.acked) >= acked_before + 10, what="pushes after")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    try:
        last = pusher.acked[-1]
        for viewer in viewers:
            await wait_until(lambda v=viewer: last in pushed_values(v.messages), what="last push")
    finally:
        for viewer in viewers:
            await viewer.close()
    got = [viewer.messages for viewer in viewers]
    assert not pusher.other, pusher.other
    assert all(float(h["retry-after"]) > 0 for h in pusher.refused), pusher.refused
    for messages in got:
        values = pushed_values(messages)
        assert sorted(set(values) & set(pusher.acked)) == pusher.acked  # nothing acked lost
        assert len(values) == len(set(values))  # nothing twice
        assert_runs_on(seen(messages, "PUSHED"), "PUSHED")
        assert_runs_on(seen(messages, "ACME"), "ACME")
    assert seen(got[0], "PUSHED") == seen(got[1], "PUSHED")
    assert (await get_json(servers[1].url + "/api/feeds"))["epoch"] == epoch


async def test_redis_that_lost_its_data_gives_every_instance_and_viewer_one_new_epoch(
    start_server, tmp_path
):
    """Redis with nothing on disk (no AOF, no RDB) restarted: both instances
    switch to the same new epoch, their viewers are closed with 1001, and a
    viewer resuming under the old epoch gets a fresh snapshot (reset) under
    the new one, numbered from 1 again (README "Scale out", third row)."""
    need_redis()
    redis = RedisServer(tmp_path / "redis", appendonly=False)
    redis.start()
    try:
        servers = [await start_server(symbols=("ACME",), backplane=redis.url) for _ in range(2)]
        old = servers[0].hub.epoch
        viewers = [Recorder(await websockets.connect(s.ws_url, max_size=None)) for s in servers]
        await wait_until(lambda: all(last_seqs(v.messages).get("ACME", 0) >= 5 for v in viewers))
        await asyncio.to_thread(redis.stop)
        await asyncio.to_thread(redis.start)
        await wait_until(
            lambda: servers[0].hub.epoch == servers[1].hub.epoch != old, 15, "one new epoch"
        )
        for viewer in viewers:
            await viewer.close()
            assert viewer.ws.close_code == 1001
        resume = {"epoch": old, "seqs": last_seqs(viewers[0].messages)}
        for server in servers:
            async with websockets.connect(server.ws_url + "?await_subscribe=1") as ws:
                await ws.send(json.dumps({"type": "subscribe", "resume": resume}))
                got = await collect(ws, lambda m: any(x["type"] == "snapshot" for x in m))
            snapshot = next(m for m in got if m["type"] == "snapshot")
            assert snapshot["reset"] is True and snapshot["epoch"] == server.hub.epoch
            assert [p["seq"] for p in snapshot["points"]][:1] in ([], [1])
    finally:
        redis.stop()
