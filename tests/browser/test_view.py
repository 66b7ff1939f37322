"""Looking closer without losing the live edge: zoom/Live, Pause/Resume,
the time window with reduced server history, picks and the URL."""

import math
import time

import pytest

from dashboard.web.state import runtime_of
from tests.support.feeds import SilentFeed

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

CHART = ".panel[data-feed='{}'] .js-plotly-plot"


async def wait_for(page, expression: str, arg=None, timeout: float = 20) -> None:
    await page.wait_for_function(expression, arg=arg, timeout=timeout * 1000)


async def open_page(page, url: str, feed: str = "ACME") -> None:
    # The charts are waited for below; a loaded machine may take long to serve the page.
    await page.goto(url, wait_until="domcontentloaded", timeout=90_000)
    await wait_for(
        page,
        "(sel) => (document.querySelector(sel)?.data?.[0]?.x?.length ?? 0) > 20",
        CHART.format(feed),
    )


async def x_range(page, feed: str = "ACME") -> list[float]:
    """The x range the chart shows, in epoch ms (Plotly reports local date strings)."""
    return await page.evaluate(
        """(sel) => (document.querySelector(sel)._fullLayout.xaxis.range)
             .map((v) => typeof v === 'number' ? v : new Date(v.replace(' ', 'T')).getTime())""",
        CHART.format(feed),
    )


async def drawn_x(page, feed: str = "ACME") -> list[float]:
    return await page.evaluate(
        "(sel) => [...document.querySelector(sel).data[0].x]", CHART.format(feed)
    )


async def test_zoom_detaches_and_stays_while_points_arrive_then_live_returns(start_server, page):
    # One feed: its chart is redrawn every few frames, so "stays put" is tested.
    server = await start_server(symbols=("ACME",))
    await open_page(page, server.url + "/?window=1m")
    box = await page.locator(CHART.format("ACME") + " .nsewdrag").bounding_box()
    # A person drags a zoom box over the middle of the chart.
    y = box["y"] + box["height"] / 2
    await page.mouse.move(box["x"] + box["width"] * 0.3, y)
    await page.mouse.down()
    await page.mouse.move(box["x"] + box["width"] * 0.5, y + 5, steps=5)
    await page.mouse.move(box["x"] + box["width"] * 0.6, y + 10, steps=5)
    await page.mouse.up()
    await wait_for(page, "!document.querySelector('.vb-live').hidden")
    zoomed = await x_range(page)
    received = await page.evaluate("window.livefeed.stats().received")
    redraws = await page.evaluate("window.livefeed.stats().redraws")
    # Points keep arriving and charts keep being redrawn; this one stays put.
    await wait_for(
        page,
        """([n, r]) => window.livefeed.stats().received > n + 200
                        && window.livefeed.stats().redraws > r + 5""",
        [received, redraws],
    )
    assert await x_range(page) == pytest.approx(zoomed, abs=2)
    newest = await page.evaluate("Math.max(...window.livefeed.state.feeds.get('ACME').ts)")
    assert zoomed[1] < newest - 1000  # the live edge has moved on past the zoom
    await page.click(".vb-live")
    await wait_for(page, "document.querySelector('.vb-live').hidden")
    # Back at the live edge: the range ends at the newest point and follows it.
    await wait_for(
        page,
        """(sel) => {
             const feed = window.livefeed.state.feeds.get('ACME');
             const end = document.querySelector(sel).layout.xaxis.range[1];
             return Math.abs(end - feed.ts[feed.ts.length - 1]) < 500;
           }""",
        CHART.format("ACME"),
    )
    live = await x_range(page)
    assert live[1] - live[0] <= 60_000 + 50  # the 1m window (or all held, if shorter)
    assert live[0] <= zoomed[0] and live[1] > zoomed[1] + 1000


async def test_pause_counts_new_points_and_resume_draws_them_without_a_gap(start_server, page):
    # One feed: unpaused, its chart is redrawn every few frames.
    server = await start_server(symbols=("ACME",))
    await open_page(page, server.url + "/?window=1m")
    await page.click(".vb-pause")
    await wait_for(page, "document.querySelector('.vb-pause').textContent === 'Resume'")
    frozen = await drawn_x(page)
    # "N new" counts up while the chart stays as it was.
    await wait_for(
        page, "parseInt(document.querySelector('.vb-new').textContent.replace(/,/g, '')) >= 150"
    )
    count = int((await page.inner_text(".vb-new")).split()[0].replace(",", ""))
    assert await drawn_x(page) == frozen
    assert "paused=1" in page.url
    await page.click(".vb-pause")
    await wait_for(page, "document.querySelector('.vb-new').textContent === ''")
    await wait_for(
        page,
        "([sel, last]) => Math.max(...document.querySelector(sel).data[0].x) > last + 2000",
        [CHART.format("ACME"), frozen[-1]],
    )
    xs = await drawn_x(page)
    during = [x for x in xs if frozen[-1] - 1000 <= x]
    steps = [b - a for a, b in zip(during, during[1:], strict=False)]
    # 40 points a second: everything that arrived while paused is drawn, no hole.
    assert during[0] <= frozen[-1] and max(steps) < 500, max(steps)
    assert count >= 150 and "paused" not in page.url


