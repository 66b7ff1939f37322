"""Plugged-in feeds on the page: the README's example as written, and a failing feed."""

import asyncio
import re
import shlex
from pathlib import Path

import pytest

from feeds import Feed
from tests.support.browser import screenshot
from tests.support.servers import start_cli, stop_process

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_example() -> tuple[str, list[str]]:
    """The "Write your own feed" section's Python file and command line."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Write your own feed", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    command = shlex.split(re.search(r"```sh\n(.*?)```", section, re.S).group(1).strip())
    return code, command


async def test_readme_feed_example_draws_its_own_panel_with_units(page, tmp_path):
    """The README's feed, saved and run exactly as it says, appears in its own
    panel with its units and both series drawn."""
    code, command = readme_example()
    assert command[:3] == ["python", "-m", "dashboard"]
    (tmp_path / "myfeeds.py").write_text(code)
    process, url = await start_cli(*command[3:], cwd=str(tmp_path))
    try:
        await page.goto(url + "/")
        panel = ".panel[data-feed='wave']"
        await page.wait_for_function(
            f"""() => {{
                const chart = document.querySelector("{panel} .js-plotly-plot");
                return chart && chart.data.length === 2
                    && chart.data.every(t => t.y.filter(v => v !== null).length > 10);
            }}""",
            timeout=15_000,
        )
        traces = await page.evaluate(
            f"""() => document.querySelector("{panel} .js-plotly-plot").data
                  .map(t => ({{name: t.name, y: t.y.filter(v => v !== null)}}))"""
        )
        header = await page.inner_text(f"{panel} .panel-head")
        await screenshot(page, "readme-feed")
        # Read before the server stops: the page's reconnect attempts while
        # it shuts down are expected to log failed handshakes.
        problems = page.console_log.problems()
    finally:
        assert await stop_process(process) == 0
    assert [t["name"] for t in traces] == ["sine", "cosine"]
    assert all(-1 <= y <= 1 for t in traces for y in t["y"])
    assert header.split() == ["wave", header.split()[1], "V"]  # name, last value, unit
    assert problems == []


class Broken(Feed):
    """Fails on start, every time."""

    name = "broken"
    series = ["v"]
    units = {"v": "mV"}

    async def stream(self):
        raise OSError("sensor unplugged")
        yield {}  # pragma: no cover - makes this an async generator


class Firehose(Feed):
    """Yields far faster than its declared max_rate."""

    name = "firehose"
    series = ["v"]
    max_rate = 20

    async def stream(self):
        n = 0
        while True:
            n += 1
            yield {"v": n % 100}
            if n % 50 == 0:
                await asyncio.sleep(0.001)


async def test_failing_feed_shows_restarting_with_its_error(start_server, page):
    """A feed that keeps failing shows as restarting, with its error, a feed over
    its max_rate shows its dropped points, and the others keep drawing."""
    server = await start_server(
        extra_sources=lambda: [Broken(), Firehose()], restart_backoff=0.05, restart_backoff_max=0.2
    )
    await page.goto(server.url + "/")
    row = "#feeds tbody tr[data-feed='broken']"
    await page.wait_for_function(
        f"""() => /restarting ×[2-9]/.test(document.querySelector("{row} .status-cell")
               ?.textContent ?? '')""",
        timeout=15_000,
    )
    title = await page.get_attribute(f"{row} .status-cell", "title")
    assert title == "OSError: sensor unplugged"
    badge = await page.inner_text(".panel[data-feed='broken'] .panel-status")
    assert badge.startswith("restarting")
    empty = await page.text_content(".panel[data-feed='broken'] .annotation-text")
    assert empty == "waiting for data"
    await page.wait_for_function("window.livefeed.stats().perFeed.ACME.count > 40")
    healthy = await page.inner_text("#feeds tbody tr[data-feed='ACME'] .status-cell")
    assert healthy == ""
    await page.wait_for_function(
        """() => /^[\\d,]+ dropped$/.test(document.querySelector(
            "#feeds tbody tr[data-feed='firehose'] .status-cell")?.textContent ?? '')"""
    )
    await screenshot(page, "failing-feed")
