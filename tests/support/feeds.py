"""Feeds made for tests."""

from __future__ import annotations

import asyncio

from feeds.base import FeedInfo, Series


class SilentFeed:
    """A feed that is declared but never yields: its panel must cope with no data."""

    info = FeedInfo("QUIET", series=(Series("level", unit="dB"),))

    async def stream(self):
        await asyncio.Event().wait()
        yield {}  # pragma: no cover - never reached
