"""Candles: a feed with an ohlc series is drawn as candlesticks and summed up in the table."""

import asyncio
import random

import pytest

from feeds import Feed, Series
from tests.support.browser import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def random_bars(seed: int):
    """An endless seeded random walk of bars: each opens at the previous close."""
    rng = random.Random(seed)
    close = 100.0
    while True:
        open_ = close
        close = round(open_ + rng.gauss(0, 0.4), 2)
        high = round(max(open_, close) + abs(rng.gauss(0, 0.2)), 2)
        low = round(min(open_, close) - abs(rng.gauss(0, 0.2)), 2)
        yield {"open": open_, "high": high, "low": low, "close": close}


class Candles(Feed):
    """A candle every 50 ms, and the volume traded in it."""

    name = "candles"
    # A bar of prices is a level: the table shows its change.
    series = [Series("bar", kind="ohlc", unit="USD", level=True), "volume"]
    rate = 20.0

    async def stream(self):
        rng = random.Random(7)
        for bar in random_bars(7):
            yield {"bar": bar, "volume": rng.randrange(100, 5000)}
            await asyncio.sleep(0.05)


class PriceAndBar(Feed):
    """A line and candles in one feed: the line is the main series."""

    name = "mixed"
    series = ["price", Series("bar", kind="ohlc", unit="USD")]
    units = {"price": "USD"}
    rate = 20.0

    async def stream(self):
        for bar in random_bars(11):
            yield {"price": bar["close"], "bar": bar}
            await asyncio.sleep(0.05)


PANEL = ".panel[data-feed='{}'] .js-plotly-plot"
ROW = "#feeds tbody tr[data-feed='{}']"

# The decimate module as the page loaded it (its URL carries the assets' version).
IMPORT_DECIMATE = """
import(document.querySelector('link[rel=modulepreload][href$="/js/decimate.js"]').href)
"""


async def test_ohlc_feed_draws_candles_and_its_close_in_the_table(start_server, page):
    """An ohlc series is drawn as coloured candlesticks with no range slider,
    and the table's Last and Change are its latest close against its first open."""
    server = await start_server(extra_sources=lambda: [Candles()])
    await page.goto(server.url + "/")
    panel = PANEL.format("candles")
    # Past one candle per 4 px slot (a panel is ~260 px of plot): merged candles.
    await page.wait_for_function(
        f"""() => {{
            const chart = document.querySelector("{panel}");
            const t = chart?.data.find(t => t.type === 'candlestick');
            return t && t.x.length >= 20
                && window.livefeed.stats().perFeed.candles.count > 150;
        }}""",
        timeout=20_000,
    )
    trace, layout = await page.evaluate(
        f"""() => {{
            const chart = document.querySelector("{panel}");
            const t = chart.data.find(t => t.type === 'candlestick');
            return [{{x: t.x, open: t.open, high: t.high, low: t.low, close: t.close,
                      inc: t.increasing.fillcolor, dec: t.decreasing.fillcolor}},
                    {{rangeslider: chart.layout.xaxis.rangeslider.visible,
                      colors: ['--up', '--down'].map(v => {{
                        // The theme's colours as the page paints them.
                        const probe = document.createElement('span');
                        probe.style.color = `var(${{v}})`;
                        document.body.append(probe);
                        const color = getComputedStyle(probe).color;
                        probe.remove();
                        return color;
                      }})}}];
        }}"""
    )
    assert layout["rangeslider"] is False
    assert 20 <= len(trace["x"]) <= 100
    for o, h, lo, c in zip(trace["open"], trace["high"], trace["low"], trace["close"], strict=True):
        assert lo <= min(o, c) <= max(o, c) <= h
    assert [trace["inc"], trace["dec"]] == layout["colors"]  # --up, --down
    assert layout["colors"][0] == "rgb(13, 122, 75)"  # the light theme's green
    assert any(c > o for o, c in zip(trace["open"], trace["close"], strict=True))
    assert any(c < o for o, c in zip(trace["open"], trace["close"], strict=True))

    # Last is the newest close, Change is measured from the first open held.
    row = ROW.format("candles")
    await page.wait_for_function(
        f"""() => {{
            const feed = window.livefeed.state.feeds.get('candles');
            const bars = feed.values.get('bar').filter(b => b !== null && typeof b === 'object');
            const close = bars.at(-1).close;
            const change = close - bars[0].open;
            const cells = [...document.querySelectorAll("{row} td.num")].map(td => td.textContent);
            const sign = change > 0 ? '+' : '';
            return cells[0] === close.toFixed(2) && cells[1] === sign + change.toFixed(2);
        }}""",
        timeout=10_000,
    )
    others = await page.inner_text(f"{row} td.others")
    assert others.startswith("volume ") and "O " not in others
    # The ninth panel starts a third row, below the fold at 1400x900.
    await page.eval_on_selector(
        ".panel[data-feed='candles']", "p => p.scrollIntoView({block: 'end'})"
    )
    await screenshot(page, "ohlc")
    assert page.console_log.problems() == []


