"""End to end: who may connect. The Origin check on the WebSockets, and the
viewer token with its login step, on real Hypercorn with real clients."""

import json
import logging
import time
from urllib.parse import urlencode

import pytest
import websockets

from dashboard.sessions import SESSION_COOKIE
from dashboard.web.state import runtime_of
from tests.support.clients import recv_json
from tests.support.servers import http_request

pytestmark = pytest.mark.e2e

INGEST_TOKEN = "ingest-s3cret"
VIEWER_TOKEN = "viewer-s3cret-Zq8"
EVIL = "http://evil.example"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def ingest_url(server) -> str:
    return server.url.replace("http://", "ws://", 1) + "/api/ingest"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def refused(url: str, **kwargs) -> websockets.InvalidStatus:
    """The handshake's refusal; fails if the server accepts it."""
    with pytest.raises(websockets.InvalidStatus) as caught:
        async with websockets.connect(url, open_timeout=10, **kwargs):
            pass
    return caught.value


async def first_message(url: str, **kwargs) -> dict:
    async with websockets.connect(url, open_timeout=10, **kwargs) as ws:
        return await recv_json(ws)


async def ingest_ack(url: str, **kwargs) -> dict:
    async with websockets.connect(url, open_timeout=10, **kwargs) as ws:
        point = {"ts": int(time.time() * 1000), "values": {"x": 1}}
        await ws.send(json.dumps({"feed": "PUSHED", "points": [point]}))
        return await recv_json(ws)


@pytest.fixture
async def open_server(start_server):
    """No viewer token; ingest on."""
    return await start_server(symbols=("ACME",), ingest_token=INGEST_TOKEN)


@pytest.fixture
async def locked_server(start_server):
    """A viewer token; ingest on with its own token."""
    return await start_server(
        symbols=("ACME",), ingest_token=INGEST_TOKEN, viewer_token=VIEWER_TOKEN
    )


# --- Origin ---------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["viewer", "ingest"])
async def test_other_origin_is_refused_with_403_before_accept(open_server, endpoint, caplog):
    """A handshake from another site's page is answered 403 with a JSON reason
    instead of 101 (no WebSocket is opened, so no frame is ever sent), and the
    refusal is logged with the client's address; ingest is refused even with its token."""
    caplog.set_level(logging.INFO, logger="dashboard.web.gate")
    server = open_server
    url, headers = (
        (server.ws_url, {})
        if endpoint == "viewer"
        else (
            ingest_url(server),
            bearer(INGEST_TOKEN),
        )
    )
    error = await refused(url, origin=EVIL, additional_headers=headers)
    assert error.response.status_code == 403
    assert json.loads(error.response.body) == {
        "error": f"origin {EVIL!r} may not open this WebSocket (see --allow-origin)"
    }
    assert not server.hub.clients
    assert "event=websocket_refused client=127.0.0.1:" in caplog.text
    assert f'status=403 reason="origin {EVIL!r} may not open this WebSocket' in caplog.text


async def test_own_origin_is_accepted(open_server):
    """A page of the dashboard itself (Origin = scheme://Host) opens both WebSockets."""
    server = open_server
    own = f"http://127.0.0.1:{server.port}"
    assert (await first_message(server.ws_url, origin=own))["type"] == "hello"
    ack = await ingest_ack(ingest_url(server), origin=own, additional_headers=bearer(INGEST_TOKEN))
    assert ack["type"] == "ack"


async def test_same_host_on_another_port_is_another_origin(open_server):
    """localhost:other-port is a different origin (another program's page): refused."""
    other = f"http://127.0.0.1:{open_server.port + 1}"
    assert (await refused(open_server.ws_url, origin=other)).response.status_code == 403


async def test_no_origin_header_is_accepted(open_server):
    """A client that sends no Origin (a program, not a browser) is let in: the
    websockets library sends none unless asked."""
    server = open_server
    assert (await first_message(server.ws_url))["type"] == "hello"
    assert (await ingest_ack(ingest_url(server), additional_headers=bearer(INGEST_TOKEN)))[
        "type"
    ] == "ack"


async def test_allow_listed_origin_is_accepted(start_server):
    """allowed_origins lets another origin's pages in, on /ws and ingest; others stay out."""
    server = await start_server(
        symbols=("ACME",),
        ingest_token=INGEST_TOKEN,
        allowed_origins=("https://dash.example.com",),
    )
    origin = "https://Dash.Example.com:443"  # the same origin, written differently
    assert (await first_message(server.ws_url, origin=origin))["type"] == "hello"
    ack = await ingest_ack(
        ingest_url(server), origin=origin, additional_headers=bearer(INGEST_TOKEN)
    )
    assert ack["type"] == "ack"
    assert (await refused(server.ws_url, origin=EVIL)).response.status_code == 403


