"""Hubs driven step by step, with no server and no timer: points in, frames out."""

from __future__ import annotations

import json
from typing import Any

from dashboard.backplane import MemoryBackplane
from dashboard.hub import Hub
from dashboard.hub_settings import HubSettings
from dashboard.protocol import Point
from feeds.base import FeedInfo, Series

FEEDS = ("A", "B")
BULK = 10_000  # points per ingest request, as in the soak that found the fault


class Clock:
    """A monotonic clock the test moves by hand (``clock.now += 2``)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make_hub(**kwargs: Any) -> Hub:
    """A hub of feeds A and B (price, volume) that flushes only when told."""
    hub = Hub(MemoryBackplane(), HubSettings(flush_interval=3600, **kwargs))
    for name in FEEDS:
        hub.add_feed(FeedInfo(name, series=(Series("price"), Series("volume", plot=False))))
    return hub


def feed_points(hub: Hub, feed: str, seqs: range) -> None:
    for seq in seqs:
        hub.take(Point(feed, seq, 1000 + seq, {"price": float(seq), "volume": seq}))


def bulk_hub(clock: Clock, **kwargs: Any) -> Hub:
    """A hub of feeds A and B (one series v) on *clock*, flushing only when told."""
    hub = Hub(MemoryBackplane(), HubSettings(flush_interval=3600, **kwargs), clock=clock)
    for name in FEEDS:
        hub.add_feed(FeedInfo(name, series=(Series("v"),)))
    return hub


def take_bulk(hub: Hub, feed: str, first_seq: int, count: int = BULK) -> int:
    """One ingest request's worth of points; returns the last seq."""
    for seq in range(first_seq, first_seq + count):
        hub.take(Point(feed, seq, 1000 + seq, {"v": float(seq)}))
    return first_seq + count - 1


def kinds(frames: list[str]) -> list[str]:
    """Each frame's message type, "conflated" for a conflated batch."""
    out = []
    for frame in frames:
        message = json.loads(frame)
        out.append("conflated" if message.get("conflated") else message["type"])
    return out


def points(feed: str, seqs: range) -> list[Point]:
    """Points of *feed* with a price and a volume, at 2023's timestamps."""
    return [Point(feed, s, 1_700_000_000_000 + s, {"price": s + 0.25, "volume": s}) for s in seqs]
