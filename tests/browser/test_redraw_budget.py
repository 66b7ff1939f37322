"""Rendering budget (issue 11): the page draws what a person can see change.
The value text follows every point; a chart is redrawn when its picture moves
by a pixel (static/js/redraw.js); a hidden tab draws nothing and every chart
is drawn again as soon as it is visible."""

import time

import pytest

from tests.support.ingest import TOKEN, push

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

WINDOW_S = 300

# Counts Plotly's draws of each chart (plotly_afterplot), by feed name.
COUNT_DRAWS = """() => {
  window.draws = {};
  for (const panel of document.querySelectorAll('.panel')) {
    const feed = panel.dataset.feed;
    window.draws[feed] = 0;
    const chart = panel.querySelector('.js-plotly-plot');
    chart.on('plotly_afterplot', () => { window.draws[feed] += 1; });
  }
}"""

# Emulates a hidden / visible tab: headless Chromium never hides one.
SET_HIDDEN = """(hidden) => {
  Object.defineProperty(document, 'hidden', {configurable: true, get: () => hidden});
  Object.defineProperty(document, 'visibilityState',
    {configurable: true, get: () => (hidden ? 'hidden' : 'visible')});
  document.dispatchEvent(new Event('visibilitychange'));
}"""

# Whether every chart ends at the newest point its feed held at `targets`.
CURRENT = """(targets) => Object.entries(targets).every(([feed, ts]) => {
  const x = document.querySelector(`.panel[data-feed="${feed}"] .js-plotly-plot`).data[0].x;
  return x[x.length - 1] >= ts;
})"""

NEWEST = """() => Object.fromEntries([...window.livefeed.state.feeds.values()]
  .filter(f => f.ts.length).map(f => [f.name, f.ts[f.ts.length - 1]]))"""


def history(now_ms: int) -> list[dict]:
    """Five minutes at 10 Hz, between 0 and 1000: later points inside that range."""
    n = WINDOW_S * 10
    return [
        {"ts": now_ms - (n - i) * 100, "values": {"level": 0 if i % 2 else 1000}} for i in range(n)
    ]


async def test_a_five_minute_chart_follows_points_in_text_and_redraws_per_pixel(start_server, page):
    """A pushed feed holding 5 minutes: 20 more points, one every ~100 ms,
    each shown in the panel's value text at once, while its chart (about one
    pixel a second at this width) is redrawn a few times, not once per point."""
    server = await start_server(ingest_token=TOKEN, symbols=("ACME",), rate=1.0)
    now_ms = int(time.time() * 1000)
    status, _, _ = await push(server, "wide", history(now_ms))
    assert status == 200
    await page.goto(server.url + "/")
    await page.wait_for_function(
        """() => document.querySelector('.panel[data-feed="wide"] .js-plotly-plot')
             ?.data?.[0]?.x?.length > 100""",
        timeout=15_000,
    )
    await page.evaluate(COUNT_DRAWS)
    started = time.monotonic()
    for i in range(20):
        value = 500 + i
        status, _, _ = await push(
            server, "wide", [{"ts": now_ms + (i + 1) * 100, "values": {"level": value}}]
        )
        assert status == 200
        await page.wait_for_function(
            f"""() => document.querySelector('.panel[data-feed="wide"] .panel-last')
                 .textContent.includes('{value}')""",
            timeout=5_000,
        )
    elapsed = time.monotonic() - started
    draws = await page.evaluate("window.draws.wide")
    span_s, width = await page.evaluate(
        """() => {
          const c = document.querySelector('.panel[data-feed="wide"] .js-plotly-plot');
          const x = c.data[0].x;
          return [(x[x.length - 1] - x[0]) / 1000, c.clientWidth];
        }"""
    )
    assert span_s > 250  # the 5 minutes are held and drawn
    # One pixel of plot is span / width seconds: the chart may move that many
    # pixels in `elapsed`, plus a draw a second for the newest segment.
    allowed = int(elapsed / (span_s / max(1, width - 72))) + int(elapsed) + 2
    assert draws <= allowed < 20, f"{draws} draws for 20 points in {elapsed:.1f} s"
    assert page.console_log.problems() == []


async def test_a_hidden_tab_draws_nothing_and_every_chart_catches_up_on_return(start_server, page):
    """Hidden: points still arrive, no chart is drawn. Visible again: every
    chart shows the newest point held at that moment, without waiting turns."""
    server = await start_server(symbols=("A", "B", "C", "D"), rate=10.0)
    await page.goto(server.url + "/")
    await page.wait_for_function(
        """() => {
          const charts = [...document.querySelectorAll('.panel .js-plotly-plot')];
          return charts.length === 4 && charts.every((c) => c.data?.[0]?.x?.length);
        }""",
        timeout=15_000,
    )
    await page.evaluate(COUNT_DRAWS)
    await page.evaluate(SET_HIDDEN, True)
    received = await page.evaluate("window.livefeed.stats().received")
    await page.wait_for_function(f"window.livefeed.stats().received > {received} + 40")
    assert await page.evaluate("Object.values(window.draws)") == [0, 0, 0, 0]
    targets = await page.evaluate(NEWEST)
    await page.evaluate(SET_HIDDEN, False)
    await page.wait_for_function(CURRENT, arg=targets, timeout=5_000)
    assert all(n >= 1 for n in await page.evaluate("Object.values(window.draws)"))
    assert page.console_log.problems() == []