async def test_star_allows_every_origin(start_server):
    """allowed_origins = ["*"] turns the check off."""
    server = await start_server(symbols=("ACME",), allowed_origins=("*",))
    assert (await first_message(server.ws_url, origin=EVIL))["type"] == "hello"


async def test_http_ingest_ignores_origin(open_server):
    """POST ingest is not a WebSocket: its bearer token, which browsers never add
    by themselves, is what protects it; an Origin header changes nothing."""
    server = open_server
    point = [{"ts": int(time.time() * 1000), "values": {"x": 1}}]
    response = await http_request(
        server.url + "/api/feeds/PUSHED/points",
        "POST",
        headers={"Origin": EVIL, "Content-Type": "application/json", **bearer(INGEST_TOKEN)},
        body=json.dumps(point).encode(),
    )
    assert (response.status, response.json()) == (200, {"feed": "PUSHED", "accepted": 1})


# --- viewer token ---------------------------------------------------------------------------


async def login(server, token: str) -> tuple[int, dict[str, str], bytes]:
    response = await http_request(
        server.url + "/login", "POST", headers=FORM, body=urlencode({"token": token}).encode()
    )
    return response.status, response.headers, response.body


def cookie_header(set_cookie: str) -> dict[str, str]:
    return {"Cookie": set_cookie.split(";", 1)[0]}


@pytest.mark.parametrize("path", ["/api/feeds", "/api/feeds/ACME/history", "/api/nothing-yet"])
async def test_read_api_needs_the_viewer_token(locked_server, path):
    """Without the token the read API (and any route not listed as public: default
    deny) is 401 JSON; with Authorization: Bearer it answers."""
    url = locked_server.url + path
    response = await http_request(url)
    assert response.status == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "viewer token required" in response.json()["error"]
    assert (await http_request(url, headers=bearer(VIEWER_TOKEN + "x"))).status == 401
    expected = 404 if path == "/api/nothing-yet" else 200
    assert (await http_request(url, headers=bearer(VIEWER_TOKEN))).status == expected


async def test_page_redirects_to_login_and_public_parts_stay_open(locked_server):
    """/ without a session sends the browser to /login (303); the login form,
    /healthz and the page's static files need no token."""
    server = locked_server
    response = await http_request(server.url + "/")
    assert (response.status, response.headers["location"]) == (303, "/login")
    form = await http_request(server.url + "/login")
    assert form.status == 200 and b'name="token"' in form.body
    assert b'type="password"' in form.body and b'action="/login"' in form.body
    assert (await http_request(server.url + "/healthz")).status == 200
    prefix = runtime_of(server.app).assets.prefix
    assert (await http_request(server.url + prefix + "/css/style.css")).status == 200
    assert (await http_request(server.url + prefix + "/vendor/plotly.min.js")).status == 200


def cookie_value(set_cookie: str) -> str:
    return set_cookie.split(";", 1)[0].split("=", 1)[1]


async def test_login_sets_a_fresh_expiring_session_cookie(locked_server, start_server):
    """POST /login with the token answers 303 to / and sets an HttpOnly,
    SameSite=Strict cookie with Max-Age = session_max_age (12 h) whose value
    is not derived from the token alone: another login, or the same token on
    another server, gets another value. The cookie opens the page and the API."""
    server = locked_server
    status, headers, _ = await login(server, VIEWER_TOKEN)
    assert (status, headers["location"]) == (303, "/")
    cookie = headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    attributes = {a.strip().lower() for a in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/", "max-age=43200"} <= attributes
    assert "secure" not in attributes  # plain http here; see test_tls for https
    assert VIEWER_TOKEN not in cookie
    issued, nonce, mac = cookie_value(cookie).split(".")
    assert abs(int(issued) / 1000 - time.time()) < 60 and len(nonce) == 22 and len(mac) == 64
    _, again_headers, _ = await login(server, VIEWER_TOKEN)
    other = await start_server(symbols=("ACME",), viewer_token=VIEWER_TOKEN)
    _, other_headers, _ = await login(other, VIEWER_TOKEN)
    values = {cookie_value(h["set-cookie"]) for h in (headers, again_headers, other_headers)}
    assert len(values) == 3
    page = await http_request(server.url + "/", headers=cookie_header(cookie))
    assert page.status == 200 and b'id="status"' in page.body
    feeds = await http_request(server.url + "/api/feeds", headers=cookie_header(cookie))
    assert feeds.status == 200 and feeds.json()["feeds"][0]["name"] == "ACME"
    again = await http_request(server.url + "/login", headers=cookie_header(cookie))
    assert (again.status, again.headers["location"]) == (303, "/")
    # One server's session is not another's, though the token is the same.
    elsewhere = await http_request(other.url + "/api/feeds", headers=cookie_header(cookie))
    assert elsewhere.status == 401


@pytest.mark.parametrize("token", ["", "wrong", VIEWER_TOKEN[:-1], VIEWER_TOKEN + " "])
async def test_wrong_token_is_401_with_the_form_again(locked_server, token):
    """A wrong token gets 401, the form again with a message, and no cookie."""
    status, headers, body = await login(locked_server, token)
    assert status == 401
    assert "set-cookie" not in headers
    assert b"Wrong token. Try again." in body and b'name="token"' in body


async def test_login_without_a_small_form_body_is_refused(locked_server):
    """A login body without Content-Length, or over 4 KiB, is not read: 411 / 413."""
    server = locked_server
    big = urlencode({"token": "x" * 5000}).encode()
    response = await http_request(server.url + "/login", "POST", headers=FORM, body=big)
    assert response.status == 413 and "set-cookie" not in response.headers
    chunked = {**FORM, "Transfer-Encoding": "chunked"}
    body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(b"token=x"), b"token=x")
    response = await http_request(server.url + "/login", "POST", headers=chunked, body=body)
    assert response.status == 411 and "set-cookie" not in response.headers


