"""Headless Chromium (Debian's /usr/bin/chromium) driven by Playwright.

Browser tests skip with a reason where Chromium or Playwright is missing, and
fail instead when REQUIRE_BROWSER=1 (as .ci/run sets).
"""

from __future__ import annotations

import pytest

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, ConsoleLog, missing_browser
from tests.support.waiting import require_env


@pytest.fixture
async def browser():
    reason = missing_browser()
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


@pytest.fixture
async def page(browser):
    context = await browser.new_context(viewport=VIEWPORT)
    page = await context.new_page()
    page.console_log = ConsoleLog(page)
    try:
        yield page
    finally:
        await context.close()
