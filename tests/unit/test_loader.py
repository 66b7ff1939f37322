"""feeds/loader.py: what `python -m dashboard feeds` lists as a feed's parameters."""

from __future__ import annotations

import asyncio

from feeds import KeptPoint, feed
from feeds.loader import parameters


@feed("level", series=["level"])
async def level(start: float = 1.0, last: KeptPoint | None = None):
    value = last.values["level"] if last is not None else start
    while True:
        yield {"level": value}
        await asyncio.sleep(1)


def test_listing_shows_settings_not_the_last_point_the_dashboard_passes():
    assert parameters(level) == ["start: float = 1.0"]


def test_listing_writes_defaults_as_on_the_command_line():
    def shaped(symbols: tuple[str, ...] = ("A", "B"), loop: bool = False, name: str | None = None):
        raise AssertionError("only its signature is read")

    assert parameters(shaped) == [
        "symbols: tuple[str, ...] = A,B",
        "loop: bool = false",
        "name: str | None = none",
    ]
