"""Headless Chromium (Debian's /usr/bin/chromium) driven by Playwright:
where it is, how it starts, and what a page logs."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1400, "height": 900}
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install -e '.[test]')"
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        return f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
    return None


class ConsoleLog:
    """Console messages, page errors and failed requests of one page."""

    def __init__(self, page: Any) -> None:  # a playwright Page
        self.messages: list[str] = []
        page.on("console", lambda m: self.messages.append(f"console.{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.messages.append(f"pageerror: {e}"))
        page.on("requestfailed", self._request_failed)
        page.on("response", self._response)

    def _response(self, response: Any) -> None:
        if response.status >= 400:
            self.messages.append(f"HTTP {response.status}: {response.url}")

    def _request_failed(self, request: Any) -> None:
        # A navigation cancels the page's requests still in flight (a favicon
        # while a test moves on to the next URL): the browser's doing, not a
        # failure of the server or the page.
        if request.failure != "net::ERR_ABORTED":
            self.messages.append(f"requestfailed: {request.url} ({request.failure})")

    def problems(self) -> list[str]:
        return [m for m in self.messages if not m.startswith(("console.log", "console.debug"))]


async def screenshot(page: Any, name: str) -> Path:
    """Save a screenshot of *page* as test-artifacts/NAME.png."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path))
    return path


#: An init script recording every value the connection indicator takes, so
#: short-lived states (reconnecting lasts a few hundred ms) are seen, not raced.
RECORD_STATUS = """
window.__statusLog = [];
new MutationObserver(() => {
  const s = document.getElementById('status');
  if (s && window.__statusLog.at(-1) !== s.dataset.state) window.__statusLog.push(s.dataset.state);
}).observe(document, {subtree: true, attributes: true, attributeFilter: ['data-state']});
"""


async def stats(page: Any) -> dict[str, Any]:
    """The page's own counters (``window.livefeed.stats()``)."""
    result: dict[str, Any] = await page.evaluate("window.livefeed.stats()")
    return result


async def wait_for(page: Any, expression: str, timeout: float = 15) -> None:
    """Poll *expression* in the page until it is truthy, for *timeout* seconds at most."""
    await page.wait_for_function(expression, timeout=timeout * 1000)


async def restart_resumes_with_no_gap(page: Any, server: Any) -> dict[str, Any]:
    """Stop *server* (started with a history file) and start it again on its
    port: the page, open and live (recording its status with RECORD_STATUS),
    goes reconnecting, then live under the same epoch, every feed 20 seqs on
    with none missing or twice and no break shown. The page's stats after."""
    await wait_for(page, "window.livefeed.stats().points > 8 * 20")
    epoch = server.hub.epoch
    await server.stop()
    await wait_for(page, "window.__statusLog.at(-1) === 'reconnecting'")
    held = await stats(page)
    await server.start()
    assert server.hub.epoch == epoch
    await wait_for(page, "window.__statusLog.at(-1) === 'live'", timeout=30)
    await page.wait_for_function(
        """(b) => Object.entries(window.livefeed.stats().perFeed)
             .every(([f, s]) => s.lastSeq > b.perFeed[f].lastSeq + 20)""",
        arg=held,
        timeout=15_000,
    )
    after = await stats(page)
    for feed, s in after["perFeed"].items():
        assert s["epoch"] == epoch, (feed, s)
        assert s["gaps"] == 0 and s["missed"] == 0, (feed, s)
        assert s["count"] == s["lastSeq"], (feed, s)  # seq 1..last, every one held
    assert after["duplicates"] == 0
    assert "break" not in await page.inner_text("#summary")
    problems = [m for m in page.console_log.problems() if "ERR_CONNECTION_REFUSED" not in m]
    assert problems == []
    return after
