"""Failures are visible and recoverable: /healthz and /metrics name what is
wrong, and the history file survives a disk that fills and frees again.

A full disk is made for real on a running dashboard with RLIMIT_FSIZE, set from
outside with prlimit(2): every write to a file then fails with EFBIG (Python
ignores SIGXFSZ), as writes do on a full disk; raising it again is space
returning."""

import asyncio
import json
import re
import resource
import sqlite3
import subprocess
import sys
from contextlib import closing
from types import SimpleNamespace

import pytest
import websockets

from feeds import Feed
from feeds.base import FeedFailed
from tests.support.clients import point_seqs, recv_json
from tests.support.metrics import scrape, value
from tests.support.servers import get_json, start_cli, stop_process
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e


class Crashing(Feed):
    """Raises at once, every run: restarted after the backoff, again and again."""

    name = "CRASHY"
    series = ["v"]

    async def stream(self):
        raise RuntimeError("sensor unplugged")
        yield {}  # pragma: no cover - makes this a generator


class GivingUp(Feed):
    """Says going on is pointless: failed, not restarted."""

    name = "GONE"
    series = ["v"]

    async def stream(self):
        raise FeedFailed("licence expired")
        yield {}  # pragma: no cover


async def test_healthz_stays_200_and_says_degraded_with_feeds_restarting_or_failed(start_server):
    """A feed restarting and a feed failed: /healthz answers 200 (liveness) with
    status "degraded" and a reason per cause, counts only (no feed name or
    error: /healthz needs no token); /metrics counts feeds per state."""
    healthy = await start_server(symbols=("ACME",))
    health = await get_json(healthy.url + "/healthz")
    assert health["status"] == "ok" and health["reasons"] == []
    assert value(await scrape(healthy), "livefeed_feed_states", state="running") == 1

    server = await start_server(
        symbols=("ACME",), restart_backoff=60.0, extra_sources=lambda: [Crashing(), GivingUp()]
    )

    async def degraded() -> bool:
        return (await get_json(server.url + "/healthz"))["status"] == "degraded"

    await wait_until(degraded, what="/healthz degraded")
    health = await get_json(server.url + "/healthz")  # urlopen raises on a non-2xx
    assert sorted(health["reasons"]) == ["1 feed failed", "1 feed restarting"]
    assert {"uptime_s", "epoch", "feeds", "clients"} <= health.keys()  # as before
    assert "sensor" not in json.dumps(health) and "CRASHY" not in json.dumps(health)
    samples = await scrape(server)
    for state, count in (("running", 1), ("restarting", 1), ("failed", 1), ("stalled", 0)):
        assert value(samples, "livefeed_feed_states", state=state) == count, state


def set_file_size_limit(pid: int, limit: int) -> None:
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))


async def healthz(url: str) -> dict:
    return await get_json(url + "/healthz")


async def store_failing(url: str) -> float:
    return value(await scrape(SimpleNamespace(url=url)), "livefeed_history_store_failing")


def stored_seqs(path, feed: str) -> list[int]:
    with closing(sqlite3.connect(path)) as db:
        rows = db.execute("SELECT seq FROM points WHERE feed = ? ORDER BY seq", (feed,))
        return [seq for (seq,) in rows]


async def test_cli_on_a_disk_that_fills_and_frees_saves_every_point_in_order(tmp_path):
    """`--history-db` on a disk that fills: viewers keep getting points, /healthz
    is 200 "degraded" naming the history store and the gauge is 1; when space
    returns, saving resumes by itself and health is "ok" again. After a stop
    and a start, the history holds every point, the failing stretch included,
    with no hole, under the same epoch."""
    path = tmp_path / "history.db"
    args = ("--symbols", "ACME", "--rate", "40", "--history-db", str(path))
    process, url = await start_cli(*args)
    try:
        epoch = (await healthz(url))["epoch"]
        assert (await healthz(url))["status"] == "ok" and await store_failing(url) == 0
        async with websockets.connect(url.replace("http", "ws") + "/ws") as ws:
            set_file_size_limit(process.pid, 0)  # the disk is full
            health = await _wait_for_status(url, "degraded")
            [reason] = health["reasons"]
            assert reason.startswith("history store failing: ") and "error" in reason
            assert await store_failing(url) == 1
            # Live data goes on while nothing can be saved.
            seen: list[dict] = []
            async with asyncio.timeout(10):
                while len(point_seqs(seen, "ACME")) < 40:
                    seen.append(await recv_json(ws))
            set_file_size_limit(process.pid, resource.RLIM_INFINITY)  # space returns
            await _wait_for_status(url, "ok", timeout=30)
            assert await store_failing(url) == 0
            while len(point_seqs(seen, "ACME")) < 80:
                seen.append(await recv_json(ws))
        last_seen = max(point_seqs(seen, "ACME"))
    finally:
        assert await stop_process(process) == 0
    seqs = stored_seqs(path, "ACME")
    assert seqs == list(range(1, seqs[-1] + 1)) and seqs[-1] >= last_seen

    process, url = await start_cli(*args)
    try:
        assert (await healthz(url))["epoch"] == epoch
        history = await get_json(url + "/api/feeds/ACME/history")
    finally:
        assert await stop_process(process) == 0
    served = [p["seq"] for p in history["points"]]
    assert served[: seqs[-1]] == seqs


