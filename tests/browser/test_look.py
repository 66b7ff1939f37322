"""Everyone, every screen: themes, a phone's width, the keyboard, a screen
reader, and the table's sort, filter and change columns, as a person meets them."""

import asyncio
import math

import pytest

from feeds import Feed
from tests.support.browser import VIEWPORT, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

PHONE = {"width": 390, "height": 844}
ROWS = "#feeds tbody tr"


class Wave(Feed):
    """A sine wave and a counter: readings, not levels (no change % for them)."""

    name = "wave"
    series = ["sine", "count"]
    rate = 20.0

    async def stream(self):
        for i in range(10**9):
            yield {"sine": math.sin(i / 10), "count": i}
            await asyncio.sleep(0.05)


async def open_page(browser, url, *, viewport=VIEWPORT, scheme="light", path="/"):
    context = await browser.new_context(viewport=viewport, color_scheme=scheme)
    page = await context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("console", lambda m: m.type == "error" and problems.append(m.text))
    page.problems = problems
    await page.goto(url + path)
    await page.wait_for_function(
        f"""document.querySelector('.panel .js-plotly-plot')?._fullLayout?.font
            && document.querySelectorAll('{ROWS}').length >= 1""",
        timeout=15_000,
    )
    return context, page


# What the page paints and what the charts were given, in one look.
THEME_STATE = """() => {
  const chart = document.querySelector('.panel .js-plotly-plot');
  const rgb = (c) => c.match(/\\d+/g).slice(0, 3).map(Number);
  const lum = ([r, g, b]) => (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
  return {
    theme: document.documentElement.dataset.theme,
    pressed: document.getElementById('theme-toggle').getAttribute('aria-pressed'),
    pageLum: lum(rgb(getComputedStyle(document.documentElement).backgroundColor)),
    cardLum: lum(rgb(getComputedStyle(document.querySelector('.card')).backgroundColor)),
    chartInkLum: lum(rgb(chart.layout.font.color)),
    gridLum: lum(rgb(chart.layout.xaxis.gridcolor)),
    search: location.search,
  };
}"""


async def theme_state(page):
    return await page.evaluate(THEME_STATE)


def assert_theme(state, theme):
    """Light: a light page with dark chart text; dark: the reverse."""
    if theme == "light":
        assert state["theme"] == "light" and state["pressed"] == "false", state
        assert state["pageLum"] > 0.85 and state["cardLum"] > 0.85, state
        assert state["chartInkLum"] < 0.5 and state["gridLum"] > 0.7, state
    else:
        assert state["theme"] == "dark" and state["pressed"] == "true", state
        assert state["pageLum"] < 0.1 and state["cardLum"] < 0.15, state
        assert state["chartInkLum"] > 0.5 and state["gridLum"] < 0.2, state


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_theme_follows_the_system_and_the_toggle_survives_reload(server, browser, scheme):
    """The page and its charts take the system's scheme; the toggle flips both,
    the choice is in the URL (theme=) and survives a reload; toggling back
    follows the system again and drops the key, keeping the other keys."""
    other = "dark" if scheme == "light" else "light"
    context, page = await open_page(browser, server.url, scheme=scheme, path="/?window=5m")
    try:
        assert_theme(await theme_state(page), scheme)

        await page.click("#theme-toggle")
        # The charts are redrawn in the new colours, not only the page.
        await page.wait_for_function(
            """(theme) => {
                const c = document.querySelector('.panel .js-plotly-plot');
                const dark = theme === 'dark';
                const lum = c.layout.font.color.match(/\\d+/g).slice(0, 3)
                    .reduce((a, b) => a + Number(b), 0) / 765;
                return document.documentElement.dataset.theme === theme && (lum > 0.5) === dark;
            }""",
            arg=other,
            timeout=10_000,
        )
        state = await theme_state(page)
        assert_theme(state, other)
        assert state["search"] == f"?window=5m&theme={other}"

        await page.reload()
        await page.wait_for_function(
            "document.querySelector('.panel .js-plotly-plot')?._fullLayout?.font", timeout=15_000
        )
        assert_theme(await theme_state(page), other)

        await page.click("#theme-toggle")
        await page.wait_for_function(
            "(t) => document.documentElement.dataset.theme === t", arg=scheme, timeout=10_000
        )
        state = await theme_state(page)
        assert state["search"] == "?window=5m"
        await screenshot(page, f"look-theme-{scheme}")
        assert page.problems == []
    finally:
        await context.close()


# Every box that sticks out of the viewport or scrolls sideways, and the mode
# bar's overlap with the plot it belongs to.
OVERFLOW = """() => {
  const root = document.documentElement;
  const card = document.querySelector('.table-card');
  const out = [...document.querySelectorAll('#feeds *, .topbar *, .panel')].filter(
    e => e.getClientRects().length && e.getBoundingClientRect().right > root.clientWidth + 0.5);
  return {
    pageScroll: root.scrollWidth - root.clientWidth,
    tableScroll: card.scrollWidth - card.clientWidth,
    tableWidth: document.getElementById('feeds').getBoundingClientRect().width,
    out: out.map(e => e.tagName + '.' + e.className).slice(0, 5),
  };
}"""

