"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from dashboard.backplane import MemoryBackplane
from dashboard.hub import Hub


@pytest.fixture
async def hub() -> AsyncIterator[Hub]:
    """A started hub on the in-memory backplane, flushing every 10 ms."""
    hub = Hub(MemoryBackplane(), flush_interval=0.01)
    await hub.start()
    yield hub
    await hub.stop()
