"""Headless Chromium (Debian's /usr/bin/chromium) driven by Playwright.

Browser tests skip with a reason where Chromium or Playwright is missing, and
fail instead when REQUIRE_BROWSER=1 (as .ci/run sets).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import require_env

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


def _missing() -> str | None:
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install -e '.[test]')"
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        return f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
    return None


@pytest.fixture
async def browser():
    reason = _missing()
    if reason is not None:
        if require_env("REQUIRE_BROWSER"):
            pytest.fail(f"REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


class ConsoleLog:
    """Console messages, page errors and failed requests of one page."""

    def __init__(self, page) -> None:
        self.messages: list[str] = []
        page.on("console", lambda m: self.messages.append(f"console.{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.messages.append(f"pageerror: {e}"))
        page.on("requestfailed", self._request_failed)
        page.on(
            "response",
            lambda r: r.status >= 400 and self.messages.append(f"HTTP {r.status}: {r.url}"),
        )

    def _request_failed(self, request) -> None:
        # A navigation cancels the page's requests still in flight (a favicon
        # while a test moves on to the next URL): the browser's doing, not a
        # failure of the server or the page.
        if request.failure != "net::ERR_ABORTED":
            self.messages.append(f"requestfailed: {request.url} ({request.failure})")

    def problems(self) -> list[str]:
        return [m for m in self.messages if not m.startswith(("console.log", "console.debug"))]


@pytest.fixture
async def page(browser):
    context = await browser.new_context(viewport=VIEWPORT)
    page = await context.new_page()
    page.console_log = ConsoleLog(page)
    try:
        yield page
    finally:
        await context.close()


async def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path))
    return path
