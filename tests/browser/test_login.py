"""The viewer login in headless Chromium: a person with the token gets in."""

import asyncio

import pytest
import trustme

from dashboard.access import SESSION_COOKIE, session_value
from tests.browser.conftest import VIEWPORT, screenshot
from tests.conftest import start_cli, stop_process

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

TOKEN = "browser-viewer-token"
LIVE = "document.getElementById('status').dataset.state === 'live'"


@pytest.fixture
async def locked_server(start_server):
    return await start_server(symbols=("ACME", "GLOBX"), viewer_token=TOKEN)


async def test_login_form_leads_to_the_live_dashboard(locked_server, page):
    """Opening / shows the login form; a wrong token is refused with a message;
    the right one brings the dashboard live with its panels, on an HttpOnly cookie."""
    server = locked_server
    await page.goto(server.url + "/")
    assert page.url == server.url + "/login"
    assert await page.is_visible("input#token[type=password]")
    assert not await page.is_visible("#login-error")  # no message before a try
    await screenshot(page, "login")

    await page.fill("#token", "not-the-token")
    async with page.expect_navigation():
        await page.click("button[type=submit]")
    assert await page.inner_text("#login-error") == "Wrong token. Try again."
    await screenshot(page, "login-wrong-token")

    await page.fill("#token", TOKEN)
    async with page.expect_navigation():
        await page.click("button[type=submit]")
    assert page.url == server.url + "/"
    await page.wait_for_function(LIVE, timeout=15_000)
    await page.wait_for_function(
        "document.querySelectorAll('.panel .js-plotly-plot').length === 2", timeout=15_000
    )
    cookies = await page.context.cookies()
    session = [c for c in cookies if c["name"] == SESSION_COOKIE]
    assert len(session) == 1 and session[0]["httpOnly"] and session[0]["sameSite"] == "Strict"
    assert TOKEN not in session[0]["value"]
    assert await page.evaluate("document.cookie") == ""  # page scripts cannot read it
    # The wrong try's 401 is the only failed response the page saw.
    problems = page.console_log.problems()
    assert [p for p in problems if "401" not in p] == [], problems


async def test_https_login_over_http2_logs_no_secret(browser, tmp_path):
    """Served with --certfile/--keyfile and --log-level debug, Chromium logs in
    over https (HTTP/2, WebSocket over HTTP/2) and goes live; the server's
    output holds neither the token nor the session value."""
    cert = trustme.CA().issue_cert("127.0.0.1")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    certfile.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    cert.private_key_pem.write_to_path(str(keyfile))
    process, url = await start_cli(
        *("--symbols", "ACME", "--log-level", "debug"),
        *("--certfile", str(certfile), "--keyfile", str(keyfile)),
        env={"DASHBOARD_VIEWER_TOKEN": TOKEN},
    )
    # Read the log as it comes: a full pipe would stall the server.
    output = asyncio.ensure_future(process.stderr.read())
    try:
        # The browser does not know the throwaway CA; the Python tests verify it.
        context = await browser.new_context(ignore_https_errors=True, viewport=VIEWPORT)
        page = await context.new_page()
        await page.goto(url + "/")
        await page.fill("#token", TOKEN)
        async with page.expect_navigation():
            await page.click("button[type=submit]")
        await page.wait_for_function(LIVE, timeout=15_000)
        protocol = "performance.getEntriesByType('navigation')[0].nextHopProtocol"
        assert await page.evaluate(protocol) == "h2"
        await context.close()
    finally:
        await stop_process(process)
    log = (await output).decode()
    assert " DEBUG " in log and "viewer logged in from 127.0.0.1" in log
    assert TOKEN not in log and session_value(TOKEN) not in log
