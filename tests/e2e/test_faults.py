"""Faults on a real server: a hung feed, and restarts with the history kept on disk."""

import asyncio
import json
import signal
import subprocess
import sys

import pytest
import websockets

from feeds import Feed
from tests.support.clients import point_seqs, recv_json
from tests.support.servers import get_json, start_cli, stop_process
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e


class Hanging(Feed):
    """Yields nothing until released, then a point every 20 ms."""

    name = "HANG"
    series = ["v"]
    stall_after = 0.2

    def __init__(self):
        self.release = asyncio.Event()

    async def stream(self):
        await self.release.wait()
        n = 0
        while True:
            n += 1
            yield {"v": n}
            await asyncio.sleep(0.02)


async def test_hung_feed_shows_stalled_and_the_tickers_still_reach_viewers(start_server):
    """A feed whose generator awaits forever is reported stalled (status message
    and /api/feeds) while the tickers' points keep reaching a viewer; when it
    yields again it is reported running and its points arrive."""
    hanging = Hanging()
    server = await start_server(extra_sources=lambda: [hanging])
    feeds_url = server.url + "/api/feeds"
    async with websockets.connect(server.ws_url) as ws:
        state = None
        acme_after_stall = 0
        async with asyncio.timeout(15):
            while state != "stalled" or acme_after_stall < 10:
                message = await recv_json(ws)
                if message["type"] == "status":
                    state = message["feeds"]["HANG"]["state"]
                elif state == "stalled":
                    acme_after_stall += len(point_seqs([message], "ACME"))
        feeds = {f["name"]: f for f in (await get_json(feeds_url))["feeds"]}
        assert feeds["HANG"]["status"] == "stalled" and feeds["HANG"]["stall_after"] == 0.2
        assert feeds["HANG"]["last_seq"] == 0
        assert feeds["ACME"]["status"] == "running" and feeds["ACME"]["stall_after"] == 5.0

        hanging.release.set()
        hang_points = 0
        async with asyncio.timeout(15):
            while state != "running" or hang_points < 3:
                message = await recv_json(ws)
                if message["type"] == "status":
                    state = message["feeds"]["HANG"]["state"]
                hang_points += len(point_seqs([message], "HANG"))
    feeds = {f["name"]: f for f in (await get_json(feeds_url))["feeds"]}
    assert feeds["HANG"]["status"] == "running"


async def test_in_process_restart_with_history_db_keeps_epoch_and_history(start_server, tmp_path):
    """With history_db, a restarted app reports the same epoch, holds the points
    of the last run and numbers on from them; a resume gets a replay."""
    server = await start_server(symbols=("ACME",), history_db=tmp_path / "history.db")
    await wait_until(lambda: server.hub.histories["ACME"].last_seq >= 20)
    before = await get_json(server.url + "/healthz")
    async with websockets.connect(server.ws_url) as ws:
        got = [await recv_json(ws)]
        while got[-1]["type"] != "batch":
            got.append(await recv_json(ws))
    last = max(point_seqs(got, "ACME"))
    # Points the viewer has not seen, for its replay.
    await wait_until(lambda: server.hub.histories["ACME"].last_seq >= last + 5)
    await server.restart()
    after = await get_json(server.url + "/healthz")
    assert after["epoch"] == before["epoch"] == server.hub.epoch
    held = server.hub.histories["ACME"]
    assert held.first_seq == 1 and held.last_seq >= last
    async with websockets.connect(server.ws_url + "?await_subscribe=1") as ws:
        assert (await recv_json(ws))["epoch"] == before["epoch"]
        resume = {"epoch": before["epoch"], "seqs": {"ACME": last}}
        await ws.send(json.dumps({"type": "subscribe", "resume": resume}))
        replay = await recv_json(ws)
    assert replay["type"] == "replay" and replay["feeds"] == ["ACME"]
    seqs = point_seqs([replay], "ACME")
    assert seqs == list(range(last + 1, last + 1 + len(seqs))) and len(seqs) >= 5


async def test_cli_restart_with_history_db_resumes_with_no_gap(tmp_path):
    """A viewer of `python -m dashboard --history-db FILE` gets 1001 on SIGTERM;
    after a start with the same file, /healthz has the same epoch and the viewer's
    resume gets a replay (no reset snapshot) continuing its seqs with no gap and
    no duplicate, then live batches continuing them."""
    args = ("--symbols", "ACME,GLOBX", "--rate", "20", "--seed", "5")
    args += ("--history-db", str(tmp_path / "history.db"))
    process, url = await start_cli(*args)
    try:
        epoch = (await get_json(url + "/healthz"))["epoch"]
        async with websockets.connect(url.replace("http", "ws") + "/ws") as ws:
            seen: list[dict] = []
            async with asyncio.timeout(15):
                while len(point_seqs(seen, "ACME")) < 20:
                    seen.append(await recv_json(ws))
            process.send_signal(signal.SIGTERM)
            with pytest.raises(websockets.ConnectionClosed):
                while True:
                    seen.append(await recv_json(ws))
            assert ws.close_code == 1001
        assert await stop_process(process) == 0
    finally:
        await stop_process(process)
    last = {feed: max(point_seqs(seen, feed)) for feed in ("ACME", "GLOBX")}
    for feed in last:
        assert point_seqs(seen, feed) == list(range(1, last[feed] + 1))

    process, url = await start_cli(*args)
    try:
        assert (await get_json(url + "/healthz"))["epoch"] == epoch
        async with websockets.connect(url.replace("http", "ws") + "/ws?await_subscribe=1") as ws:
            assert (await recv_json(ws))["epoch"] == epoch
            await ws.send(
                json.dumps({"type": "subscribe", "resume": {"epoch": epoch, "seqs": last}})
            )
            replay = await recv_json(ws)
            assert replay["type"] == "replay" and set(replay["feeds"]) == set(last)
            after: list[dict] = []
            async with asyncio.timeout(15):
                while len([m for m in after if m["type"] == "batch"]) < 5:
                    after.append(await recv_json(ws))
    finally:
        await stop_process(process)
    assert "snapshot" not in {m["type"] for m in after}
    for feed, seq in last.items():
        seqs = point_seqs([replay, *after], feed)
        assert seqs == list(range(seq + 1, seq + 1 + len(seqs))), feed
        assert len(point_seqs(after, feed)) >= 1, feed


def test_cli_with_a_corrupt_history_db_exits_with_a_clear_error(tmp_path):
    """A history file that is not a database stops the start with one line
    naming the file, exit status 1, no traceback."""
    path = tmp_path / "history.db"
    path.write_bytes(b"\x00garbage" * 1000)
    result = subprocess.run(
        [sys.executable, "-m", "dashboard", "--port", "0", "--history-db", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert f"error: history db {path}" in result.stderr and "corrupt" in result.stderr
    assert "Traceback" not in result.stderr
