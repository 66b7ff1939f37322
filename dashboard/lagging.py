"""Viewers that fell behind: what the hub keeps for them, and when it lets go.

Pure code, driven by the hub at each flush with the time. A viewer is
behind when its unwritten frames reach a count, an age or a size, or when
what was written has gone unread for that age (its delivery probes: see
``dashboard.channel.Backlog``, dashboard/delivery.py). A lagging viewer gets
no batches; for it the hub keeps only the latest point per feed (so at most one point per feed,
however long it lags). Once it has drained to half of every bound it is
*caught up* and gets those points as one conflated batch; one still behind
after ``timeout`` seconds is *hopeless* and is closed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from dashboard.channel import ClientChannel
from dashboard.logs import log_event
from dashboard.protocol import CloseCode, Point

log = logging.getLogger(__name__)
SLOW = "too slow: reconnect and resume"


class Lagging:
    def __init__(self, timeout: float) -> None:
        if not timeout > 0:
            raise ValueError(f"slow client timeout must be > 0, not {timeout}")
        self.timeout = timeout
        self._clients: set[ClientChannel] = set()

    def __bool__(self) -> bool:
        return bool(self._clients)

    def hold(self, client: ClientChannel, points: Iterable[Point], now: float) -> bool:
        """Keep the latest of *points* (oldest first) per feed for *client*
        instead of sending them; True when it has only now fallen behind."""
        started = client.lagging_since is None
        if started:
            client.lagging_since = now
            self._clients.add(client)
        for point in points:
            client.conflated[point.feed] = point
        return started

    def forget(self, client: ClientChannel) -> None:
        """*client* left, or was answered in full (a new subscribe)."""
        self._clients.discard(client)
        client.lagging_since = None
        client.conflated.clear()

    def due(
        self, now: float
    ) -> tuple[list[tuple[ClientChannel, list[Point]]], list[tuple[ClientChannel, float]]]:
        """(caught-up viewers with their latest points in time order,
        hopeless viewers with how long they have been behind); both leave
        the lagging set."""
        caught_up: list[tuple[ClientChannel, list[Point]]] = []
        hopeless: list[tuple[ClientChannel, float]] = []
        for client in list(self._clients):
            behind = now - (client.lagging_since or now)
            if client.closing:
                self.forget(client)
            elif client.caught_up(now):
                latest = sorted(client.conflated.values(), key=lambda p: p.ts)
                self.forget(client)
                caught_up.append((client, latest))
            elif behind > self.timeout:
                self.forget(client)
                hopeless.append((client, behind))
        return caught_up, hopeless


def worst_lag(clients: Iterable[ClientChannel], now: float) -> float:
    """Seconds of data the worst-served viewer misses (0 with none): the gauge
    that shows viewers falling behind, which the hub's own lag does not."""
    return max((client.lag(now) for client in clients if not client.closing), default=0.0)


def close_slow(client: ClientChannel, **why: Any) -> None:
    """Drop *client*'s frames and close it (1008); it resumes on reconnect."""
    fields = {"client": client.address, "code": CloseCode.POLICY, "reason": SLOW, **why}
    log_event(log, logging.WARNING, "slow_client_closed", **fields)
    client.close(CloseCode.POLICY, SLOW, discard=True)
