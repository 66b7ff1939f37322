"""The chart layout a person sees for any feed: axes by unit, a legend off the
plot, panel sizes by feed count, and a feed's trouble in words on its panel."""

import time

import pytest

from dashboard.config import FeedSpec
from feeds.api import Feed
from feeds.base import FeedFailed
from tests.support.browser import screenshot
from tests.support.ingest import TOKEN, push

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

HOST = (FeedSpec("host", {"interval": 0.2}),)

# Per plotted series of a panel: its y axis, that axis' vertical extent on the
# page (px) and its range, once Plotly has drawn the feed's data.
AXES = """(feed) => {
  const gd = document.querySelector(`.panel[data-feed="${feed}"] .js-plotly-plot`);
  if (!gd?._fullLayout || !gd.data.some(t => (t.y ?? []).length > 2)) return null;
  const top = gd.getBoundingClientRect().top;
  return Object.fromEntries(gd.data.map(t => {
    const ax = gd._fullLayout['yaxis' + (t.yaxis ?? 'y').slice(1)];
    return [t.name, {axis: t.yaxis ?? 'y', range: ax.range,
                     top: top + ax._offset, bottom: top + ax._offset + ax._length}];
  }));
}"""

# The plot area (every subplot, as Plotly lays it out) and the legend's box, in page px.
BOXES = """(feed) => {
  const panel = document.querySelector(`.panel[data-feed="${feed}"]`);
  const gd = panel?.querySelector('.js-plotly-plot');
  if (!gd?._fullLayout) return null;
  const r = gd.getBoundingClientRect(), s = gd._fullLayout._size;
  const box = (b) => ({left: b.left, top: b.top, right: b.right, bottom: b.bottom});
  const legend = panel.querySelector('.panel-legend');
  return {
    plot: {left: r.left + s.l, top: r.top + s.t,
           right: r.left + s.l + s.w, bottom: r.top + s.t + s.h},
    legend: legend.hidden ? null : box(legend.getBoundingClientRect()),
    panel: box(panel.getBoundingClientRect()),
    grid: box(document.getElementById('charts').getBoundingClientRect()),
  };
}"""


def many_series_points() -> list[dict]:
    """30 s of a pushed feed with 23 series and no units (as ingest creates it)."""
    now = int(time.time() * 1000)
    return [
        {"ts": now - 1000 * (30 - i), "values": {f"s{k:02d}": k * 10 + i % 7 for k in range(23)}}
        for i in range(30)
    ]


def overlap(a: dict, b: dict) -> bool:
    return (
        a["left"] < b["right"]
        and b["left"] < a["right"]
        and a["top"] < b["bottom"]
        and b["top"] < a["bottom"]
    )


async def drawn(page, js: str, feed: str, timeout: float = 20) -> dict:
    handle = await page.wait_for_function(js, arg=feed, timeout=timeout * 1000)
    return await handle.json_value()


async def test_host_percentages_and_byte_rates_get_axes_of_their_own(start_server, page):
    """CPU % and memory % share a 0-100 axis; the byte rates are on other rows,
    so the percentages no longer lie flat at 0 under millions."""
    server = await start_server(feeds=HOST)
    await page.goto(server.url + "/")
    axes = await drawn(page, AXES, "host")
    assert axes["cpu_percent"]["axis"] == axes["memory_percent"]["axis"]
    for rate in ("net_sent_bps", "net_recv_bps", "disk_read_bps", "disk_write_bps"):
        assert axes[rate]["axis"] != axes["cpu_percent"]["axis"], rate
        # Stacked rows: the rates' row is below the percentages', not over it.
        assert axes[rate]["top"] >= axes["cpu_percent"]["bottom"], rate
    assert axes["cpu_percent"]["range"] == [0, 100]
    assert axes["cpu_percent"]["bottom"] - axes["cpu_percent"]["top"] >= 100, "a readable row"
    assert axes["net_sent_bps"]["axis"] == axes["net_recv_bps"]["axis"]
    assert axes["disk_read_bps"]["axis"] != axes["net_sent_bps"]["axis"]
    names = await page.locator(".panel[data-feed='host'] .annotation-text").evaluate_all(
        "els => els.map(e => e.textContent)"
    )
    assert names == ["usage · %", "network · B/s", "disk · B/s"]
    await screenshot(page, "layout-host")
    assert page.console_log.problems() == []


@pytest.mark.parametrize("viewport", [(1400, 900), (390, 844)])
async def test_one_feed_fills_the_width(start_server, browser, viewport):
    width, height = viewport
    server = await start_server(symbols=("ACME",))
    context = await browser.new_context(viewport={"width": width, "height": height})
    try:
        page = await context.new_page()
        await page.goto(server.url + "/")
        boxes = await drawn(page, BOXES, "ACME")
        panel, grid = boxes["panel"], boxes["grid"]
        assert panel["right"] - panel["left"] >= 0.98 * (grid["right"] - grid["left"]), boxes
        # Taller than a panel among eight, which share two rows on this screen.
        assert panel["bottom"] - panel["top"] >= 0.45 * height, boxes
    finally:
        await context.close()


