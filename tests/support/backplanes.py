"""A backplane that can be "unreachable": the in-memory one, with a switch.

``SwitchableBackplane`` numbers points as ``MemoryBackplane`` does while up;
``go_down()`` makes ``up`` false, calls ``on_state`` (as a shared backplane
does when it loses its server), and from then on ``publish``,
``publish_many`` and ``announce`` raise ``BackplaneDown`` and write nothing,
until ``go_up()``. ``switchable_server`` serves an app over one on real
Hypercorn. ``fail_next_publish`` refuses one publish after an
announce went through: the worst moment for a request creating a feed.
``gate``, when set to an Event, holds every ``publish_many`` until it is set
(a slow network), so a test can act while a batch is under way.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from dashboard import create_app
from dashboard.assemble import default_sources
from dashboard.backplane import BackplaneDown, MemoryBackplane, Pending, Position
from dashboard.web.server import bind_socket, serve, url_of
from feeds.base import FeedInfo
from tests.support.servers import TEST_CONFIG, LiveServer
from tests.support.waiting import wait_until

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


@dataclass
class SwitchableServer(LiveServer):
    """The app on real Hypercorn over a :class:`SwitchableBackplane` (a fresh
    one per start); ``backplane`` is the one serving now."""

    backplane: SwitchableBackplane = field(default_factory=SwitchableBackplane)

    async def start(self) -> None:
        self.backplane = SwitchableBackplane()
        config = replace(self.config, port=self.port)
        sources = default_sources(config) + self.extra_sources()
        self.app = create_app(config, sources=sources, backplane=self.backplane)
        sock = bind_socket("127.0.0.1", self.port)
        self.url = url_of(sock)
        self.port = sock.getsockname()[1]
        self._shutdown = asyncio.Event()
        self._task = asyncio.create_task(serve(self.app, sock, self._shutdown))
        await wait_until(self._accepting, what=f"server at {self.url}")


@contextlib.asynccontextmanager
async def switchable_server(**overrides: Any) -> AsyncIterator[SwitchableServer]:
    """A started SwitchableServer on the tests' config with *overrides*; stopped on exit."""
    server = SwitchableServer(replace(TEST_CONFIG, **overrides))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
