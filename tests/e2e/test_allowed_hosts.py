"""--allowed-host: a request or handshake whose Host is not listed is refused
with 400 and a one-line JSON error, before anything else (DNS rebinding)."""

import asyncio
import json
import logging

import pytest
import websockets

from tests.support.clients import recv_json
from tests.support.servers import HttpResponse

pytestmark = pytest.mark.e2e


async def get(port: int, path: str, host: str | None) -> HttpResponse:
    """GET *path* from 127.0.0.1:*port* with this Host header (None: none at all)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = [f"GET {path} HTTP/1.1", "Connection: close"]
    head += [f"Host: {host}"] if host is not None else []
    writer.write("\r\n".join(head).encode() + b"\r\n\r\n")
    async with asyncio.timeout(10):
        response = await reader.read()
    writer.close()
    head_bytes, _, body = response.partition(b"\r\n\r\n")
    status, *lines = head_bytes.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines)}
    return HttpResponse(int(status.split()[1]), headers, body)


@pytest.fixture
async def server(start_server):
    # 127.0.0.1 (any port) is listed: the server's own start-up probe uses it.
    return await start_server(allowed_hosts=("127.0.0.1", "dash.example.com:8443"))


@pytest.mark.parametrize("path", ["/", "/healthz", "/api/feeds", "/no-such-page", "/login"])
async def test_unlisted_host_gets_400_before_anything_else(server, path, caplog):
    """Every path, the unknown one too (no 404), answers 400 to a wrong Host."""
    caplog.set_level(logging.INFO, logger="dashboard.web.front")
    response = await get(server.port, path, "rebind.attacker.test")
    assert response.status == 400
    assert response.headers["content-type"] == "application/json"
    assert b"\n" not in response.body
    assert json.loads(response.body) == {
        "error": "host 'rebind.attacker.test' is not served here (see --allowed-host)"
    }
    assert "event=host_refused client=127.0.0.1:" in caplog.text


async def test_listed_hosts_are_served(server):
    port = server.port
    assert (await get(port, "/healthz", f"127.0.0.1:{port}")).status == 200
    assert (await get(port, "/healthz", "DASH.example.com:8443")).status == 200
    assert (await get(port, "/healthz", "dash.example.com:8000")).status == 400
    assert (await get(port, "/healthz", f"localhost:{port}")).status == 400


async def test_websocket_handshake_with_unlisted_host_is_refused(server):
    """localhost is not listed: the handshake gets the 400 and no WebSocket."""
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(f"ws://localhost:{server.port}/ws"):
            pass
    assert refused.value.response.status_code == 400
    assert json.loads(refused.value.response.body)["error"].startswith("host 'localhost:")
    async with websockets.connect(server.ws_url) as ws:
        assert (await recv_json(ws))["type"] == "hello"


async def test_no_list_serves_any_host(start_server):
    server = await start_server()
    assert (await get(server.port, "/healthz", "anything.test")).status == 200
