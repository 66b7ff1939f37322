"""The README's nginx configuration for two instances, exactly as printed
(only its ports replaced), in front of real servers: the page, WebSocket
upgrades to both instances (no stickiness), and X-Forwarded-For believed
from the trusted proxy."""

from __future__ import annotations

import re

import pytest
import websockets

from dashboard import DashboardConfig
from tests.support.clients import Message, collect, recv_json
from tests.support.nginx import readme_nginx_block, site_for
from tests.support.redis_server import free_port
from tests.support.servers import http_request

pytestmark = pytest.mark.e2e


def has_points(messages: list[Message]) -> bool:
    return any(m["type"] == "batch" and m["points"] for m in messages)


async def test_readme_nginx_config_serves_the_page_and_websockets_of_both_instances(
    start_server, start_nginx
):
    """Through the README's nginx: the page loads, a browser-like WebSocket
    (Origin of the proxy's address) is upgraded and gets live batches, and
    successive connections reach both instances (round robin, no stickiness:
    their hellos name both epochs)."""
    first = await start_server(symbols=("ACME",))
    second = await start_server(symbols=("ACME",))
    nginx = start_nginx(site_for(free_port(), first.port, second.port))

    page = await http_request(nginx.url + "/")
    assert page.status == 200 and b"<html" in page.body.lower()

    ws_url = nginx.url.replace("http://", "ws://") + "/ws"
    epochs = set()
    for _ in range(4):
        async with websockets.connect(ws_url, origin=websockets.Origin(nginx.url)) as ws:
            hello = await recv_json(ws)
            assert hello["type"] == "hello"
            epochs.add(hello["epoch"])
            assert has_points(await collect(ws, has_points, timeout=5))
    assert epochs == {first.hub.epoch, second.hub.epoch}


def test_readme_nginx_timeouts_outlast_the_servers_pings():
    """A quiet WebSocket stays open through nginx: its read and send
    timeouts are longer than the server's ping interval and read timeout."""
    block = readme_nginx_block()
    defaults = DashboardConfig()
    for directive in ("proxy_read_timeout", "proxy_send_timeout"):
        match = re.search(rf"^\s*{directive}\s+(\d+)s;", block, re.MULTILINE)
        assert match, f"{directive} missing from the README's nginx block"
        assert int(match.group(1)) > max(defaults.ws_ping_interval, defaults.read_timeout)


async def test_readme_nginx_config_passes_the_client_address_to_a_trusting_instance(
    start_server, start_nginx
):
    """Behind the README's nginx with trusted_proxies 127.0.0.1, the
    per-address limit counts the real clients (127.0.0.2, 127.0.0.3), not the
    proxy: one connection each is allowed, the second from the same client is
    refused, another client still gets in."""
    server = await start_server(
        symbols=("ACME",), max_connections_per_address=1, trusted_proxies=("127.0.0.1",)
    )
    nginx = start_nginx(site_for(free_port(), server.port, server.port))
    ws_url = nginx.url.replace("http://", "ws://") + "/ws"

    async with websockets.connect(ws_url, local_addr=("127.0.0.2", 0)) as ws:
        assert (await recv_json(ws))["type"] == "hello"
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(ws_url, local_addr=("127.0.0.2", 0)):
                pass
        assert refused.value.response.status_code == 429
        async with websockets.connect(ws_url, local_addr=("127.0.0.3", 0)) as other:
            assert (await recv_json(other))["type"] == "hello"
