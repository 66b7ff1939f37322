"""Candles on the page: a ticker's panel switched to candles, volume under them."""

import pytest

from tests.support.browser import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

PANEL = ".panel[data-feed='ACME']"
# What Plotly holds in ACME's candle chart: candles and volume, per trace.
CANDLE_DATA = f"""() => {{
  const gd = document.querySelector("{PANEL} .panel-candles");
  const [c, v] = gd?.data ?? [];
  if (!c) return null;
  const layout = gd._fullLayout;
  return {{
    type: c.type, t: [...c.x], close: [...c.close], high: [...c.high], low: [...c.low],
    volumeType: v?.type, volume: v ? [...v.y] : null,
    candlesDomain: layout.yaxis.domain, volumeDomain: layout.yaxis2?.domain ?? null,
    visible: gd.offsetHeight > 0,
    lines: document.querySelector("{PANEL} .panel-chart").offsetHeight,
  }};
}}"""


async def candle_data(page) -> dict | None:
    return await page.evaluate(CANDLE_DATA)


async def test_ticker_switches_to_candles_that_update_in_place_with_volume_below(server, page):
    await page.goto(server.url + "/")
    await page.click(f"{PANEL} .view-candles")
    await page.select_option(f"{PANEL} .view-interval", "1s")
    await page.wait_for_function(
        f"(() => {{ const d = ({CANDLE_DATA})(); return d && d.t.length >= 2; }})()",
        timeout=15_000,
    )
    first = await candle_data(page)
    assert first["type"] == "candlestick" and first["visible"] and first["lines"] == 0
    # The volume panel is under the candles, on the same time axis.
    assert first["volumeType"] == "bar" and len(first["volume"]) == len(first["t"])
    assert first["volumeDomain"][1] < first["candlesDomain"][0]
    assert all(v > 0 for v in first["volume"])
    # The newest bar changes in place (same t, new close/high/low/volume) before
    # a new one opens; the closed bars stay as they were drawn.
    last_t = first["t"][-1]
    await page.wait_for_function(
        f"""(before) => {{
          const d = ({CANDLE_DATA})();
          const i = d.t.indexOf(before.t);
          return i >= 0 && (d.volume[i] !== before.volume || d.close[i] !== before.close);
        }}""",
        arg={"t": last_t, "volume": first["volume"][-1], "close": first["close"][-1]},
        timeout=15_000,
    )
    later = await candle_data(page)
    closed = {t: c for t, c in zip(first["t"][:-1], first["close"][:-1], strict=True)}
    for t, close in zip(later["t"], later["close"], strict=True):
        if t in closed:
            assert closed[t] == close, t
    # The page's bars are the server's: the same as a socket of its own gets.
    book = await page.evaluate(
        "() => window.livefeed.candles.views.get('ACME').book.bars.map(b => b.t)"
    )
    key = ("ACME", "price", "1s")
    assert server.hub.candles.builder(key) is not None
    assert book[0] == server.hub.candles.builder(key).bars[0].t
    # The state is in the URL: a reload shows the candles again.
    assert "candles=ACME%3A1s" in page.url
    await screenshot(page, "candles")
    await page.reload()
    await page.wait_for_function(
        f"(() => {{ const d = ({CANDLE_DATA})(); return d && d.t.length >= 1; }})()",
        timeout=15_000,
    )
    # Back to lines: the line chart is drawn again, the candles stop.
    await page.click(f"{PANEL} .view-lines")
    await page.wait_for_function(
        f'document.querySelector("{PANEL} .panel-chart").offsetHeight > 0', timeout=5_000
    )
    assert "candles" not in page.url
    assert await page.get_attribute(f"{PANEL} .view-lines", "aria-pressed") == "true"
    assert [m for m in page.console_log.problems() if "livefeed" in m] == []


async def test_bad_url_value_is_reported_and_the_good_part_kept(server, page):
    await page.goto(server.url + "/?candles=GLOBX:2m,ACME:5s")
    await page.wait_for_function(
        f"(() => {{ const d = ({CANDLE_DATA})(); return d && d.t.length >= 1; }})()",
        timeout=15_000,
    )
    shown = await page.evaluate("window.livefeed.candles.shown()")
    assert shown == {"ACME": "5s"}
    warnings = [m for m in page.console_log.problems() if "candles:" in m]
    assert len(warnings) == 1 and '"GLOBX:2m" has no interval of 1s, 5s, 1m' in warnings[0]
