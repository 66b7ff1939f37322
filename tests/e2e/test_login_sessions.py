"""End to end: viewer sessions that end (logout, expiry), and throttled
failed logins, on real Hypercorn with real clients."""

import asyncio
import logging
from urllib.parse import urlencode

import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families

from dashboard.protocol import CloseCode
from dashboard.sessions import SESSION_COOKIE
from tests.support.clients import recv_json
from tests.support.servers import http_request

pytestmark = pytest.mark.e2e

TOKEN = "viewer-s3cret-Zq8"
EVIL = "http://evil.example"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
#: Another client: the whole of 127/8 is loopback on Linux.
OTHER_ADDRESS = "127.0.0.2"


async def login(server, token: str = TOKEN, *, source: str | None = None, headers=None):
    return await http_request(
        server.url + "/login",
        "POST",
        headers={**FORM, **(headers or {})},
        body=urlencode({"token": token}).encode(),
        source=source,
    )


def cookie_of(response) -> dict[str, str]:
    """The Cookie header a browser would send after *response*'s Set-Cookie."""
    return {"Cookie": response.headers["set-cookie"].split(";", 1)[0]}


async def logout(server, headers: dict[str, str]):
    return await http_request(server.url + "/logout", "POST", headers=headers)


async def handshake_status(server, headers: dict[str, str]) -> int:
    """101 if /ws opens with *headers*, else the refusal's status."""
    try:
        async with websockets.connect(server.ws_url, additional_headers=headers, open_timeout=10):
            return 101
    except websockets.InvalidStatus as refused:
        return refused.response.status_code


async def closed_with(ws) -> tuple[int, str]:
    """Read until the server closes *ws*; its close code and reason."""
    async with asyncio.timeout(15):
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                await ws.recv()
    return ws.close_code, ws.close_reason


@pytest.fixture
async def locked_server(start_server):
    return await start_server(symbols=("ACME",), viewer_token=TOKEN)


# --- logout -----------------------------------------------------------------------------------


async def test_logout_ends_the_session_for_good(locked_server):
    """POST /logout answers 303 to /login and clears the cookie; the old value,
    replayed, opens nothing any more (page, API, WebSocket), while another
    session of the same token goes on."""
    server = locked_server
    session, other = cookie_of(await login(server)), cookie_of(await login(server))
    assert (await http_request(server.url + "/api/feeds", headers=session)).status == 200

    response = await logout(server, session)
    assert (response.status, response.headers["location"]) == (303, "/login")
    cleared = response.headers["set-cookie"]
    assert cleared.startswith(f'{SESSION_COOKIE}=""') or cleared.startswith(f"{SESSION_COOKIE}=;")
    attributes = {a.strip().lower() for a in cleared.split(";")[1:]}
    assert {"max-age=0", "httponly", "samesite=strict", "path=/"} <= attributes

    assert (await http_request(server.url + "/api/feeds", headers=session)).status == 401
    page = await http_request(server.url + "/", headers=session)
    assert (page.status, page.headers["location"]) == (303, "/login")
    assert (await http_request(server.url + "/login", headers=session)).status == 200  # the form
    assert await handshake_status(server, session) == 401
    assert (await http_request(server.url + "/api/feeds", headers=other)).status == 200


async def test_logout_closes_the_sessions_open_websockets(locked_server):
    """A viewer socket of the session logged out (another tab) is closed at
    once with 4401 "logged out"; one of another session stays."""
    server = locked_server
    session, other = cookie_of(await login(server)), cookie_of(await login(server))
    async with (
        websockets.connect(server.ws_url, additional_headers=session) as ws,
        websockets.connect(server.ws_url, additional_headers=other) as stays,
    ):
        assert (await recv_json(ws))["type"] == "hello"
        assert (await recv_json(stays))["type"] == "hello"
        await logout(server, session)
        assert await closed_with(ws) == (CloseCode.SESSION_ENDED, "logged out")
        for _ in range(3):  # still receiving
            await recv_json(stays)


@pytest.mark.parametrize("path", ["/logout", "/login"])
async def test_other_sites_cannot_post_login_or_logout(locked_server, path):
    """A form posted from another site's page (its Origin) is refused with 403:
    no login, and no logout of the session sent with it."""
    server = locked_server
    session = cookie_of(await login(server))
    headers = {**FORM, **session, "Origin": EVIL}
    response = await http_request(
        server.url + path, "POST", headers=headers, body=urlencode({"token": TOKEN}).encode()
    )
    assert response.status == 403 and "set-cookie" not in response.headers
    assert (await http_request(server.url + "/api/feeds", headers=session)).status == 200
    own = {**session, "Origin": server.url}
    assert (await logout(server, own)).status == 303  # the page's own form does log out


# --- expiry -----------------------------------------------------------------------------------