async def test_legend_never_covers_the_plot(start_server, browser):
    """Host (6 series, chips above) and a pushed feed of 23 series (a list
    beside or under it), wide and on a phone: the legend's box and the plot
    area never meet."""
    server = await start_server(feeds=HOST, ingest_token=TOKEN)
    assert (await push(server, "many", many_series_points()))[0] == 200
    for width, height in ((1400, 900), (390, 844)):
        context = await browser.new_context(viewport={"width": width, "height": height})
        try:
            page = await context.new_page()
            await page.goto(server.url + "/")
            for feed in ("host", "many"):
                boxes = await drawn(page, BOXES, feed)
                assert boxes["legend"] is not None, feed
                assert not overlap(boxes["legend"], boxes["plot"]), (feed, width, boxes)
        finally:
            await context.close()


async def test_a_pushed_feed_of_23_series_is_mostly_chart_with_a_list_of_toggles(
    start_server, page
):
    """The 23 series are a compact scrolled list; the plot keeps most of the
    panel; a toggle hides one series, None hides all, All brings them back."""
    server = await start_server(ingest_token=TOKEN, symbols=("ACME",))
    assert (await push(server, "many", many_series_points()))[0] == 200
    await page.goto(server.url + "/")
    boxes = await drawn(page, BOXES, "many")
    plot, panel = boxes["plot"], boxes["panel"]
    plot_area = (plot["right"] - plot["left"]) * (plot["bottom"] - plot["top"])
    panel_area = (panel["right"] - panel["left"]) * (panel["bottom"] - panel["top"])
    assert plot_area >= 0.5 * panel_area, boxes
    legend = page.locator(".panel[data-feed='many'] .panel-legend")
    assert await legend.get_attribute("data-mode") == "list"
    items = legend.locator(".legend-items")
    scrolls = await items.evaluate("e => e.scrollHeight > e.clientHeight")
    assert scrolls, "23 entries do not fit: the list scrolls instead of growing over the chart"

    visible = """(n) => document.querySelector(".panel[data-feed='many'] .js-plotly-plot")
        .data.filter(t => t.visible !== false).length === n"""
    await legend.locator(".legend-item[data-series='s05']").click()
    await page.wait_for_function(visible, arg=22)
    assert (
        await legend.locator(".legend-item[data-series='s05']").get_attribute("aria-pressed")
        == "false"
    )
    await legend.locator(".legend-none").click()
    await page.wait_for_function(visible, arg=0)
    await legend.locator(".legend-all").click()
    await page.wait_for_function(visible, arg=23)
    await screenshot(page, "layout-many-series")
    assert page.console_log.problems() == []


class Unplugged(Feed):
    """Fails on start, every time: it keeps restarting."""

    name = "sensor"
    series = ["v"]

    async def stream(self):
        raise OSError("sensor unplugged")
        yield {}  # pragma: no cover - makes this an async generator


class Missing(Feed):
    """Gives up at once: it ends as failed."""

    name = "archive"
    series = ["v"]

    async def stream(self):
        raise FeedFailed("no such file: /data/archive.csv")
        yield {}  # pragma: no cover - makes this an async generator


async def test_feed_state_is_written_on_the_panel_without_hovering(start_server, page):
    """Restarting with its error and failed with its message show as text on
    the panel, outside the plot; a healthy panel says nothing."""
    server = await start_server(
        extra_sources=lambda: [Unplugged(), Missing()],
        restart_backoff=0.05,
        restart_backoff_max=0.2,
        symbols=("ACME",),
    )
    await page.goto(server.url + "/")
    restarting = page.locator(".panel[data-feed='sensor'] .panel-state")
    failed = page.locator(".panel[data-feed='archive'] .panel-state")
    await restarting.get_by_text("OSError: sensor unplugged").wait_for(timeout=15_000)
    assert (await restarting.inner_text()).startswith("restarting (")
    assert await failed.inner_text() == "failed: no such file: /data/archive.csv"
    for state in (restarting, failed):
        assert await state.is_visible()
        box = await state.bounding_box()
        chart = await state.locator("xpath=..").locator(".panel-chart").bounding_box()
        assert box["y"] + box["height"] <= chart["y"], "above the chart, not over it"
    assert await page.locator(".panel[data-feed='ACME'] .panel-state").is_hidden()
    await screenshot(page, "layout-feed-state")
    assert page.console_log.problems() == []