async def test_viewer_websocket_needs_the_token(locked_server):
    """/ws without the token is refused with 401 at the handshake; a bearer
    header or the login cookie opens it; a wrong one does not."""
    server = locked_server
    error = await refused(server.ws_url)
    assert error.response.status_code == 401
    assert "viewer token required" in json.loads(error.response.body)["error"]
    assert (
        await refused(server.ws_url, additional_headers=bearer("nope"))
    ).response.status_code == 401
    forged = f"{int(time.time() * 1000)}.{'A' * 22}.{'0' * 64}"
    bad_cookie = {"Cookie": f"{SESSION_COOKIE}={forged}"}
    assert (await refused(server.ws_url, additional_headers=bad_cookie)).response.status_code == 401
    assert not server.hub.clients
    hello = await first_message(server.ws_url, additional_headers=bearer(VIEWER_TOKEN))
    assert hello["type"] == "hello"
    _, headers, _ = await login(server, VIEWER_TOKEN)
    hello = await first_message(
        server.ws_url, additional_headers=cookie_header(headers["set-cookie"])
    )
    assert hello["type"] == "hello"


async def test_origin_is_checked_before_the_token(locked_server):
    """Another origin is refused (403) even with a valid token: the check that
    stops hijacking does not depend on how the viewer logged in."""
    server = locked_server
    error = await refused(server.ws_url, origin=EVIL, additional_headers=bearer(VIEWER_TOKEN))
    assert error.response.status_code == 403


async def test_ingest_keeps_its_own_token(locked_server):
    """With a viewer token set, ingest still takes (only) the ingest token."""
    server = locked_server
    ack = await ingest_ack(ingest_url(server), additional_headers=bearer(INGEST_TOKEN))
    assert ack["type"] == "ack"
    error = await refused(ingest_url(server), additional_headers=bearer(VIEWER_TOKEN))
    assert error.response.status_code == 401


async def test_open_dashboard_has_nothing_to_log_in_to(open_server):
    """Without a viewer token everything is open and /login just leads to /."""
    server = open_server
    assert (await http_request(server.url + "/api/feeds")).status == 200
    for method in ("GET", "POST"):
        response = await http_request(server.url + "/login", method, headers=FORM)
        assert (response.status, response.headers["location"]) == (303, "/")


async def test_tokens_are_never_logged(locked_server, caplog):
    """Logins (right and wrong), bearer requests, WebSockets and a logout log
    no token and no session value (nor its nonce or MAC), at any level."""
    caplog.set_level(logging.DEBUG)
    server = locked_server
    await login(server, VIEWER_TOKEN + "-wrong")
    _, headers, _ = await login(server, VIEWER_TOKEN)
    await http_request(server.url + "/api/feeds", headers=bearer(VIEWER_TOKEN))
    session = cookie_value(headers["set-cookie"])
    await first_message(server.ws_url, additional_headers=cookie_header(headers["set-cookie"]))
    await refused(server.ws_url, additional_headers=bearer(VIEWER_TOKEN + "-wrong"))
    await ingest_ack(ingest_url(server), additional_headers=bearer(INGEST_TOKEN))
    await http_request(server.url + "/logout", "POST", headers=cookie_header(headers["set-cookie"]))
    # The server's records only: the websockets client logs its own headers at DEBUG.
    server_log = "\n".join(
        f"{r.name} {r.getMessage()}" for r in caplog.records if not r.name.startswith("websockets")
    )
    assert "event=login client=127.0.0.1:" in server_log  # logging was on
    for secret in (VIEWER_TOKEN, session, *session.split(".")[1:], INGEST_TOKEN):
        assert secret not in server_log
