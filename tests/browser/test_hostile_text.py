"""Feed data is data: markup in titles, units and errors shows as text, never runs."""

import asyncio
import json
from urllib.parse import quote

import pytest

from feeds import Feed
from tests.support.browser import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

TOKEN = "s3cret"
PWN_IMG = '<img src=x onerror="window.__pwned=1">'
PWN_SCRIPT = "<script>window.__pwned=2</script>"
PWN_LINK = '<a href="javascript:window.__pwned=3">x</a>'
#: Plotly's own markup (<b>) and an entity must show literally too.
HOSTILE = f"{PWN_IMG} {PWN_SCRIPT} {PWN_LINK} <b>bold</b> &amp;"
TITLE, UNIT, ERROR = f"T {HOSTILE}", f"U {HOSTILE}", f"E {HOSTILE}"


class Hostile(Feed):
    """Free text everywhere a feed may put it: title, unit, and its error."""

    name = "hostile"
    title = TITLE
    series = ["v", "w"]
    units = {"v": UNIT, "w": "W"}

    async def stream(self):
        for i in range(40):
            yield {"v": i, "w": 40 - i}
            await asyncio.sleep(0.005)
        raise RuntimeError(ERROR)


async def post_points(server, feed_path: str, points: list[dict]) -> tuple[int, dict]:
    """POST points to /api/feeds/<feed_path>/points; status and JSON body."""
    body = json.dumps(points).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        f"POST /api/feeds/{feed_path}/points HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        + body
    )
    await writer.drain()
    async with asyncio.timeout(10):
        response = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, payload = response.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(payload)


# Everything the page made of the hostile text: what would run, and what shows.
INJECTED = """() => ({
    pwned: typeof window.__pwned,
    onHandlers: document.querySelectorAll('[onerror], [onload], [onclick]').length,
    images: [...document.images].map((img) => img.className),
    scripts: [...document.scripts].filter((s) => s.textContent.includes('__pwned')).length,
    links: [...document.querySelectorAll('a')]
        .map((a) => a.getAttribute('href') || a.getAttribute('xlink:href') || '')
        .filter((href) => href.startsWith('javascript:')).length,
    bold: document.querySelectorAll('#charts b, #feeds b').length,
})"""


async def test_markup_in_feed_text_shows_literally_and_never_runs(start_server, page):
    """A feed whose title, unit and error carry <img onerror>, <script> and a
    javascript: link: the page shows each literally (panel, table, tooltip,
    Plotly's hover label) and runs none; hostile names pushed by ingest are
    refused with a 400 that names the problem."""
    server = await start_server(
        extra_sources=lambda: [Hostile()],
        ingest_token=TOKEN,
        symbols=("ACME",),
        restart_backoff=0.05,
        restart_backoff_max=0.2,
    )
    response = await page.goto(server.url + "/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    panel, row = ".panel[data-feed='hostile']", "#feeds tbody tr[data-feed='hostile']"
    await page.wait_for_function(
        f"""() => (document.querySelector("{row} .status-cell")?.title ?? '').startsWith(
                'RuntimeError')
            && document.querySelector("{panel} .js-plotly-plot")?.data?.[0]?.y?.length > 10""",
        timeout=15_000,
    )
    # Plotly's hover label draws the unit through its own markup dialect.
    box = await page.locator(f"{panel} .nsewdrag").first.bounding_box()
    await page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2)
    labels = f"{panel} .hoverlayer .hovertext"
    await page.wait_for_function(f"""document.querySelectorAll("{labels}").length === 2""")
    hover_text = " | ".join(await page.locator(labels).all_text_contents())

    assert await page.evaluate(INJECTED) == {
        "pwned": "undefined",
        "onHandlers": 0,
        "images": ["logo"],
        "scripts": 0,
        "links": 0,
        "bold": 0,
    }
    assert await page.text_content(f"{panel} .panel-title") == TITLE
    assert await page.text_content(f"{panel} .panel-unit") == f"{UNIT} / W"
    assert await page.text_content(f"{row} .feed") == TITLE
    assert await page.get_attribute(f"{row} .feed-name", "title") == TITLE
    assert await page.get_attribute(f"{panel} .panel-title", "title") == TITLE
    assert await page.get_attribute(f"{row} .status-cell", "title") == f"RuntimeError: {ERROR}"
    assert await page.get_attribute(f"{panel} .panel-status", "title") == f"RuntimeError: {ERROR}"
    assert UNIT in hover_text  # literally: the link's markup, the <b> and the &amp;

    # Names are the one free text that is not free: ingest refuses markup in them.
    status, body = await post_points(server, quote(PWN_IMG, safe=""), [{"values": {"a": 1}}])
    assert (status, body["code"]) == (400, "bad_feed_name")
    assert "invalid feed name" in body["error"]
    status, body = await post_points(server, "pushed", [{"values": {PWN_IMG: 1}}])
    assert (status, body["code"], body["index"]) == (400, "bad_series_name", 0)
    assert "invalid series name" in body["error"] and "onerror" in body["error"]
    assert "pushed" not in server.hub.feeds
    assert (await post_points(server, "pushed", [{"values": {"a": 1}}]))[0] == 200
    await page.wait_for_function("window.livefeed.stats().perFeed.pushed?.count === 1")
    assert await page.evaluate("typeof window.__pwned") == "undefined"
    shot = await screenshot(page, "hostile-text")
    assert shot.stat().st_size > 0
    assert page.console_log.problems() == []


async def test_page_policy_blocks_inline_handlers(server, page):
    """Should markup ever reach the DOM, the page's Content-Security-Policy keeps
    its inline handler from running (defence in depth behind textContent)."""
    await page.goto(server.url + "/")
    await page.wait_for_function("window.livefeed.stats().status === 'live'")
    await page.evaluate(
        """() => {
            document.body.insertAdjacentHTML(
                'beforeend', '<img id="probe" src="data:," onerror="window.__ran = 1">');
            // Added from the page's own script (allowed): tells when the error
            // event, and with it the inline handler's chance to run, has passed.
            document.getElementById('probe').addEventListener('error', () => {
                window.__errored = true;
            });
        }"""
    )
    await page.wait_for_function("window.__errored === true")
    assert await page.evaluate("typeof window.__ran") == "undefined"
    refused = [m for m in page.console_log.problems() if "Content Security Policy" in m]
    assert refused, page.console_log.problems()