async def test_a_session_expires_and_its_websocket_is_closed(start_server):
    """With session_max_age 1.5 s the cookie's Max-Age is 2, an open viewer
    socket is closed with 4401 "session expired" when the session ends, and the
    cookie then opens nothing; a bearer viewer is not affected."""
    server = await start_server(symbols=("ACME",), viewer_token=TOKEN, session_max_age=1.5)
    response = await login(server)
    assert "max-age=2" in response.headers["set-cookie"].lower()
    session = cookie_of(response)
    started = asyncio.get_running_loop().time()
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        websockets.connect(server.ws_url, additional_headers=session) as ws,
        websockets.connect(server.ws_url, additional_headers=bearer) as stays,
    ):
        assert await closed_with(ws) == (CloseCode.SESSION_ENDED, "session expired")
        assert 1.0 < asyncio.get_running_loop().time() - started < 5
        assert (await http_request(server.url + "/api/session", headers=session)).status == 401
        assert await handshake_status(server, session) == 401
        for _ in range(3):
            await recv_json(stays)


async def test_api_session_tells_the_page_whether_login_is_on(start_server, locked_server):
    """GET /api/session: {"login": false} on an open dashboard; with login on,
    the session's end in ms for a cookie, null for a bearer header, and 401
    without either."""
    open_server = await start_server(symbols=("ACME",))
    response = await http_request(open_server.url + "/api/session")
    assert (response.status, response.json()) == (200, {"login": False, "expires": None})
    server = locked_server
    assert (await http_request(server.url + "/api/session")).status == 401
    answer = await http_request(server.url + "/api/session", headers=cookie_of(await login(server)))
    assert answer.status == 200 and answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["login"] is True and isinstance(body["expires"], int)
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert (await http_request(server.url + "/api/session", headers=bearer)).json() == {
        "login": True,
        "expires": None,
    }


# --- throttled failures -----------------------------------------------------------------------


def samples_of(text: str) -> dict[tuple[str, frozenset], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_200_wrong_tokens_are_throttled_and_counted(locked_server, caplog):
    """From one address: the first 5 wrong tokens get 401, the next 195
    attempts 429 with Retry-After (1-10 s) without being checked, the right
    token too. Another address still logs in with the right token. /metrics
    counts 5 failures and 195 throttled attempts; the log has one logfmt
    event for each, without the token."""
    caplog.set_level(logging.INFO, logger="dashboard.web.gate")
    server = locked_server
    statuses = []
    for n in range(200):
        response = await login(server, f"guess-{n}")
        statuses.append(response.status)
        if response.status == 429:
            assert 1 <= int(response.headers["retry-after"]) <= 10
            assert b"Too many wrong tokens from your address: try again in" in response.body
            assert "set-cookie" not in response.headers
    assert statuses == [401] * 5 + [429] * 195
    assert (await login(server)).status == 429  # the right token is not even checked
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    api = await http_request(server.url + "/api/feeds", headers=bearer)  # nor is a bearer one
    assert api.status == 429 and 1 <= int(api.headers["retry-after"]) <= 10

    elsewhere = await login(server, source=OTHER_ADDRESS)
    assert (elsewhere.status, elsewhere.headers["location"]) == (303, "/")
    scrape = await http_request(server.url + "/metrics", headers=cookie_of(elsewhere))
    samples = samples_of(scrape.body.decode())
    assert samples[("livefeed_login_failures_total", frozenset())] == 5
    throttled = ("livefeed_limit_violations_total", frozenset({("reason", "login_attempts")}))
    assert samples[throttled] == 195 + 2

    log = caplog.text
    assert log.count("event=login_refused client=127.0.0.1:") == 5
    assert "via=form reason=wrong_token" in log
    assert log.count("event=login_throttled client=127.0.0.1:") == 197
    assert f"event=login client={OTHER_ADDRESS}:" in log
    assert TOKEN not in log


async def test_wrong_bearer_tokens_count_as_failed_logins(locked_server):
    """Guessing through Authorization: Bearer on the API or the WebSocket is
    throttled like the form: 5 wrong, then 429; the form then is 429 too."""
    server = locked_server
    wrong = {"Authorization": "Bearer nope"}
    statuses = [
        (await http_request(server.url + "/api/feeds", headers=wrong)).status for _ in range(4)
    ]
    statuses.append(await handshake_status(server, wrong))
    assert statuses == [401] * 5
    assert await handshake_status(server, {"Authorization": f"Bearer {TOKEN}"}) == 429
    assert (await login(server)).status == 429


async def test_logout_and_login_are_logfmt_events(locked_server, caplog):
    caplog.set_level(logging.INFO, logger="dashboard.web.gate")
    server = locked_server
    session = cookie_of(await login(server))
    await logout(server, session)
    await logout(server, session)  # again: nothing left to end
    lines = [r.getMessage() for r in caplog.records if r.name == "dashboard.web.gate"]
    assert [line.split(" ")[0] for line in lines] == ["event=login", "event=logout", "event=logout"]
    assert lines[0].endswith("expires_in=43200")
    assert lines[1].endswith("had_session=true") and lines[2].endswith("had_session=false")
