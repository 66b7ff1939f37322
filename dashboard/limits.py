"""Per-client limits as pure code: token buckets, connections per address, counts.

Nothing here does I/O: the viewer, ingest and server layers ask these objects
whether a client may go on and close it when not (or, for ingest, wait:
``TokenBucket.take``). Every refusal is counted in
``Limits.violations`` (reason -> count), for metrics to read.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dashboard.channel import ClientChannel
from dashboard.logs import log_event
from dashboard.protocol import TOO_MANY_NAMES, CloseCode

if TYPE_CHECKING:
    from dashboard.config import DashboardConfig

log = logging.getLogger(__name__)

#: Reasons counted in ``Limits.violations``.
MESSAGE_RATE = "message_rate"  # viewer messages too fast (close 1008)
SUBSCRIBE_RATE = "subscribe_rate"  # viewer subscribes too fast (close 1008)
SUBSCRIBE_NAMES = "subscribe_names"  # a subscribe listing too many names (error message)
MESSAGE_TOO_BIG = "message_too_big"  # a message over the size limit (close 1009)
CONNECTIONS_PER_ADDRESS = "connections_per_address"  # handshake refused (HTTP 429)
LOGIN_ATTEMPTS = "login_attempts"  # viewer token tried after too many failures (HTTP 429)

#: Close code and reasons for a rate violation.
TOO_MANY_MESSAGES = "too many messages"
TOO_MANY_SUBSCRIBES = "too many subscribe messages"


class TokenBucket:
    """``rate`` tokens per second, holding at most ``burst`` (it starts full).

    Each ``allow()`` takes one token if there is one. Refilled lazily from the
    clock on each call: no task, no timer, a few float operations.
    """

    def __init__(
        self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if not rate > 0 or not burst >= 1:
            raise ValueError(f"a token bucket needs rate > 0 and burst >= 1, not {rate}, {burst}")
        self.rate = rate
        self.capacity = float(burst)
        self.tokens = self.capacity
        self._clock = clock
        self.stamp = clock()  # when the tokens were last counted

    def available(self) -> float:
        """The tokens there now, refilled from the clock; none is taken."""
        now = self._clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        return self.tokens

    def allow(self) -> bool:
        if self.available() >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def wait(self) -> float:
        """Seconds until ``allow()`` would take a token (0: one is there now)."""
        return max(0.0, (1.0 - self.available()) / self.rate)

    async def take(self, stop: asyncio.Event) -> bool:
        """Wait for a token and take it; False (none taken) once *stop* is set.
        The caller reads nothing from its client meanwhile: one over its rate
        is slowed by TCP back-pressure instead of being refused."""
        while not self.allow():
            try:
                async with asyncio.timeout(self.wait()):
                    await stop.wait()
                return False
            except TimeoutError:
                pass
        return True


@dataclass(frozen=True)
class Rate:
    """A rate limit: ``per_s`` sustained, bursts up to ``burst``; ``per_s`` 0 is no limit."""

    per_s: float
    burst: float

    def __post_init__(self) -> None:
        if self.per_s < 0 or (self.per_s > 0 and self.burst < 1):
            raise ValueError(f"a rate needs per_s >= 0 and burst >= 1, not {self}")

    def bucket(self, clock: Callable[[], float] = time.monotonic) -> TokenBucket | None:
        """A fresh bucket for one connection (None: unlimited)."""
        return TokenBucket(self.per_s, self.burst, clock) if self.per_s else None


UNLIMITED = Rate(0.0, 0.0)


class ViewerQuota:
    """One viewer connection's message and subscribe buckets."""

    def __init__(self, messages: Rate, subscribes: Rate) -> None:
        self._messages = messages.bucket()
        self._subscribes = subscribes.bucket()

    def allow_message(self) -> bool:
        return self._messages is None or self._messages.allow()

    def allow_subscribe(self) -> bool:
        return self._subscribes is None or self._subscribes.allow()


