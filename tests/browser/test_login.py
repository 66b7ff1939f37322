"""The viewer login in headless Chromium: a person with the token gets in."""

import asyncio
import logging

import pytest
import pytest_asyncio
import trustme

from dashboard.sessions import SESSION_COOKIE
from tests.support.browser import VIEWPORT, screenshot
from tests.support.servers import start_cli, stop_process
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

TOKEN = "browser-viewer-token"
LIVE = "document.getElementById('status').dataset.state === 'live'"


@pytest_asyncio.fixture(loop_scope="session")  # the shared browser's loop: conftest.py
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
        session = [c["value"] for c in await context.cookies() if c["name"] == SESSION_COOKIE]
        await context.close()
    finally:
        await stop_process(process)
    log = (await output).decode()
    assert " DEBUG " in log and "event=login client=127.0.0.1:" in log
    assert len(session) == 1
    for secret in (TOKEN, session[0], *session[0].split(".")[1:]):
        assert secret not in log


async def log_in(page, server) -> None:
    await page.goto(server.url + "/")
    await page.fill("#token", TOKEN)
    async with page.expect_navigation():
        await page.click("button[type=submit]")
    await page.wait_for_function(LIVE, timeout=15_000)


async def wait_for_url(page, url: str, timeout: float = 15) -> None:
    """Poll the page's URL (the page navigates by itself) until it is *url*."""
    await wait_until(lambda: page.url == url, timeout=timeout, what=f"the page to go to {url}")


async def test_log_out_button_ends_the_session(locked_server, page):
    """With login on, the page shows a "Log out" button; it leads to /login,
    and the page is closed to this browser until it logs in again."""
    server = locked_server
    await log_in(page, server)
    await page.wait_for_selector("#logout button", state="visible", timeout=10_000)
    assert await page.inner_text("#logout button") == "Log out"
    await screenshot(page, "dashboard-with-log-out")
    async with page.expect_navigation():
        await page.click("#logout button")
    assert page.url == server.url + "/login"
    assert SESSION_COOKIE not in {c["name"] for c in await page.context.cookies()}
    await page.goto(server.url + "/")
    assert page.url == server.url + "/login"
    problems = page.console_log.problems()
    assert problems == [], problems


async def test_open_dashboard_shows_no_log_out_button(start_server, page):
    """Without a viewer token there is nothing to log out of: no button."""
    server = await start_server(symbols=("ACME",))
    await page.goto(server.url + "/")
    await page.wait_for_function(LIVE, timeout=15_000)
    await page.wait_for_function("window.livefeed.session.login === false", timeout=10_000)
    assert not await page.is_visible("#logout")


async def test_an_expired_session_sends_the_page_to_login(start_server, page):
    """--session-max-age 4: the dashboard opens, and once the session has
    expired the page goes to /login by itself instead of reconnecting forever.
    (Which way depends on how long the page took to start, on a busy machine
    seconds: the server closes its open socket with 4401 at expiry, or, if the
    page connects later, refuses the handshake and the page asks /api/session.
    The next test takes the 4401 path alone.)"""
    server = await start_server(symbols=("ACME",), viewer_token=TOKEN, session_max_age=4.0)
    await page.goto(server.url + "/login")
    await page.fill("#token", TOKEN)
    async with page.expect_response(server.url + "/") as dashboard:
        await page.click("button[type=submit]")
    assert (await dashboard.value).status == 200  # the page itself, not a redirect
    await wait_for_url(page, server.url + "/login", timeout=30)
    assert await page.is_visible("input#token[type=password]")


async def test_logging_out_in_one_tab_sends_the_other_to_login(locked_server, page, caplog):
    """Two tabs of one browser, both live; "Log out" in one: the server closes
    the other's socket with 4401 "logged out" and that tab goes to /login at
    once, without trying to reconnect (no refused handshake)."""
    caplog.set_level(logging.INFO, logger="dashboard.web.gate")
    server = locked_server
    await log_in(page, server)
    other = await page.context.new_page()
    await other.goto(server.url + "/")
    await other.wait_for_function(LIVE, timeout=15_000)
    await other.wait_for_selector("#logout button", state="visible", timeout=10_000)
    async with other.expect_navigation():
        await other.click("#logout button")
    await wait_for_url(page, server.url + "/login")
    assert "event=logout" in caplog.text
    assert "event=websocket_refused" not in caplog.text


async def test_a_session_the_server_forgot_sends_the_page_to_login(locked_server, page):
    """A restart ends every session. The page's reconnect is then refused at
    the handshake with 401, which a browser reports only as a failed
    connection: the page asks /api/session, gets 401, and goes to /login."""
    server = locked_server
    await log_in(page, server)
    await server.restart()
    await wait_for_url(page, server.url + "/login", timeout=30)


async def test_throttled_login_says_when_to_try_again(locked_server, page):
    """After 5 wrong tokens the form says how long to wait (HTTP 429)."""
    server = locked_server
    await page.goto(server.url + "/login")
    for n in range(6):
        await page.fill("#token", f"guess-{n}")
        async with page.expect_navigation() as navigation:
            await page.click("button[type=submit]")
    assert (await navigation.value).status == 429
    message = await page.inner_text("#login-error")
    assert message.startswith("Too many wrong tokens from your address: try again in ")
    await screenshot(page, "login-throttled")