MODEBAR_OVER_PLOT = """(panel) => {
  const plot = panel.querySelector('.nsewdrag').getBoundingClientRect();
  const bar = panel.querySelector('.modebar-container');
  if (!bar || getComputedStyle(bar).display === 'none') return false;
  const b = bar.querySelector('.modebar')?.getBoundingClientRect();
  if (!b || !b.width || getComputedStyle(bar.querySelector('.modebar')).opacity === '0') {
    return false;
  }
  return b.left < plot.right && b.right > plot.left && b.top < plot.bottom && b.bottom > plot.top;
}"""


async def test_phone_width_reflows_the_table_and_keeps_the_mode_bar_off_the_plot(server, browser):
    """At 390 px nothing scrolls sideways, every column of the table is on
    screen, and touching a chart brings no mode bar over it."""
    context, page = await open_page(browser, server.url, viewport=PHONE)
    try:
        await page.wait_for_function(
            f"document.querySelectorAll('{ROWS}').length === 8"
            " && document.querySelectorAll('.panel .nsewdrag').length === 8",
            timeout=15_000,
        )
        await page.wait_for_function(
            f"[...document.querySelectorAll('{ROWS} .percent')]"
            ".every(td => /%$/.test(td.textContent))",
            timeout=15_000,
        )
        result = await page.evaluate(OVERFLOW)
        assert result["pageScroll"] <= 0 and result["tableScroll"] <= 0, result
        assert result["tableWidth"] <= PHONE["width"] and result["out"] == [], result
        # Every value of a row is visible: name, last, change, change %.
        for td in ("feed", "last", "change", "percent", "others"):
            box = await page.locator(f"{ROWS}[data-feed='ACME'] .{td}").bounding_box()
            assert box and box["width"] > 0 and box["x"] + box["width"] <= PHONE["width"], td

        panel = page.locator(".panel").first
        await panel.scroll_into_view_if_needed()
        plot = await panel.locator(".nsewdrag").bounding_box()
        await page.mouse.move(plot["x"] + plot["width"] - 20, plot["y"] + 15)
        await page.mouse.down()
        await page.mouse.up()
        await page.wait_for_timeout(300)  # let a mode bar fade in, if any were to show
        assert not await panel.evaluate(MODEBAR_OVER_PLOT)
        await screenshot(page, "look-phone")
        assert page.problems == []
    finally:
        await context.close()


async def visible_rows(page):
    return await page.evaluate(
        f"[...document.querySelectorAll('{ROWS}')].filter(r => !r.hidden).map(r => r.dataset.feed)"
    )


def number(text: str) -> float:
    return float(text.replace(",", "").replace("%", "").replace("+", ""))


async def test_table_sorts_by_click_and_keyboard_and_filters_by_text(server, page):
    """A header's button sorts (aria-sort says how, the order follows the
    values as they move); Enter on a focused header sorts the other way; the
    filter keeps only matching feeds and says so when none match."""
    await page.goto(server.url + "/")
    await page.wait_for_function(
        f"[...document.querySelectorAll('{ROWS} .last')].filter(td => td.textContent !== '—')"
        ".length === 8",
        timeout=15_000,
    )
    header = "#feeds th[data-sort='last']"
    await page.click(f"{header} button")
    assert await page.get_attribute(header, "aria-sort") == "ascending"

    async def lasts():
        texts = await page.eval_on_selector_all(
            f"{ROWS} .last", "tds => tds.map(t => t.textContent)"
        )
        return [number(t) for t in texts]

    values = await lasts()
    assert values == sorted(values), values
    # Prices move: the order is kept as they do.
    await page.wait_for_function("window.livefeed.stats().points > 8 * 40", timeout=15_000)
    values = await lasts()
    assert values == sorted(values), values

    await page.focus(f"{header} button")
    await page.keyboard.press("Enter")
    assert await page.get_attribute(header, "aria-sort") == "descending"
    values = await lasts()
    assert values == sorted(values, reverse=True), values
    # Only one column claims the sort.
    assert await page.eval_on_selector_all("#feeds th[aria-sort]", "ths => ths.length") == 1

    await page.fill("#feed-filter", "ac")
    assert await visible_rows(page) == ["ACME"]
    assert await page.inner_text("#filter-result") == "1 of 8 feeds"
    await page.fill("#feed-filter", "volume")  # a series name: every ticker has one
    assert len(await visible_rows(page)) == 8
    await page.fill("#feed-filter", "nothing-like-this")
    assert await visible_rows(page) == []
    assert await page.is_visible("#no-match")
    await page.fill("#feed-filter", "")
    assert len(await visible_rows(page)) == 8
    assert not await page.is_visible("#no-match")
    assert page.console_log.problems() == []


