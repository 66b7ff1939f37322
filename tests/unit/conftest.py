"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from dashboard.backplane import MemoryBackplane
from dashboard.hub import Hub
from dashboard.hub_runner import HubRunner
from dashboard.hub_settings import HubSettings


@pytest.fixture
async def runner() -> AsyncIterator[HubRunner]:
    """A started runner of a hub on the in-memory backplane, flushing every 10 ms."""
    runner = HubRunner(Hub(MemoryBackplane(), HubSettings(flush_interval=0.01)))
    await runner.start()
    yield runner
    await runner.stop()


@pytest.fixture
def hub(runner: HubRunner) -> Hub:
    """The started hub ``runner`` drives."""
    return runner.hub