async def test_line_and_candles_share_a_panel_and_a_bar_reads_compactly(start_server, page):
    """A feed mixing a line and an ohlc series draws both, and the table's other
    series column shows the bar as "bar O … H … L … C …"."""
    server = await start_server(extra_sources=lambda: [PriceAndBar()])
    await page.goto(server.url + "/")
    panel = PANEL.format("mixed")
    await page.wait_for_function(
        f"""() => {{
            const data = document.querySelector("{panel}")?.data ?? [];
            return data.length === 2 && data[0].type === 'scatter' && data[0].y.length >= 20
                && data[1].type === 'candlestick' && data[1].x.length >= 20;
        }}""",
        timeout=15_000,
    )
    others = await page.inner_text(f"{ROW.format('mixed')} td.others")
    words = others.split()
    assert words[0] == "bar" and words[1::2] == ["O", "H", "L", "C"], others
    o, h, lo, c = (float(w.replace(",", "")) for w in words[2::2])
    assert lo <= min(o, c) <= max(o, c) <= h
    assert page.console_log.problems() == []


async def test_candle_decimation_merges_per_slot_and_never_across_a_break(server, page):
    """Past one candle per slot, candles merge (first open, max high, min low,
    last close) into evenly spaced slots, and no merged candle spans a break."""
    await page.goto(server.url + "/")
    result = await page.evaluate(
        f"""async () => {{
            const {{ decimateBars }} = await {IMPORT_DECIMATE.strip()};
            const xs = [], bars = [];
            for (let i = 0; i < 1000; i += 1) {{
                xs.push(i * 10);
                const o = 100 + Math.sin(i / 7) * 5, c = 100 + Math.sin((i + 1) / 7) * 5;
                bars.push(i === 525 ? null : i === 300 ? NaN
                    : {{open: o, high: Math.max(o, c) + 1 + (i === 42 ? 50 : 0),
                        low: Math.min(o, c) - 1, close: c}});
            }}
            const few = decimateBars(xs.slice(0, 40), bars.slice(0, 40), 100);
            const many = decimateBars(xs, bars, 100);
            const slot = (xs.at(-1) - xs[0]) / 100;
            return {{
                few: few.x,
                n: many.x.length,
                x: many.x,
                first: [many.open[0], bars[0].open],
                last: [many.close.at(-1), bars.at(-1).close],
                maxHigh: [Math.max(...many.high), bars[42].high],
                // The break (x 5250) cuts slot 52 (x 5195-5295): the candle
                // before it closes at the bar before it, the next opens after it.
                closeBefore: many.close[many.x.findIndex(x => x > 5250) - 1],
                expectedCloseBefore: bars[524].close,
                openAfter: many.open[many.x.findIndex(x => x > 5250)],
                expectedOpenAfter: bars[526].open,
                slot,
            }};
        }}"""
    )
    assert result["few"] == list(range(0, 400, 10))  # few enough: drawn as they are
    assert 90 <= result["n"] <= 101
    assert result["first"][0] == result["first"][1]
    assert result["last"][0] == result["last"][1]
    assert result["maxHigh"][0] == result["maxHigh"][1]
    assert result["closeBefore"] == result["expectedCloseBefore"]
    assert result["openAfter"] == result["expectedOpenAfter"]
    steps = [b - a for a, b in zip(result["x"], result["x"][1:], strict=False)]
    assert min(steps) >= result["slot"] - 1e-9  # never two candles closer than a slot
    assert page.console_log.problems() == []
