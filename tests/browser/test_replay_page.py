"""A file replayed on its own dates (clock=file) on the page: every point of
ten years of monthly prices is held and drawn, and the axis shows years."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.support.browser import screenshot
from tests.support.servers import start_cli, stop_process

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

DATA = Path(importlib.util.find_spec("vega_datasets").submodule_search_locations[0]) / "_data"
STOCKS = DATA / "stocks.csv"
DATES = 123  # distinct months in stocks.csv, Jan 2000 to Mar 2010

HELD = """() => {
  const feed = window.livefeed.state.feeds.get('stocks');
  return feed ? {count: feed.count, first: feed.ts[0], last: feed.ts[feed.ts.length - 1]} : null;
}"""


async def test_page_holds_and_draws_a_whole_file_on_its_own_dates(page):
    process, url = await start_cli(
        "--feed", "replay", f"path={STOCKS}", "key=symbol", "clock=file", "speed=1e10"
    )
    try:
        await page.goto(url + "/")
        await page.wait_for_function(
            f"(() => {{ const h = ({HELD})(); return h && h.count >= {DATES}; }})()",
            timeout=20_000,
        )
        held = await page.evaluate(HELD)
        # The 5-minute live window would have kept only the newest month.
        assert held["count"] == DATES
        assert held["first"] == 946_684_800_000  # Jan 1 2000
        plot = page.locator(".panel[data-feed='stocks'] .js-plotly-plot")
        await page.wait_for_function(
            """() => (document.querySelector(".panel[data-feed='stocks'] .js-plotly-plot")
                       ?.data?.[0]?.x ?? []).length >= 100"""
        )
        ticks = await plot.locator(".xtick text").all_text_contents()
        # Years, not a clock time of today (the live window's %H:%M:%S).
        assert len(ticks) >= 2 and all(t.isdigit() and 2000 <= int(t) <= 2010 for t in ticks), ticks
        await screenshot(page, "replay-stocks-file-clock-1400")
        assert page.console_log.problems() == []
    finally:
        await stop_process(process)
