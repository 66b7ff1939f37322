"""The page over Server-Sent Events in headless Chromium: with the server's
WebSockets off, or blocked on the way, it goes live over SSE, says so, and
resumes after a restart with no gap."""

import pytest

from tests.support.browser import (
    RECORD_STATUS,
    restart_resumes_with_no_gap,
    screenshot,
    stats,
    wait_for,
)

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


async def test_sse_only_server_live_charts_then_a_restart_resumes_with_no_gap(
    start_server, page, tmp_path
):
    server = await start_server(transports=("sse",), history_db=tmp_path / "history.db")
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    await page.add_init_script(RECORD_STATUS)
    await page.goto(server.url + "/")
    await wait_for(page, "document.getElementById('status').dataset.state === 'live'")
    assert (await page.inner_text("#status")).strip() == "live · SSE"
    assert await page.get_attribute("#status", "data-transport") == "sse"
    await wait_for(page, "document.querySelectorAll('.panel .js-plotly-plot').length === 8")
    after = await restart_resumes_with_no_gap(page, server)
    assert after["transport"] == "sse"
    assert sockets == []  # told by the page that the server serves no WebSockets
    await screenshot(page, "sse-after-restart")


async def test_websockets_blocked_on_the_way_the_page_falls_back_to_sse(server, page):
    """A proxy that lets the WebSocket open and closes it at once (as some
    do): after a few such failures the page checks the server answers HTTP
    and moves to SSE."""
    blocked: list[str] = []

    async def block(ws) -> None:
        blocked.append(ws.url)
        await ws.close()  # never reaches the server

    await page.route_web_socket("**/ws*", block)
    await page.goto(server.url + "/")
    await wait_for(page, "document.getElementById('status').dataset.state === 'live'", 30)
    assert (await page.inner_text("#status")).strip() == "live · SSE"
    assert len(blocked) >= 3
    await wait_for(page, "window.livefeed.stats().points > 8 * 20")
    for feed, s in (await stats(page))["perFeed"].items():
        assert s["gaps"] == 0 and s["count"] == s["lastSeq"], (feed, s)
