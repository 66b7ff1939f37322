"""The page in Chromium loads Plotly.js compressed, and still plots."""

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

PLOTLY_TIMING = """() => performance.getEntriesByType('resource')
    .filter(e => e.name.endsWith('/vendor/plotly.min.js'))
    .map(e => ({encoded: e.encodedBodySize, decoded: e.decodedBodySize}))"""


async def test_plotly_arrives_in_brotli_and_the_charts_draw(start_server, page):
    """Chromium asks for br: plotly.min.js crosses the wire at about a
    quarter of its 4.8 MB, decodes to the whole file, and every chart draws."""
    server = await start_server(symbols=("ACME", "GLOBX"))
    encodings: dict[str, str | None] = {}

    async def record(response) -> None:
        if response.url.endswith((".js", ".css")):
            encodings[response.url] = (await response.all_headers()).get("content-encoding")

    page.on("response", record)
    await page.goto(server.url + "/")
    await page.wait_for_function(
        """() => { const c = [...document.querySelectorAll('.panel .js-plotly-plot')];
                   return c.length === 2 && c.every(p => p.data?.[0]?.x?.length > 0); }""",
        timeout=30_000,
    )
    (timing,) = await page.evaluate(PLOTLY_TIMING)
    assert timing["decoded"] > 4_000_000, timing
    assert timing["encoded"] < timing["decoded"] / 3, timing
    by_name = {url.rsplit("/", 1)[1]: coding for url, coding in encodings.items()}
    assert by_name["plotly.min.js"] == by_name["main.js"] == by_name["style.css"] == "br", by_name
    assert page.console_log.problems() == []
