"""Fixtures for every test: a real Hypercorn server, a real redis-server, a
real nginx (helpers in tests/support/)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from tests.support.heavy import GROUP as HEAVY_GROUP
from tests.support.heavy import is_heavy
from tests.support.nginx import Nginx, need_nginx
from tests.support.redis_server import RedisServer, need_redis
from tests.support.servers import LiveServer, StartServer, server_factory


@pytest.fixture
async def start_server() -> AsyncIterator[StartServer]:
    """Factory: ``await start_server(extra_sources=list, **config_overrides)``."""
    async with server_factory() as start:
        yield start


@pytest.fixture
async def server(start_server: StartServer) -> LiveServer:
    return await start_server()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own (appendonly, fsync always); skips
    where none is installed, fails under REQUIRE_REDIS=1."""
    need_redis()
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def start_nginx(tmp_path: Path) -> Iterator[Callable[[str], Nginx]]:
    """Factory: ``start_nginx(site)`` runs nginx with the http-level blocks
    *site* in a folder of this test's own; every one started is stopped by PID
    after the test. Skips where nginx is missing, fails under REQUIRE_NGINX=1."""
    need_nginx()
    started: list[Nginx] = []

    def start(site: str) -> Nginx:
        nginx = Nginx(tmp_path / f"nginx{len(started)}", site)
        started.append(nginx)
        nginx.start()
        return nginx

    try:
        yield start
    finally:
        for nginx in started:
            nginx.stop()


def pytest_itemcollected(item: pytest.Item) -> None:
    """The heavy tests (tests/support/heavy.py) run one after another on one
    worker: marked as they are collected, before pytest-xdist reads the groups
    (its pytest_collection_modifyitems may run before any conftest's)."""
    if is_heavy(item):
        item.add_marker(HEAVY_GROUP)
