"""Run feed sources as owned tasks, publishing what they yield into the hub."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from dashboard.backplane import now_ms
from dashboard.hub import Hub
from feeds.base import FeedSource

log = logging.getLogger(__name__)


@dataclass
class ProducerStatus:
    state: str = "idle"  # idle, running, stopped, failed
    error: str = ""
    published: int = 0


class Producers:
    """One task per feed source. A source that raises is logged and marked
    failed; the hub and the other sources go on."""

    def __init__(self, hub: Hub, sources: Iterable[FeedSource]) -> None:
        self.hub = hub
        self.sources = list(sources)
        self.status: dict[str, ProducerStatus] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        for source in self.sources:
            hub.add_feed(source.info)
            self.status[source.info.name] = ProducerStatus()

    def start(self) -> None:
        for source in self.sources:
            name = source.info.name
            self._tasks[name] = asyncio.create_task(self._run(source), name=f"feed-{name}")

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    async def _run(self, source: FeedSource) -> None:
        name = source.info.name
        status = self.status[name]
        status.state = "running"
        try:
            async for values in source.stream():
                # Stamp at the moment the source yields: that is the
                # producer timestamp clients measure latency from.
                await self.hub.publish(name, values, now_ms())
                status.published += 1
            status.state = "stopped"
        except asyncio.CancelledError:
            status.state = "stopped"
            raise
        except Exception as exc:
            status.state, status.error = "failed", f"{type(exc).__name__}: {exc}"
            log.exception("feed %s failed", name)
