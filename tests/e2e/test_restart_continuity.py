"""Restarts with --history-db: the ticker walks on from its last kept price, and a
feed that cannot continue is drawn with a break, not joined by a fake move."""

import asyncio
import json
import math
import sqlite3
from contextlib import closing

import pytest

from feeds import Feed
from tests.support.servers import get_json, start_cli, stop_process
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

SYMBOLS = ("ACME", "GLOBX", "INITECH")
#: How far the first price after a restart may be from the last kept one: one
#: step of the default walk at 20 a second has an sd of 0.019 %, so 0.5 % is
#: over 25 sd; a fresh start (uniform in 20..400) lands that close to the kept
#: price about once in 100 per symbol.
CLOSE = 0.005


class Counter(Feed):
    """Counts from 1 on every start: it cannot continue (no resume_from)."""

    name = "COUNT"
    series = ["n"]
    rate = 20.0

    async def stream(self):
        n = 0
        while True:
            n += 1
            yield {"n": n}
            await asyncio.sleep(1 / self.rate)


def kept_in(path) -> dict[str, dict]:
    """Each feed's last point in a stopped dashboard's history file."""
    with closing(sqlite3.connect(path)) as db:
        rows = db.execute(
            "SELECT feed, point FROM points p WHERE seq = (SELECT max(seq) FROM points q "
            "WHERE q.feed = p.feed)"
        ).fetchall()
    return {feed: json.loads(point) for feed, point in rows}


async def test_in_process_restart_continues_the_tickers_and_breaks_the_rest(start_server, tmp_path):
    """Restarted on the same history file, each ticker's first new price is a
    step from its last kept one (no jump to a new random price, no break); a
    feed that starts over has its first new point flagged as a break."""
    server = await start_server(
        symbols=SYMBOLS,
        seed=None,
        rate=20.0,
        history_db=tmp_path / "h.db",
        extra_sources=lambda: [Counter()],
    )
    feeds = (*SYMBOLS, "COUNT")
    await wait_until(lambda: all(server.hub.histories[f].last_seq >= 20 for f in feeds))
    await server.stop()
    kept = {f: server.hub.histories[f].last for f in feeds}
    await server.start()
    await wait_until(lambda: all(server.hub.histories[f].last_seq > kept[f].seq for f in feeds))
    for feed in feeds:
        history = await get_json(f"{server.url}/api/feeds/{feed}/history?since={kept[feed].seq}")
        first = history["points"][0]
        assert first["seq"] == kept[feed].seq + 1
        if feed == "COUNT":
            assert first["gap"] is True and first["values"] == {"n": 1}
            continue
        assert "gap" not in first, feed
        price, last = first["values"]["price"], kept[feed].values["price"]
        assert math.isclose(price, last, rel_tol=CLOSE), (feed, last, price)


async def test_cli_restart_on_the_same_history_db_continues_the_ticker_price(tmp_path):
    """`python -m dashboard --history-db FILE`, stopped and started again: every
    ticker's first price is a step from the last price the file kept."""
    path = tmp_path / "history.db"
    args = ("--symbols", ",".join(SYMBOLS), "--rate", "20", "--history-db", str(path))

    async def last_seqs(url) -> dict[str, int]:
        return {f["name"]: f["last_seq"] for f in (await get_json(url + "/api/feeds"))["feeds"]}

    process, url = await start_cli(*args)
    try:
        await wait_until(lambda: _all_at_least(last_seqs(url), 20), timeout=20)
    finally:
        assert await stop_process(process) == 0
    kept = kept_in(path)
    assert set(kept) == set(SYMBOLS)

    process, url = await start_cli(*args)
    try:
        firsts = {}
        for feed, point in kept.items():
            since = f"{url}/api/feeds/{feed}/history?since={point['seq']}"
            await wait_until(lambda since=since: _has_points(since), timeout=20)
            firsts[feed] = (await get_json(since))["points"][0]
    finally:
        assert await stop_process(process) == 0
    for feed, point in kept.items():
        first = firsts[feed]
        assert first["seq"] == point["seq"] + 1 and "gap" not in first, first
        price, last = first["values"]["price"], point["values"]["price"]
        assert math.isclose(price, last, rel_tol=CLOSE), (feed, last, price)


async def _all_at_least(seqs, least: int) -> bool:
    values = (await seqs).values()
    return bool(values) and min(values) >= least


async def _has_points(url: str) -> bool:
    return bool((await get_json(url))["points"])
