"""Behind a trusted reverse proxy: X-Forwarded-For and X-Forwarded-Proto,
believed from the listed proxies only (127.0.0.1 here; 127.0.0.2 plays a
client connecting directly), on real Hypercorn."""

import json
import logging

import pytest
import websockets

from dashboard.web.state import runtime_of
from tests.support.clients import recv_json
from tests.support.servers import http_request
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

TOKEN = "proxy-test-viewer-token-0123456789"
DIRECT = "127.0.0.2"  # not a trusted proxy


def connections(server) -> dict[str, int]:
    return dict(runtime_of(server.app).limits.connections)


async def test_limit_and_logs_use_the_forwarded_client_from_a_trusted_proxy(start_server, caplog):
    """Through the proxy each forwarded client has its own limit of 1 and
    appears in the logs; a client's own X-Forwarded-For entry (left of the
    proxy's) is not believed."""
    caplog.set_level(logging.INFO, logger="dashboard.web.viewer")
    server = await start_server(max_connections_per_address=1, trusted_proxies=("127.0.0.1",))
    await wait_until(lambda: not connections(server), what="probe connection released")
    alice = {"X-Forwarded-For": "198.51.100.1"}
    bob = {"X-Forwarded-For": "6.6.6.6, 198.51.100.2"}  # 6.6.6.6: bob's own claim
    async with (
        websockets.connect(server.ws_url, additional_headers=alice) as first,
        websockets.connect(server.ws_url, additional_headers=bob) as second,
    ):
        assert (await recv_json(first))["type"] == (await recv_json(second))["type"] == "hello"
        assert connections(server) == {"198.51.100.1": 1, "198.51.100.2": 1}
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(server.ws_url, additional_headers=alice):
                pass
        assert refused.value.response.status_code == 429
        assert "event=viewer_connected client=198.51.100.1:" in caplog.text
        assert "event=viewer_connected client=198.51.100.2:" in caplog.text
        assert "6.6.6.6" not in caplog.text


async def test_forwarded_headers_from_anyone_else_are_ignored(start_server, caplog):
    """From a peer that is not a trusted proxy the headers change nothing:
    two sockets claiming different clients share the peer's limit of 1."""
    caplog.set_level(logging.INFO, logger="dashboard.web.viewer")
    server = await start_server(max_connections_per_address=1, trusted_proxies=("127.0.0.1",))
    await wait_until(lambda: not connections(server), what="probe connection released")
    source = {"local_addr": (DIRECT, 0)}
    claim = {"X-Forwarded-For": "198.51.100.1"}
    async with websockets.connect(server.ws_url, additional_headers=claim, **source) as ws:
        assert (await recv_json(ws))["type"] == "hello"
        assert connections(server) == {DIRECT: 1}
        other = {"X-Forwarded-For": "198.51.100.2"}
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(server.ws_url, additional_headers=other, **source):
                pass
        assert refused.value.response.status_code == 429
    assert f"event=viewer_connected client={DIRECT}:" in caplog.text
    assert "198.51.100" not in caplog.text


async def login(server, headers: dict[str, str], source: str | None = None):
    body = f"token={TOKEN}".encode()
    form = {"Content-Type": "application/x-www-form-urlencoded", **headers}
    return await http_request(server.url + "/login", "POST", headers=form, body=body, source=source)


async def test_secure_cookie_follows_forwarded_proto_from_a_trusted_proxy_only(start_server):
    """A proxy terminating TLS says https: the session cookie is Secure, and
    the page's https Origin is its own (the login is not refused as
    cross-site). The same headers from a direct client change nothing."""
    server = await start_server(viewer_token=TOKEN, trusted_proxies=("127.0.0.1",))
    host = server.url.removeprefix("http://")
    https = {"X-Forwarded-Proto": "https", "Origin": f"https://{host}"}
    proxied = await login(server, https)
    assert proxied.status == 303, proxied.body
    cookie = proxied.headers["set-cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie
    direct = await login(server, https, source=DIRECT)
    assert direct.status == 403  # https://... is not its origin: it came over http
    plain = await login(server, {"X-Forwarded-Proto": "https"}, source=DIRECT)
    assert plain.status == 303
    assert "Secure" not in plain.headers["set-cookie"]
    over_http = await login(server, {"X-Forwarded-Proto": "http"})
    assert over_http.status == 303 and "Secure" not in over_http.headers["set-cookie"]


async def test_websocket_origin_check_uses_the_forwarded_scheme(start_server):
    """Behind a TLS-terminating proxy the browser's Origin is https://host;
    the handshake arrives as ws. With the proxy trusted it is the page's own
    origin; from a direct client the same handshake is cross-site (403)."""
    server = await start_server(trusted_proxies=("127.0.0.1",))
    host = server.url.removeprefix("http://")
    headers = {"X-Forwarded-Proto": "https"}
    origin = f"https://{host}"
    async with websockets.connect(server.ws_url, origin=origin, additional_headers=headers) as ws:
        assert (await recv_json(ws))["type"] == "hello"
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(
            server.ws_url, origin=origin, additional_headers=headers, local_addr=(DIRECT, 0)
        ):
            pass
    assert refused.value.response.status_code == 403
    assert "may not open this WebSocket" in json.loads(refused.value.response.body)["error"]
