"""The host metrics feed: CPU, memory, network and disk rates from psutil."""

from __future__ import annotations

import asyncio
import socket
import threading
from contextlib import aclosing

import psutil
import pytest

from feeds import hostmetrics
from feeds.base import FeedSource
from feeds.hostmetrics import HostMetrics

PERCENTS = ("cpu_percent", "memory_percent")
RATES = ("net_sent_bps", "net_recv_bps", "disk_read_bps", "disk_write_bps")


async def first_point(feed: HostMetrics) -> dict[str, float]:
    async with asyncio.timeout(5), aclosing(feed.stream()) as stream:
        return dict(await anext(stream))


def loopback_traffic(total: int = 4 * 2**20) -> int:
    """Send *total* bytes through a TCP connection over 127.0.0.1; return bytes received."""
    received = 0

    with socket.create_server(("127.0.0.1", 0)) as server:
        sender = socket.create_connection(server.getsockname(), timeout=5)
        receiver, _ = server.accept()

        def send() -> None:
            with sender:
                sender.sendall(b"x" * total)

        thread = threading.Thread(target=send)
        thread.start()
        with receiver:
            receiver.settimeout(5)
            while chunk := receiver.recv(1 << 16):
                received += len(chunk)
        thread.join(5)
    return received


def test_declares_name_series_units_and_rate():
    """The feed is "host" with six series, % and B/s units, and rate 1/interval."""
    feed = HostMetrics(interval=0.5)
    assert isinstance(feed, FeedSource)
    info = feed.info
    assert (info.name, info.rate) == ("host", 2.0)
    units = {s.name: s.unit for s in info.series}
    assert units == {**dict.fromkeys(PERCENTS, "%"), **dict.fromkeys(RATES, "B/s")}


async def test_real_sample_has_every_series_in_range():
    """A sample from this machine has every series it has counters for, in plausible ranges."""
    feed = HostMetrics(interval=0.05)
    await feed.setup()
    try:
        values = await first_point(feed)
    finally:
        await feed.teardown()
    expected = set(PERCENTS) | {"net_sent_bps", "net_recv_bps"}
    if psutil.disk_io_counters() is not None:
        expected |= {"disk_read_bps", "disk_write_bps"}
    assert set(values) == expected
    for name in PERCENTS:
        assert 0 <= values[name] <= 100, (name, values[name])
    for name in expected - set(PERCENTS):
        assert values[name] >= 0, (name, values[name])


async def test_loopback_traffic_shows_in_network_rates():
    """A few MB sent over 127.0.0.1 between two samples make both network rates > 0."""
    feed = HostMetrics(interval=0.05)
    await feed.setup()
    try:
        assert loopback_traffic() == 4 * 2**20
        values = await first_point(feed)
    finally:
        await feed.teardown()
    assert values["net_sent_bps"] > 0 and values["net_recv_bps"] > 0
    # At least the 4 MB over the time since set-up (well under a minute).
    assert values["net_recv_bps"] >= 4 * 2**20 / 60


async def test_points_come_every_interval():
    """Points keep coming, one per interval, each with the CPU and memory series."""
    feed = HostMetrics(interval=0.02)
    loop = asyncio.get_running_loop()
    start = loop.time()
    points = []
    async with asyncio.timeout(5), aclosing(feed.stream()) as stream:
        async for values in stream:
            points.append(values)
            if len(points) == 5:
                break
    assert loop.time() - start >= 5 * 0.02 * 0.9
    assert all(set(PERCENTS) <= set(p) for p in points)


def test_unavailable_counters_are_left_out(monkeypatch):
    """Where psutil has no disk (or network) counters, those series are omitted, not an error."""
    monkeypatch.setattr(hostmetrics.psutil, "disk_io_counters", lambda: None)

    def broken():
        raise RuntimeError("no /proc/net/dev")

    monkeypatch.setattr(hostmetrics.psutil, "net_io_counters", broken)
    feed = HostMetrics()
    feed.prime()
    assert set(feed.sample()) == set(PERCENTS)


@pytest.mark.parametrize("interval", [0, -1, float("nan"), float("inf")])
def test_interval_must_be_positive(interval):
    """interval must be a finite number > 0."""
    with pytest.raises(ValueError, match="interval"):
        HostMetrics(interval=interval)