async def test_cli_stopped_while_the_disk_is_full_restarts_with_a_break(tmp_path):
    """Stopped while writes still fail, the dashboard exits 0 but cannot mark
    the file clean: the next start takes a new epoch, shows the points that were
    saved, and draws each feed's first new point after a break, never joined to
    them as if the unsaved stretch had not been."""
    path = tmp_path / "history.db"
    args = ("--symbols", "ACME", "--rate", "40", "--history-db", str(path))
    process, url = await start_cli(*args)
    try:
        epoch = (await healthz(url))["epoch"]
        feeds = url + "/api/feeds"
        await wait_until(lambda: _last_seq_at_least(feeds, 20), timeout=20)
        set_file_size_limit(process.pid, 0)
        await _wait_for_status(url, "degraded")
        failed_at = (await get_json(feeds))["feeds"][0]["last_seq"]
        await wait_until(lambda: _last_seq_at_least(feeds, failed_at + 40), timeout=20)
    finally:
        assert await stop_process(process) == 0
    saved = stored_seqs(path, "ACME")
    assert saved == list(range(1, saved[-1] + 1)) and saved[-1] <= failed_at

    process, url = await start_cli(*args)
    try:
        assert (await healthz(url))["epoch"] != epoch
        since = f"{url}/api/feeds/ACME/history?since={saved[-1]}"
        await wait_until(lambda: _has_points(since), timeout=20)
        first_new = (await get_json(since))["points"][0]
        restored = (await get_json(url + "/api/feeds/ACME/history"))["points"]
    finally:
        assert await stop_process(process) == 0
    assert [p["seq"] for p in restored[: len(saved)]] == saved
    assert first_new["seq"] == saved[-1] + 1 and first_new["gap"] is True


def test_cli_on_a_disk_full_at_start_says_so_in_one_line_and_leaves_no_file(tmp_path):
    """No room for even the new file's first page: one line naming the file and
    the reason, exit status 1, and no file (nor SQLite side file) left behind."""
    path = tmp_path / "history.db"
    full_disk = (
        "import resource, sys, runpy; "
        "resource.setrlimit(resource.RLIMIT_FSIZE, (512, resource.RLIM_INFINITY)); "
        "sys.argv = ['dashboard', '--port', '0', '--history-db', sys.argv[1]]; "
        "runpy.run_module('dashboard', run_name='__main__')"
    )
    result = subprocess.run(
        [sys.executable, "-c", full_disk, str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1, result.stderr
    # EFBIG is "disk I/O error" to SQLite, ENOSPC "database or disk is full".
    [line] = result.stderr.strip().splitlines()
    assert re.fullmatch(
        f"dashboard: error: history db {re.escape(str(path))} cannot be used: "
        "(disk I/O error|database or disk is full)",
        line,
    ), result.stderr
    assert list(tmp_path.iterdir()) == []


async def _wait_for_status(url: str, status: str, timeout: float = 15) -> dict:
    async def reached() -> bool:
        return (await healthz(url))["status"] == status

    await wait_until(reached, timeout=timeout, what=f"/healthz {status}")
    return await healthz(url)


async def _last_seq_at_least(url: str, seq: int) -> bool:
    return (await get_json(url))["feeds"][0]["last_seq"] >= seq


async def _has_points(url: str) -> bool:
    return bool((await get_json(url))["points"])
