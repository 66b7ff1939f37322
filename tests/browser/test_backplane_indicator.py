"""The page says when the dashboard's backplane (Redis) is down: the connection
indicator reads "live · backplane down, points paused" and what is drawn stays."""

import pytest

from tests.support.backplanes import switchable_server
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

INDICATOR = """() => {
  const el = document.getElementById('status');
  return [el.dataset.state, el.dataset.backplane, el.textContent, window.livefeed.stats().points];
}"""


async def test_the_indicator_says_the_backplane_is_down_and_back(page):
    async with switchable_server(symbols=("ACME",)) as server:
        await page.goto(server.url)

        async def shown(state: str, backplane: str, text: str) -> bool:
            return (await page.evaluate(INDICATOR))[:3] == [state, backplane, text]

        await wait_until(lambda: shown("live", "", "live"), what="the page live")
        await wait_until(
            lambda: page.evaluate("() => window.livefeed.stats().points > 0"), what="points"
        )
        server.backplane.go_down()
        paused = "live · backplane down, points paused"
        await wait_until(lambda: shown("live", "down", paused), what="the indicator says down")
        held = (await page.evaluate(INDICATOR))[3]
        title = await page.get_attribute("#status", "title")
        assert "Redis" in title and held > 0  # what was drawn stays
        server.backplane.go_up()
        await wait_until(lambda: shown("live", "", "live"), what="the indicator back to live")
        assert await page.get_attribute("#status", "title") == ""
        assert (await page.evaluate(INDICATOR))[3] >= held
        assert page.console_log.problems() == []
