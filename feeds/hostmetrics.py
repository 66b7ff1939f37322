"""This machine's CPU, memory, network and disk activity, sampled with psutil."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import psutil

from feeds.api import Feed
from feeds.base import Series

#: Series fed from byte counters: (series, counter group, field of psutil's named tuple).
RATES = (
    ("net_sent_bps", "net", "bytes_sent"),
    ("net_recv_bps", "net", "bytes_recv"),
    ("disk_read_bps", "disk", "read_bytes"),
    ("disk_write_bps", "disk", "write_bytes"),
)


@dataclass(frozen=True)
class Counters:
    """Cumulative byte counters at one moment; None where the host has none."""

    at: float  # time.monotonic()
    values: dict[str, int | None]

    @classmethod
    def read(cls) -> Counters:
        groups = {"net": _read(psutil.net_io_counters), "disk": _read(psutil.disk_io_counters)}
        values = {
            series: None if groups[group] is None else getattr(groups[group], field)
            for series, group, field in RATES
        }
        return cls(time.monotonic(), values)


def _read(counters: Callable[[], Any]) -> Any:
    # psutil returns None where the host exposes no such counters (disks in
    # some containers); reading them may also fail outright on odd systems.
    try:
        return counters()
    except (OSError, RuntimeError):
        return None


class HostMetrics(Feed):
    """CPU, memory, network and disk activity of the machine the dashboard runs on.

    Example::

        from dashboard import create_app
        from feeds.hostmetrics import HostMetrics

        app = create_app(sources=[HostMetrics(interval=0.5)])  # feed "host", 2 points/s

    or from the command line::

        python -m dashboard --feed host interval=0.5

    Every ``interval`` seconds (> 0; ``rate`` is ``1 / interval``) it yields:

    - ``cpu_percent``: all CPUs busy since the previous point, 0-100 (%),
      from ``psutil.cpu_percent(interval=None)``, primed in ``setup()``;
    - ``memory_percent``: RAM in use, 0-100 (%);
    - ``net_sent_bps`` / ``net_recv_bps``: bytes per second over all network
      interfaces, loopback included (B/s);
    - ``disk_read_bps`` / ``disk_write_bps``: bytes per second over all
      disks (B/s).

    Rates are counter differences divided by the time actually elapsed
    between the two readings (monotonic clock), not by the nominal interval.
    A counter the host does not expose (psutil gives no disk counters in some
    containers) leaves its series out of the point instead of failing; so
    does a counter that went backwards (an interface or disk removed).

    The first point comes one interval after start, so that every point
    covers a full interval. The psutil calls read ``/proc`` (well under a
    millisecond together on Linux) and are made directly on the event loop
    rather than in a thread. psutil keeps the CPU baseline per thread: two
    HostMetrics feeds in one process each see the CPU since the other's last
    sample, which is still a correct, shorter, measurement.
    """

    name = "host"
    title = "This host"
    # Percentages and byte rates never share an axis (the percentages would
    # lie flat at 0 under megabytes): a panel each, and network apart from
    # disk, whose rates differ by orders of magnitude.
    series = (
        Series("cpu_percent", unit="%", panel="usage", y_min=0, y_max=100, decimals=1),
        Series("memory_percent", unit="%", panel="usage", y_min=0, y_max=100, decimals=1),
        Series("net_sent_bps", unit="B/s", panel="network", y_min=0, decimals=0),
        Series("net_recv_bps", unit="B/s", panel="network", y_min=0, decimals=0),
        Series("disk_read_bps", unit="B/s", panel="disk", y_min=0, decimals=0),
        Series("disk_write_bps", unit="B/s", panel="disk", y_min=0, decimals=0),
    )
    description = "CPU, memory, network and disk activity of this machine"

    def __init__(self, interval: float = 1.0) -> None:
        if isinstance(interval, bool) or not isinstance(interval, int | float):
            raise TypeError(f"interval must be a number of seconds, not {interval!r}")
        if not (interval > 0 and math.isfinite(interval)):
            raise ValueError(f"interval must be a finite number of seconds > 0, not {interval}")
        self.interval = float(interval)
        self.rate = 1.0 / self.interval
        self._last: Counters | None = None

    async def setup(self) -> None:
        """Take the baselines the first point is measured from."""
        self.prime()

    async def teardown(self) -> None:
        self._last = None

    def prime(self) -> None:
        """Start measuring from now (``setup`` does this; so does the first ``sample``)."""
        psutil.cpu_percent(interval=None)
        self._last = Counters.read()

    def sample(self) -> dict[str, float]:
        """One point: the CPU and counter rates since the previous sample (or ``setup``)."""
        if self._last is None:
            self.prime()
        last = self._last
        assert last is not None
        values: dict[str, float] = {
            "cpu_percent": psutil.cpu_percent(interval=None),
            "memory_percent": psutil.virtual_memory().percent,
        }
        now = Counters.read()
        elapsed = now.at - last.at
        for series, before in last.values.items():
            after = now.values[series]
            if elapsed > 0 and before is not None and after is not None and after >= before:
                values[series] = (after - before) / elapsed
        self._last = now
        return values

    async def stream(self) -> AsyncIterator[dict[str, float]]:
        """``sample()`` every ``interval`` seconds on an absolute loop-clock grid.

        After a stall the grid restarts from now instead of sampling in a burst.
        """
        if self._last is None:
            self.prime()
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            next_at += self.interval
            delay = next_at - loop.time()
            if delay < -self.interval:
                next_at = loop.time()
                delay = 0.0
            await asyncio.sleep(max(delay, 0.0))
            yield self.sample()
