"""The replay feed of a real file, run by the real CLI on a real server."""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from tests.support.servers import http_request, start_cli, stop_process
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

DATA = Path(importlib.util.find_spec("vega_datasets").submodule_search_locations[0]) / "_data"
STOCKS = DATA / "stocks.csv"


def stock_points() -> list[dict]:
    """stocks.csv as pandas reads it: one point per date, a value per symbol."""
    frame = pd.read_csv(STOCKS)
    frame["ts"] = [
        round(t.timestamp() * 1000) for t in pd.to_datetime(frame["date"]).dt.tz_localize("UTC")
    ]
    return [
        {"ts": ts, "values": dict(zip(group["symbol"], group["price"], strict=True))}
        for ts, group in frame.groupby("ts", sort=True)
    ]


async def history(url: str, feed: str) -> list[dict]:
    response = await http_request(f"{url}/api/feeds/{feed}/history")
    assert response.status == 200, response.body
    return response.json()["points"]


async def test_cli_replays_stocks_with_the_files_dates():
    """`--feed replay path=stocks.csv key=symbol clock=file speed=...`: the
    history holds every date of the file (2000-2010, not today's minutes) with
    each symbol's price at it."""
    process, url = await start_cli(
        "--feed", "replay", f"path={STOCKS}", "key=symbol", "clock=file", "speed=1e10"
    )
    try:
        expected = stock_points()

        async def complete() -> bool:
            return len(await history(url, "stocks")) >= len(expected)

        await wait_until(complete, timeout=20, what="all 123 dates of stocks.csv")
        points = await history(url, "stocks")
        feeds = (await http_request(f"{url}/api/feeds")).json()["feeds"]
    finally:
        await stop_process(process)
    assert [{"ts": p["ts"], "values": p["values"]} for p in points] == expected
    (stocks,) = [f for f in feeds if f["name"] == "stocks"]
    assert [s["name"] for s in stocks["series"]] == ["MSFT", "AMZN", "IBM", "GOOG", "AAPL"]
    assert stocks["restarts"] == 0


async def test_config_file_splits_stocks_into_a_feed_per_symbol(tmp_path):
    """From a TOML config: use = "replay", key, split = "feeds" and units as a
    table make one feed per symbol with its unit and its own prices."""
    (tmp_path / "dashboard.toml").write_text(
        textwrap.dedent(
            f"""
            [[feeds]]
            use = "replay"
            path = "{STOCKS}"
            key = "symbol"
            split = "feeds"
            clock = "file"
            speed = 1e10
            units = {{ price = "USD" }}
            """
        )
    )
    process, url = await start_cli("--config", "dashboard.toml", cwd=str(tmp_path))
    try:

        async def complete() -> bool:
            return len(await history(url, "stocks.GOOG")) >= 68

        await wait_until(complete, timeout=20, what="GOOG's 68 months")
        feeds = (await http_request(f"{url}/api/feeds")).json()["feeds"]
        goog = await history(url, "stocks.GOOG")
    finally:
        await stop_process(process)
    names = ["stocks.MSFT", "stocks.AMZN", "stocks.IBM", "stocks.GOOG", "stocks.AAPL"]
    assert [f["name"] for f in feeds] == names
    assert all(
        f["series"]
        == [{"name": "price", "kind": "line", "unit": "USD", "plot": True, "level": False}]
        for f in feeds
    )
    expected = [p for p in stock_points() if "GOOG" in p["values"]]
    assert [(p["ts"], p["values"]) for p in goog] == [
        (p["ts"], {"price": p["values"]["GOOG"]}) for p in expected
    ]


async def test_bad_rows_and_loop_breaks_do_not_restart_the_feed(tmp_path):
    """A replay that skips bad rows and loops (BREAK between passes) keeps
    running: the good rows arrive and the feed is never restarted."""
    lines = STOCKS.read_text().splitlines()
    lines[10] = "MSFT,Nov 31st of never,30.0"
    path = tmp_path / "stocks.csv"
    path.write_text("\n".join(lines) + "\n")
    process, url = await start_cli(
        "--feed", "replay", f"path={path}", "key=symbol", "loop=true", "speed=1e10"
    )
    try:

        async def two_passes_or_trouble() -> bool:
            (feed,) = (await http_request(f"{url}/api/feeds")).json()["feeds"]
            if feed["restarts"] or feed["status"] != "running":
                return True
            return len(await history(url, "stocks")) >= 2 * 123

        await wait_until(two_passes_or_trouble, timeout=20, what="two passes of stocks.csv")
        (stocks,) = (await http_request(f"{url}/api/feeds")).json()["feeds"]
    finally:
        await stop_process(process)
    assert stocks["status"] == "running" and stocks["restarts"] == 0
