"""Fixtures for every test: a real Hypercorn server (helpers in tests/support/)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.servers import LiveServer, StartServer, server_factory


@pytest.fixture
async def start_server() -> AsyncIterator[StartServer]:
    """Factory: ``await start_server(extra_sources=list, **config_overrides)``."""
    async with server_factory() as start:
        yield start


@pytest.fixture
async def server(start_server: StartServer) -> LiveServer:
    return await start_server()
