"""Feeds created by push ingest after the page opened: announced by a `feeds`
message (docs/protocol.md), they get a panel and a table row with their
points, without a reload and without a new hello."""

import asyncio
import math
import time

import pytest

from tests.support.browser import ConsoleLog, screenshot
from tests.support.ingest import TOKEN, push

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

POINTS = 20

VIEWS = [
    ({"width": width, "height": height}, scheme)
    for width, height in ((1400, 900), (390, 844))
    for scheme in ("light", "dark")
]


def readings(now_ms: int) -> list[dict]:
    return [
        {
            "ts": now_ms - (POINTS - i) * 1000,
            "values": {"temp": round(21 + math.sin(i / 3), 2), "humidity": 40 + i % 5},
        }
        for i in range(POINTS)
    ]


def bars(now_ms: int) -> list[dict]:
    out = []
    for i in range(POINTS):
        open_ = 100 + 3 * math.sin(i / 4)
        close = open_ + (1 if i % 3 else -1.5)
        bar = {"open": open_, "high": max(open_, close) + 1, "low": min(open_, close) - 1}
        out.append({"ts": now_ms - (POINTS - i) * 1000, "values": {"bar": {**bar, "close": close}}})
    return out


# The feed's drawn points, table row and held count, or null until it has a panel.
SHOWN = """(name) => {
  const chart = document.querySelector(`.panel[data-feed="${name}"] .js-plotly-plot`);
  const row = document.querySelector(`#feeds tr[data-feed="${name}"]`);
  if (!chart || !row) return null;
  const drawn = Math.max(...chart.data.map(t => (t.close ?? t.y).filter(v => v !== null).length));
  return {drawn, held: window.livefeed.stats().perFeed[name]?.count ?? 0,
          row: row.querySelector('.feed-name').textContent, kept: window.beforeTheFeeds === true};
}"""


async def test_feeds_created_after_the_page_opened_appear_with_their_points(start_server, browser):
    """Four views (wide and narrow, light and dark): the page is open and live,
    then ingest creates a line feed and a candle feed with 20 points each; both
    get a panel drawing their 20 points and a table row, in the same page (no
    reload), with nothing on the console."""
    server = await start_server(ingest_token=TOKEN, symbols=("ACME",), rate=2.0)
    for viewport, scheme in VIEWS:
        context = await browser.new_context(viewport=viewport, color_scheme=scheme)
        try:
            page = await context.new_page()
            console = ConsoleLog(page)
            await page.goto(server.url + "/")
            await page.wait_for_function("window.livefeed?.stats().status === 'live'")
            await page.wait_for_selector('.panel[data-feed="ACME"] .js-plotly-plot')
            await page.evaluate("window.beforeTheFeeds = true")
            suffix = f"{viewport['width']}-{scheme}"
            lab, candles = f"lab-{suffix}", f"bars-{suffix}"
            now_ms = int(time.time() * 1000)
            answers = await asyncio.gather(
                push(server, lab, readings(now_ms)), push(server, candles, bars(now_ms))
            )
            assert [status for status, _, _ in answers] == [200, 200]
            for name in (lab, candles):
                await page.wait_for_function(
                    f"(name) => {{ const s = ({SHOWN})(name); return s && s.drawn === {POINTS}; }}",
                    arg=name,
                    timeout=15_000,
                )
                shown = await page.evaluate(SHOWN, name)
                assert shown == {"drawn": POINTS, "held": POINTS, "row": name, "kept": True}
            await page.locator(f'.panel[data-feed="{candles}"]').scroll_into_view_if_needed()
            await screenshot(page, f"created-feeds-{suffix}")
            assert console.problems() == []
        finally:
            await context.close()