class Limits:
    """The server's per-client limits, the open connections per address, and
    the count of refusals by reason."""

    def __init__(
        self,
        *,
        viewer_messages: Rate = UNLIMITED,
        viewer_subscribes: Rate = UNLIMITED,
        ingest_messages: Rate = UNLIMITED,
        max_subscribe_names: int = 1024,
        max_connections_per_address: int = 0,
    ) -> None:
        if max_subscribe_names < 1 or max_connections_per_address < 0:
            raise ValueError("max_subscribe_names must be >= 1, max_connections_per_address >= 0")
        self.viewer_messages = viewer_messages
        self.viewer_subscribes = viewer_subscribes
        self.ingest_messages = ingest_messages
        self.max_subscribe_names = max_subscribe_names
        self.max_connections_per_address = max_connections_per_address
        self.violations: Counter[str] = Counter()
        self.connections: Counter[str] = Counter()  # open WebSockets by client address
        self._quotas: dict[ClientChannel, ViewerQuota] = {}

    # --- viewers' messages (the hub asks) ------------------------------------

    def watch(self, client: ClientChannel) -> None:
        """Give a new viewer its own buckets."""
        self._quotas[client] = ViewerQuota(self.viewer_messages, self.viewer_subscribes)

    def forget(self, client: ClientChannel) -> None:
        self._quotas.pop(client, None)

    def allow_message(self, client: ClientChannel) -> bool:
        """Whether the hub may handle one more message from *client*; if not,
        the client is closed (1008) or is no viewer being watched."""
        quota = self._quotas.get(client)
        if quota is None:
            return False  # gone
        if quota.allow_message():
            return True
        self._refuse(client, MESSAGE_RATE, TOO_MANY_MESSAGES)
        return False

    def allow_subscribe(self, client: ClientChannel) -> bool:
        """Whether *client* may subscribe (again) now; if not, it is closed (1008)."""
        quota = self._quotas.get(client)
        if quota is None or quota.allow_subscribe():
            return quota is not None
        self._refuse(client, SUBSCRIBE_RATE, TOO_MANY_SUBSCRIBES)
        return False

    def note_error(self, client: ClientChannel, code: str) -> None:
        """Count a refused message that is a limit's doing (the client goes on)."""
        if code == TOO_MANY_NAMES:
            self.count(SUBSCRIBE_NAMES, client.address)

    def _refuse(self, client: ClientChannel, violation: str, reason: str) -> None:
        self.count(violation, client.address)
        # Dropping what is queued gets the close out now, even to a client
        # that floods without reading; it resumes when it reconnects.
        client.close(CloseCode.POLICY, reason, discard=True)

    # --- counts ----------------------------------------------------------------

    def count(self, reason: str, address: str) -> None:
        """Record one refusal (and log it: who, and why)."""
        self.violations[reason] += 1
        log_event(log, logging.INFO, "limit_exceeded", client=address, limit=reason)

    def open_connection(self, address: str) -> bool:
        """Count a WebSocket from *address*; False (and counted as a violation)
        when the address already holds the maximum."""
        limit = self.max_connections_per_address
        if limit and self.connections[address] >= limit:
            self.count(CONNECTIONS_PER_ADDRESS, address)
            return False
        self.connections[address] += 1
        return True

    def close_connection(self, address: str) -> None:
        self.connections[address] -= 1
        if self.connections[address] <= 0:
            del self.connections[address]  # the table holds only live addresses

    def too_many_connections(self) -> str:
        limit = self.max_connections_per_address
        return f"too many connections from this address (at most {limit})"


#: A sustained message rate may be exceeded by this many seconds' worth at once.
BURST_SECONDS = 5.0


def limits_from_config(config: DashboardConfig) -> Limits:
    viewer_rate, ingest_rate = config.viewer_max_messages_per_s, config.ingest_max_messages_per_s
    return Limits(
        viewer_messages=Rate(viewer_rate, max(1.0, viewer_rate * BURST_SECONDS)),
        viewer_subscribes=Rate(config.viewer_max_subscribes_per_s, config.viewer_subscribe_burst),
        ingest_messages=Rate(ingest_rate, max(1.0, ingest_rate * BURST_SECONDS)),
        max_subscribe_names=config.viewer_max_subscribe_names,
        max_connections_per_address=config.max_connections_per_address,
    )