async def test_long_window_draws_reduced_server_history_then_continues_live(start_server, page):
    server = await start_server(symbols=("ACME",), extra_sources=lambda: [SilentFeed()])
    runner = runtime_of(server.app).runner
    now = int(time.time() * 1000)
    # 50 minutes of history at 10 Hz, one spike of 1000 forty minutes ago.
    start = now - 50 * 60_000
    for i in range(30_000):
        ts = start + i * 100
        value = 1000.0 if i == 6_000 else 10 * math.sin(i / 300)
        await runner.publish("QUIET", {"level": value}, ts=ts)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    await open_page(page, server.url + "/", "QUIET")
    held = await page.evaluate("window.livefeed.state.feeds.get('QUIET').ts.length")
    assert held <= 3000  # the page holds five minutes; the rest must come from the server
    await page.click(".vb-windows button[data-window='1h']")
    await wait_for(
        page,
        """(sel) => { const x = document.querySelector(sel).data[0].x;
                      return x.length && x[x.length - 1] - x[0] > 45 * 60_000; }""",
        CHART.format("QUIET"),
    )
    asked = [u for u in requests if "/api/feeds/QUIET/history" in u]
    assert asked and "max_points=" in asked[-1] and "from_ts=" in asked[-1]
    ys = await page.evaluate(
        "(sel) => document.querySelector(sel).data[0].y", CHART.format("QUIET")
    )
    assert max(y for y in ys if y is not None) == 1000.0  # the spike survived reduction
    assert len(ys) <= 5000
    assert "window=1h" in page.url
    # Live points keep coming onto the same chart.
    await runner.publish("QUIET", {"level": 777.0}, ts=int(time.time() * 1000))
    await wait_for(
        page, "(sel) => document.querySelector(sel).data[0].y.includes(777)", CHART.format("QUIET")
    )
    xs = await drawn_x(page, "QUIET")
    assert xs[-1] - xs[0] > 45 * 60_000


async def test_window_picks_and_pause_survive_a_reload(server, page):
    await open_page(page, server.url + "/?theme=dark&window=7m")
    # A window the page does not have: said in one line, the default shown instead.
    note = await page.inner_text(".vb-note")
    assert note.startswith("Ignored window=7m: not a view this page has") and "\n" not in note
    assert (
        await page.get_attribute(".vb-windows button[data-window='5m']", "aria-pressed") == "true"
    )
    await page.click(".vb-windows button[data-window='15m']")
    await page.click(".vb-picker summary")
    await page.fill(".vb-search", "glo")
    visible = await page.locator(".vb-picks label:visible").all_inner_texts()
    assert visible == ["GLOBX"]
    await page.click(".vb-picks input[data-name='GLOBX']")
    await wait_for(page, "document.querySelector(\".panel[data-feed='GLOBX']\").hidden")
    await page.click(".vb-pause")
    assert "window=15m" in page.url and "theme=dark" in page.url and "paused=1" in page.url
    assert "GLOBX" not in page.url.split("feeds=")[1]
    await page.reload(wait_until="domcontentloaded", timeout=90_000)
    await wait_for(page, "document.querySelectorAll('.panel').length === 8")
    pressed = await page.get_attribute(".vb-windows button[data-window='15m']", "aria-pressed")
    assert pressed == "true"
    assert await page.locator(".panel[data-feed='GLOBX']").is_hidden()
    assert await page.locator(".panel[data-feed='ACME']").is_visible()
    assert await page.inner_text(".vb-pause") == "Resume"
    # Counted from the first picture: the snapshot it was drawn from is not "new".
    await wait_for(page, "document.querySelector('.vb-new').textContent !== ''")
    new = int((await page.inner_text(".vb-new")).split()[0].replace(",", ""))
    assert new < await page.evaluate("window.livefeed.stats().received") / 2
    assert "theme=dark" in page.url
    assert page.console_log.problems() == []
