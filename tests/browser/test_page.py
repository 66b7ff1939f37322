"""The dashboard in headless Chromium: what a person watching it would notice."""

import pytest

from feeds.base import FeedInfo, Series
from tests.support.browser import (
    RECORD_STATUS,
    restart_resumes_with_no_gap,
    screenshot,
    stats,
    wait_for,
)
from tests.support.feeds import SilentFeed

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


async def drawn_points(page) -> dict[str, int]:
    """Points Plotly actually holds per panel (after decimation)."""
    return await page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('.panel')].map(p => [
            p.dataset.feed,
            (p.querySelector('.js-plotly-plot')?.data ?? [])
              .reduce((n, t) => n + t.y.filter(v => v !== null).length, 0)]))"""
    )


async def open_dashboard(page, server) -> list[str]:
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    await page.add_init_script(RECORD_STATUS)
    await page.goto(server.url + "/")
    return requests


async def test_page_goes_live_plots_every_feed_and_fills_the_table(server, page):
    """Within seconds the indicator is live, 8 charts draw moving lines, the
    table shows changing prices, and nothing is fetched from elsewhere."""
    requests = await open_dashboard(page, server)
    await wait_for(page, "document.getElementById('status').dataset.state === 'live'")
    await wait_for(page, "document.querySelectorAll('.panel .js-plotly-plot').length === 8")
    await wait_for(page, "document.querySelectorAll('#feeds tbody tr').length === 8")
    first = await drawn_points(page)
    first_table = await page.inner_text("#feeds tbody")
    feeds = ["ACME", "GLOBX", "INITECH", "UMBRL", "STARK", "WAYNE", "TYRELL", "CYBRD"]
    assert sorted(first) == sorted(feeds)
    # The charts gain points and the table changes as data streams in.
    await wait_for(page, "window.livefeed.stats().points > 8 * 80")
    await page.wait_for_function(
        """(before) => [...document.querySelectorAll('.panel')].every(p =>
             p.querySelector('.js-plotly-plot').data[0].x.length
               > (before[p.dataset.feed] ?? 0))""",
        arg=first,
        timeout=15_000,
    )
    await page.wait_for_function(
        "(t) => document.querySelector('#feeds tbody').innerText !== t",
        arg=first_table,
        timeout=15_000,
    )
    row = await page.inner_text("#feeds tbody tr[data-feed='ACME']")
    assert "ACME" in row and "volume" in row
    assert (await page.get_attribute("#status", "data-state")) == "live"
    shot = await screenshot(page, "dashboard")
    assert shot.stat().st_size > 20_000  # a blank page compresses to far less
    result = await stats(page)
    assert all(f["gaps"] == 0 for f in result["perFeed"].values()), result
    assert result["duplicates"] == 0
    assert all(url.startswith(server.url) for url in requests), requests
    assert page.console_log.problems() == []


LONGEST_TASK = """
window.__longest = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) window.__longest = Math.max(window.__longest, e.duration);
}).observe({type: 'longtask'});
"""


async def test_feed_without_points_gets_a_panel_and_never_freezes_the_tab(start_server, page):
    """A declared feed with no data yet gets an empty panel, the others draw,
    and no task blocks the page for seconds (an empty date axis once asked
    Plotly for a year of one-second ticks: a 10 s freeze)."""
    server = await start_server(extra_sources=lambda: [SilentFeed()])
    await open_dashboard(page, server)
    await wait_for(page, "document.getElementById('status').dataset.state === 'live'")
    await page.evaluate(LONGEST_TASK)
    await wait_for(page, "document.querySelectorAll('.panel .js-plotly-plot').length === 9")
    await wait_for(page, "window.livefeed.stats().redraws > 30")
    quiet = await page.inner_text(".panel[data-feed='QUIET']")
    assert "QUIET" in quiet and "dB" in quiet
    longest = await page.evaluate("window.__longest")
    # Generous: a busy CI core may stall a frame, but never for whole seconds.
    assert longest < 2000, f"a task blocked the page for {longest:.0f} ms"
    assert page.console_log.problems() == []


class HungFeed(SilentFeed):
    """Declares that it yields at least every 0.2 s, then never does."""

    info = FeedInfo("HUNG", series=(Series("v"),), stall_after=0.2)


async def test_hung_feed_shows_stalled_in_its_row_and_panel(start_server, page):
    """A feed that stops yielding is labelled stalled in the table and on its
    panel, while the tickers beside it keep drawing."""
    server = await start_server(extra_sources=lambda: [HungFeed()])
    await open_dashboard(page, server)
    await wait_for(
        page, "document.querySelector(\"tr[data-feed='HUNG']\")?.dataset.state === 'stalled'"
    )
    assert (await page.inner_text("tr[data-feed='HUNG'] .status-cell")) == "stalled"
    assert (await page.inner_text(".panel[data-feed='HUNG'] .panel-status")) == "stalled"
    before = (await stats(page))["perFeed"]["ACME"]["lastSeq"]
    await wait_for(page, f"window.livefeed.stats().perFeed.ACME.lastSeq > {before + 20}")
    assert page.console_log.problems() == []


async def test_dropped_connection_resumes_with_no_gap(server, page):
    """When the server drops the socket, the page reconnects and resumes:
    no point missing, none twice."""
    await open_dashboard(page, server)
    await wait_for(page, "window.livefeed.stats().points > 8 * 20")
    before = await stats(page)
    server.hub.close_all(1012, "test: drop every viewer")
    await wait_for(page, "window.__statusLog.includes('reconnecting')")
    await wait_for(page, "window.__statusLog.at(-1) === 'live'")
    await page.wait_for_function(
        """(b) => Object.entries(window.livefeed.stats().perFeed)
             .every(([f, s]) => s.lastSeq > b.perFeed[f].lastSeq + 20)""",
        arg=before,
        timeout=15_000,
    )
    after = await stats(page)
    for feed, s in after["perFeed"].items():
        assert s["gaps"] == 0 and s["missed"] == 0, (feed, s)
        assert s["count"] == s["lastSeq"], (feed, s)  # seq 1..last, every one held
    assert after["duplicates"] == 0
    assert page.console_log.problems() == []


async def test_server_restart_goes_reconnecting_then_live_keeping_points(server, page):
    """A server restart shows reconnecting, then live; the page keeps its old
    points and continues with the new run's points, with exactly one break."""
    await open_dashboard(page, server)
    await wait_for(page, "window.livefeed.stats().points > 8 * 20")
    await server.stop()
    await wait_for(page, "window.__statusLog.at(-1) === 'reconnecting'")
    held = await stats(page)
    await server.start()
    await wait_for(page, "window.__statusLog.at(-1) === 'live'", timeout=30)
    await page.wait_for_function(
        "(epoch) => Object.values(window.livefeed.stats().perFeed)"
        ".every(s => s.epoch !== epoch && s.lastSeq > 20)",
        arg=held["perFeed"]["ACME"]["epoch"],
        timeout=15_000,
    )
    after = await stats(page)
    assert after["perFeed"]["ACME"]["epoch"] == server.hub.epoch
    for feed, s in after["perFeed"].items():
        old = held["perFeed"][feed]
        # One break (the restart), no seq missing on either side of it, and
        # every point held before the restart is still there.
        assert s["gaps"] == 1 and s["missed"] == 0, (feed, s)
        assert s["count"] == old["count"] + s["lastSeq"], (feed, old, s)
    assert after["duplicates"] == 0
    log = await page.evaluate("window.__statusLog")
    assert log[:1] == ["connecting"] or log[0] == "live"
    assert log[-2:] == ["reconnecting", "live"]
    # While the server is down Chromium logs each refused connection; nothing else.
    problems = [m for m in page.console_log.problems() if "ERR_CONNECTION_REFUSED" not in m]
    assert problems == []
    await screenshot(page, "after-restart")


async def test_restart_with_history_db_keeps_the_chart_with_no_break(start_server, page, tmp_path):
    """With a history file a server restart leaves no trace in the data: the page
    resumes under the same epoch, no break marker, no point missing or twice."""
    server = await start_server(history_db=tmp_path / "history.db")
    await open_dashboard(page, server)
    await restart_resumes_with_no_gap(page, server)


async def test_offline_then_online_resumes(server, page):
    """The browser going offline shows offline; back online it resumes with no gap."""
    await open_dashboard(page, server)
    await wait_for(page, "window.livefeed.stats().points > 8 * 20")
    await page.context.set_offline(True)
    await wait_for(page, "document.getElementById('status').dataset.state === 'offline'")
    await page.context.set_offline(False)
    await wait_for(page, "window.__statusLog.at(-1) === 'live'")
    await wait_for(page, "window.livefeed.stats().perFeed.ACME.lastSeq > 150")
    for feed, s in (await stats(page))["perFeed"].items():
        assert s["gaps"] == 0 and s["missed"] == 0 and s["count"] == s["lastSeq"], (feed, s)
