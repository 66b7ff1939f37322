"""A tab left open while the server is upgraded to another wire protocol
(docs/protocol.md, "Protocol version"): it loads the server's own page once,
and if that still disagrees it says so instead of drawing guesses."""

import pytest

import dashboard.protocol
from tests.support.browser import ConsoleLog
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

STATUS = "() => document.getElementById('status').dataset.state"


def status_is(page, wanted: str):
    async def check() -> bool:
        try:
            return await page.evaluate(STATUS) == wanted
        except Exception as error:  # playwright's Error, imported only with a browser
            if "context was destroyed" in str(error):
                return False  # asked while the page was reloading
            raise

    return check


async def test_a_page_told_another_protocol_reloads_once_then_says_outdated(
    start_server, browser, monkeypatch
):
    """The server's hello says protocol 3 (this page speaks 2): the page reloads
    itself once; the reloaded page, told 3 again, stops with its status
    'outdated' and the reason in its title and summary, draws no panel, and loops no more.
    Told 2 again (the server rolled back), a reload is live and draws."""
    monkeypatch.setattr(dashboard.protocol, "PROTOCOL_VERSION", 3)
    server = await start_server()
    context = await browser.new_context()
    page = await context.new_page()
    console = ConsoleLog(page)
    loads: list[str] = []
    page.on("load", lambda: loads.append(page.url))
    try:
        await page.goto(server.url)
        await wait_until(
            status_is(page, "outdated"),
            timeout=20,
            what="the page stopped as outdated",
        )
        # The reloaded page may say 'outdated' before its load event fires
        # (it waits for every module and plotly.js): wait for that event.
        await wait_until(lambda: len(loads) >= 2, timeout=20, what="the reload's load event")
        assert len(loads) == 2  # the first load, and the one reload
        title = await page.get_attribute("#status", "title")
        assert title == "The server speaks protocol 3; this page speaks 2."
        assert await page.text_content("#summary") == title  # readable without hover
        assert await page.locator(".panel").count() == 0
        # 'outdated' is set only where the page does not reload, and the page
        # let its socket go: nothing is left to loop or reconnect.
        await wait_until(lambda: not server.hub.clients, what="the page's socket closed")
        assert len(loads) == 2

        monkeypatch.setattr(dashboard.protocol, "PROTOCOL_VERSION", 2)
        await server.restart()
        await page.goto(server.url)
        await wait_until(status_is(page, "live"), timeout=20, what="live")
        await wait_until(
            lambda: page.locator(".panel .js-plotly-plot").count(),
            timeout=20,
            what="a panel drawn",
        )
        assert console.problems() == []
    finally:
        await context.close()
