"""A feed's own breaks and skipped inputs on the page: the line is broken where the
feed yielded BREAK (or restarted without continuing), and the skips show as text."""

import asyncio
import math

import pytest

from feeds import Feed
from feeds.base import BREAK, Skipped
from tests.support.browser import screenshot
from tests.support.servers import get_json

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

SEGMENT = 30  # points between two breaks


class Segments(Feed):
    """A wave in stretches of SEGMENT points at 20 a second, each at its own level
    and separated by a break; a skipped input after every other stretch."""

    name = "segments"
    series = ["level"]
    units = {"level": "V"}
    rate = 20.0

    async def stream(self):
        line = 0
        for stretch in range(10_000):
            for i in range(SEGMENT):
                line += 1
                yield {"level": 2.0 * (stretch % 3) + math.sin(i / 4)}
                await asyncio.sleep(1 / self.rate)
            yield BREAK
            if stretch % 2 == 0:
                line += 1
                yield Skipped(f"line {line}: 'n/a' is not a number")


# Each gap marker of the feed, with the values on either side of it.
GAPS = """() => {
  const feed = window.livefeed.state.feeds.get('segments');
  if (!feed) return null;
  const ys = feed.values.get('level') ?? [];
  const gaps = [];
  ys.forEach((y, i) => { if (y === null) gaps.push({i, before: ys[i - 1], after: ys[i + 1],
                                                   ts: feed.ts[i], tsBefore: feed.ts[i - 1],
                                                   tsAfter: feed.ts[i + 1]}); });
  return {gaps, missed: feed.missed, count: feed.count, status: feed.status};
}"""


async def open_page(page, server):
    await page.goto(server.url + "/")
    await page.wait_for_function(
        f"(() => {{ const s = ({GAPS})(); return s && s.gaps.length >= 2; }})()",
        timeout=20_000,
    )


async def test_a_feeds_break_is_drawn_and_its_skips_are_shown(start_server, page):
    """Between two stretches the page holds a gap marker (the chart's line
    breaks there), nothing counts as missed, and the badge and the table say
    how many inputs were skipped, with the latest reason in the tooltip."""
    server = await start_server(symbols=("ACME",), extra_sources=lambda: [Segments()])
    await open_page(page, server)
    held = await page.evaluate(GAPS)
    assert held["missed"] == 0
    indices = [g["i"] for g in held["gaps"]]
    for gap in held["gaps"]:
        # A marker sits between two points, halfway in time.
        assert isinstance(gap["before"], float | int) and isinstance(gap["after"], float | int)
        assert gap["tsBefore"] < gap["ts"] < gap["tsAfter"]
    # Whole stretches between markers: exactly SEGMENT points each.
    assert all(b - a - 1 == SEGMENT for a, b in zip(indices, indices[1:], strict=False))
    # The breaks reach the chart (drawn on the next frames, not at once).
    await page.wait_for_function(
        """() => (document.querySelector(".panel[data-feed='segments'] .js-plotly-plot")
                   ?.data?.[0]?.y ?? []).filter(v => v === null).length >= 2"""
    )

    await page.wait_for_function(
        """() => /\\d+ skipped/.test(document.querySelector(
                 ".panel[data-feed='segments'] .panel-status").textContent)"""
    )
    badge = page.locator(".panel[data-feed='segments'] .panel-status")
    cell = page.locator("tr[data-feed='segments'] .status-cell")
    assert "skipped" in await cell.inner_text()
    title = await badge.get_attribute("title")
    assert title.startswith("last skipped: line ") and "'n/a' is not a number" in title
    status = (await page.evaluate(GAPS))["status"]
    assert status["state"] == "running" and status["skipped"] >= 1
    listed = {f["name"]: f for f in (await get_json(server.url + "/api/feeds"))["feeds"]}
    assert listed["segments"]["skipped"] >= status["skipped"]
    assert listed["segments"]["skipped_reason"].endswith("'n/a' is not a number")
    assert page.console_log.problems() == []


VIEWS = [
    ({"width": width, "height": height}, scheme)
    for width, height in ((1400, 900), (390, 844))
    for scheme in ("light", "dark")
]


async def test_screenshots_of_a_feed_with_breaks(start_server, browser):
    """Screenshots of a feed with breaks and skips, wide and narrow, light and
    dark (one server for the four views: starting one per view cost 25 s)."""
    server = await start_server(symbols=("ACME",), extra_sources=lambda: [Segments()])
    for viewport, scheme in VIEWS:
        context = await browser.new_context(viewport=viewport, color_scheme=scheme)
        try:
            page = await context.new_page()
            await open_page(page, server)
            await page.wait_for_function(
                """() => document.querySelector(".panel[data-feed='segments'] .panel-status")
                           .textContent.includes('skipped')"""
            )
            await page.locator(".panel[data-feed='segments']").scroll_into_view_if_needed()
            await screenshot(page, f"feed-breaks-{viewport['width']}-{scheme}")
        finally:
            await context.close()