async def test_change_only_for_levels_and_direction_by_sign_and_arrow(start_server, page):
    """A sine wave and a counter get no Change or Change %; a price does, and
    its direction is told by the sign and an arrow, the colour only repeating it."""
    server = await start_server(extra_sources=lambda: [Wave()], symbols=("ACME", "GLOBX"))
    await page.goto(server.url + "/")
    await page.wait_for_function(
        f"""() => {{
            const row = document.querySelector("{ROWS}[data-feed='wave']");
            return row && row.querySelector('.last').textContent !== '—'
                && window.livefeed.stats().perFeed.wave.count > 20
                && [...document.querySelectorAll("{ROWS}[data-level='true']")]
                     .some(r => r.dataset.trend !== 'flat');
        }}""",
        timeout=15_000,
    )
    wave = f"{ROWS}[data-feed='wave']"
    assert await page.text_content(f"{wave} .change") == ""
    assert await page.text_content(f"{wave} .percent") == ""
    assert "count" in await page.text_content(f"{wave} .others")

    cells = await page.eval_on_selector_all(
        f"{ROWS}[data-level='true']",
        """rows => rows.map(r => ({
            trend: r.dataset.trend,
            change: r.querySelector('.change').textContent,
            percent: r.querySelector('.percent').textContent,
            arrow: getComputedStyle(r.querySelector('.percent'), '::before').content,
        }))""",
    )
    assert len(cells) == 2
    for c in cells:
        assert c["percent"].endswith("%"), c
        if c["trend"] == "up":
            assert c["change"].startswith("+") and c["percent"].startswith("+"), c
            assert "▲" in c["arrow"], c
        elif c["trend"] == "down":
            assert c["change"].startswith("-") and c["percent"].startswith("-"), c
            assert "▼" in c["arrow"], c
    assert any(c["trend"] != "flat" for c in cells)
    assert page.console_log.problems() == []


FOCUS_RING = """() => {
  const e = document.activeElement;
  const s = getComputedStyle(e);
  const probe = document.createElement('span');
  probe.style.color = 'var(--focus)';
  document.body.append(probe);
  const focus = getComputedStyle(probe).color;
  probe.remove();
  return {id: e.id || e.closest('th')?.dataset.sort || e.tagName, style: s.outlineStyle,
          width: parseFloat(s.outlineWidth), color: s.outlineColor, focus};
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_keyboard_reaches_every_control_with_a_visible_focus(start_server, browser, scheme):
    """Tab goes through the theme toggle, the charts' mode bar buttons, the
    filter and each sortable header, each showing a 2 px ring in the theme's
    focus colour; Space toggles the theme. (Two feeds: each chart adds the
    same mode bar buttons, and eight made this walk a minute long.)"""
    server = await start_server(symbols=("ACME", "GLOBX"))
    context, page = await open_page(browser, server.url, scheme=scheme)
    try:
        seen = []
        for _ in range(400):
            await page.keyboard.press("Tab")
            ring = await page.evaluate(FOCUS_RING)
            assert ring["style"] == "solid" and ring["width"] >= 2, ring
            assert ring["color"] == ring["focus"], ring
            seen.append(ring["id"])
            if ring["id"] == "status":
                break
        # Every focusable element showed the ring (checked above); the top bar's
        # and the table's own controls come in reading order among the view
        # bar's, the panels' and the charts' mode bars (their ids vary).
        named = ["theme-toggle", "feed-filter", "feed", "last", "change", "percent", "status"]
        assert [s for s in seen if s in named] == named, seen
        await page.focus("#theme-toggle")
        await page.keyboard.press("Space")
        other = "dark" if scheme == "light" else "light"
        await page.wait_for_function(
            "(t) => document.documentElement.dataset.theme === t", arg=other, timeout=5_000
        )
    finally:
        await context.close()


@pytest.mark.parametrize("viewport", [VIEWPORT, PHONE], ids=["wide", "phone"])
async def test_screen_reader_reads_a_table_with_caption_headers_and_sort(server, browser, viewport):
    """What a screen reader gets, wide and reflowed on a phone alike: a table
    named by its caption, column headers, each row headed by its feed."""
    context, page = await open_page(browser, server.url, viewport=viewport)
    try:
        await page.wait_for_function(
            f"document.querySelectorAll('{ROWS}').length === 8", timeout=15_000
        )
        await page.click("#feeds th[data-sort='feed'] button")
        tree = await page.locator("#feeds").aria_snapshot()
        head = tree.splitlines()[0]
        assert 'table "Feeds: the latest value' in head, tree
        for name in ("Feed", "Last", "Change", "Change %", "Other series", "Status"):
            assert f'columnheader "{name}' in tree, (name, tree)
        assert 'rowheader "ACME"' in tree and tree.count("- row ") >= 9, tree
        assert await page.get_attribute("#feeds th[data-sort='feed']", "aria-sort") == ("ascending")
    finally:
        await context.close()
