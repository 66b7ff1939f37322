"""Headless Chromium (Debian's /usr/bin/chromium) driven by Playwright.

Browser tests skip with a reason where Chromium or Playwright is missing, and
fail instead when REQUIRE_BROWSER=1 (as .ci/run sets).

One Chromium serves the whole session (launching one took about a second per
test); each test gets a fresh context and page, so no cookie, storage or
cache leaks from one test to the next. Playwright's objects belong to the
event loop that started them, so the browser tests, and the async fixtures
they use, run in the session's loop (pytest-asyncio ``loop_scope``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from pytest_asyncio import is_async_test

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, ConsoleLog, missing_browser
from tests.support.servers import LiveServer, StartServer, server_factory
from tests.support.waiting import require_env


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run this folder's async tests in the session's event loop, the one
    the shared browser lives in."""
    here = Path(__file__).resolve().parent
    session_loop = pytest.mark.asyncio(loop_scope="session")
    for item in items:
        if is_async_test(item) and here in item.path.parents:
            item.add_marker(session_loop, append=False)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Any]:  # a playwright Browser
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


@pytest_asyncio.fixture(loop_scope="session")
async def page(browser: Any) -> AsyncIterator[Any]:  # a playwright Page
    context = await browser.new_context(viewport=VIEWPORT)
    page = await context.new_page()
    page.console_log = ConsoleLog(page)
    try:
        yield page
    finally:
        await context.close()


@pytest_asyncio.fixture(loop_scope="session")
async def start_server() -> AsyncIterator[StartServer]:
    """tests/conftest.py's factory, in the session's loop (the page's server
    must run in the loop the test awaits in)."""
    async with server_factory() as start:
        yield start


@pytest_asyncio.fixture(loop_scope="session")
async def server(start_server: StartServer) -> LiveServer:
    return await start_server()
