"""Feeds made for tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from feeds.base import FeedInfo, Series


class SilentFeed:
    """A feed that is declared but never yields: its panel must cope with no data."""

    info = FeedInfo("QUIET", series=(Series("level", unit="dB"),))

    async def stream(self) -> AsyncIterator[dict[str, Any]]:
        await asyncio.Event().wait()
        yield {}  # pragma: no cover - never reached
