"""A stop that ends within its grace period whatever the peers do.

On SIGTERM viewers are closed with 1001 and given ``shutdown_timeout``
seconds (the *grace*) to take their close frame. A peer that stopped reading
(its TCP window full) never takes it, and neither asyncio's graceful close nor
Hypercorn's graceful shutdown can end such a connection: Hypercorn would wait
``graceful_timeout`` and then cancel the connection's task, which on Python
3.11 is logged as ``Exception in callback ... CancelledError`` (asyncio.streams
calls ``task.exception()`` on the cancelled task). So every connection still
open when the grace ends is *aborted*: its transport is dropped with whatever
it had not sent, the task then ends by itself, and Hypercorn, told to wait only
for what is left of the grace plus ``SETTLE``, never has to cancel one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from hypercorn.config import Config

from dashboard.hub_runner import HubRunner
from dashboard.logs import log_event

log = logging.getLogger(__name__)

#: After the grace, how long aborted connections get to end their tasks
#: (they end at once; this only bounds Hypercorn's wait for them).
SETTLE = 1.0


@dataclass(frozen=True)
class Grace:
    """The stop's time budget on the event loop's clock: *deadline* is when
    every connection still open is aborted."""

    deadline: float

    @classmethod
    def starting(cls, now: float, timeout: float) -> Grace:
        if not timeout > 0:
            raise ValueError(f"shutdown timeout must be > 0, not {timeout}")
        return cls(now + timeout)

    def left(self, now: float) -> float:
        """Seconds until the deadline, 0 once it has passed."""
        return max(0.0, self.deadline - now)

    def server_wait(self, now: float) -> float:
        """Hypercorn's ``graceful_timeout`` when serving stops at *now*: the
        rest of the grace, then ``SETTLE`` for the aborted to finish."""
        return self.left(now) + SETTLE


class Abortable(Protocol):
    def abort(self) -> None:
        """Drop the connection's transport, unsent bytes and all."""


class Connections:
    """The open TCP connections of one server, so a stop can abort them
    (each registers itself: ``TrackedTCPServer`` in dashboard/web/framework_connection.py)."""

    def __init__(self) -> None:
        self._open: set[Abortable] = set()

    def __len__(self) -> int:
        return len(self._open)

    def add(self, connection: Abortable) -> None:
        self._open.add(connection)

    def discard(self, connection: Abortable) -> None:
        self._open.discard(connection)

    def abort_all(self) -> int:
        """Drop every open connection's transport, unsent bytes and all; how many."""
        aborted = list(self._open)
        for connection in aborted:
            connection.abort()
        return len(aborted)


def stop_trigger(
    shutdown: asyncio.Event,
    *,
    runner: HubRunner,
    closing: asyncio.Event,
    connections: Connections,
    timeout: float,
    hypercorn_config: Config,
    url: str,
) -> Callable[[], Awaitable[None]]:
    """Hypercorn's ``shutdown_trigger``: returns once *shutdown* is set and
    the viewers are gone or the grace has ended.

    Viewers are closed with 1001 first (Hypercorn alone would wait, then
    cancel them: 1011). Every connection still open at the grace's deadline
    is aborted, and Hypercorn's own wait is set to end just after it.
    """

    async def close_viewers_then_stop() -> None:
        await shutdown.wait()
        hub = runner.hub
        loop = asyncio.get_running_loop()
        grace = Grace.starting(loop.time(), timeout)
        closing.set()  # ingest sockets close with 1001 too
        log_event(log, logging.INFO, "server_stopping", url=url, viewers=len(hub.clients))
        hub.close_all()
        # Whatever is still open then (viewers, ingest, requests) is cut:
        # the timer also covers what Hypercorn waits for after we return.
        loop.call_at(grace.deadline, connections.abort_all)
        try:
            # Each handler leaves the hub once its close frame is written.
            async with asyncio.timeout_at(grace.deadline):
                await runner.wait_no_clients()
        except TimeoutError:
            viewers = len(hub.clients)
            aborted = connections.abort_all()
            log_event(log, logging.WARNING, "viewers_not_closed", viewers=viewers, aborted=aborted)
        hypercorn_config.graceful_timeout = grace.server_wait(loop.time())

    return close_viewers_then_stop
