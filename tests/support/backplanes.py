"""A backplane that can be "unreachable": the in-memory one, with a switch.

``SwitchableBackplane`` numbers points as ``MemoryBackplane`` does while up;
``go_down()`` makes ``up`` false, calls ``on_state`` (as a shared backplane
does when it loses its server), and from then on ``publish``,
``publish_many`` and ``announce`` raise ``BackplaneDown`` and write nothing,
until ``go_up()``. ``fail_next_publish`` refuses one publish after an
announce went through: the worst moment for a request creating a feed.
``gate``, when set to an Event, holds every ``publish_many`` until it is set
(a slow network), so a test can act while a batch is under way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from dashboard.backplane import BackplaneDown, MemoryBackplane, Pending, Position
from feeds.base import FeedInfo

#: What a down backplane tells publishers to wait, in seconds.
RETRY_AFTER = 2.5


class SwitchableBackplane(MemoryBackplane):
    def __init__(self) -> None:
        super().__init__()
        self._up = True
        self.fail_next_publish = False
        self.announced: list[FeedInfo] = []
        self.gate: asyncio.Event | None = None

    @property
    def up(self) -> bool:
        return self._up

    def go_down(self) -> None:
        self._set(False)

    def go_up(self) -> None:
        self._set(True)

    def _set(self, up: bool) -> None:
        if up != self._up:
            self._up = up
            self.on_state(up)

    def _refuse(self) -> None:
        if not self._up or self.fail_next_publish:
            self.fail_next_publish = False
            raise BackplaneDown("backplane at 127.0.0.1:1 is unreachable", RETRY_AFTER)

    async def publish(
        self, feed: str, values: Mapping[str, Any], ts: int | None = None, gap: bool = False
    ) -> Position:
        self._refuse()
        return await super().publish(feed, values, ts, gap)

    async def publish_many(
        self, feed: str, points: Sequence[Pending], gap: bool = False
    ) -> list[Position]:
        if self.gate is not None:
            await self.gate.wait()
        self._refuse()  # all or nothing: refused before the first is numbered
        positions = []
        for values, ts in points:
            positions.append(await super().publish(feed, values, ts, gap))
            gap = False
        return positions

    async def announce(self, info: FeedInfo) -> None:
        if not self._up:
            raise BackplaneDown("backplane at 127.0.0.1:1 is unreachable", RETRY_AFTER)
        self.announced.append(info)
