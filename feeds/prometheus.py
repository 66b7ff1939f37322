"""Prometheus as a source: scrape an exposition endpoint and plot chosen metrics."""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

from feeds.api import Feed
from feeds.base import FeedInfo, Series, Skipped, Yielded, check_name
from feeds.prometheus_samples import Rates, Reading, Selection, select, series_name, short_hash

#: The series every prometheus feed has from the start: how long each scrape
#: took (fetch and parse), shown in the table, not drawn.
SCRAPE_SERIES = "scrape_duration_seconds"
#: What the feed asks for: the text format; OpenMetrics is read too when a
#: target sends it anyway (by its Content-Type).
ACCEPT = "text/plain;version=0.0.4;q=1,application/openmetrics-text;q=0.5,*/*;q=0.1"
_CHUNK = 64 * 1024
T = TypeVar("T")


class ScrapeError(Exception):
    """A scrape that gave nothing to plot: unreachable, an HTTP error, a body
    too big or not an exposition. The feed is restarted (with backoff) and
    its status shows this message meanwhile."""


def fetch(url: str, timeout: float, max_bytes: int) -> tuple[str, str]:
    """GET *url*: the body as text and its Content-Type, read in at most
    *timeout* seconds and *max_bytes* bytes; ScrapeError otherwise."""
    request = urllib.request.Request(url, headers={"Accept": ACCEPT, "User-Agent": "livefeed"})
    deadline = time.monotonic() + timeout
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            chunks: list[bytes] = []
            size = 0
            while chunk := response.read(_CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise ScrapeError(f"GET {url}: the body is over max_bytes={max_bytes}")
                if time.monotonic() > deadline:
                    raise ScrapeError(f"GET {url}: not read within timeout={timeout:g} s")
                chunks.append(chunk)
            content_type = response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        exc.close()  # it holds the response's socket
        raise ScrapeError(f"GET {url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise ScrapeError(f"GET {url}: {exc.reason}") from None
    except (OSError, ValueError) as exc:  # a reset, a timeout while reading, a bad status line
        raise ScrapeError(f"GET {url}: {exc or type(exc).__name__}") from None
    charset = "utf-8"
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            charset = value.strip('"')
    return b"".join(chunks).decode(charset, errors="replace"), content_type


def read(
    url: str, timeout: float, max_bytes: int, selection: Selection
) -> tuple[list[Reading], float]:
    """One scrape, fetch and parse (in a thread: both block): the selected
    samples and the seconds it took."""
    started = time.monotonic()
    body, content_type = fetch(url, timeout, max_bytes)
    try:
        readings = select(body, content_type, selection)
    except Exception as exc:  # the parsers raise ValueError, and others for some bodies
        what = "OpenMetrics" if "openmetrics" in content_type else "Prometheus text"
        raise ScrapeError(f"GET {url}: not a {what} exposition: {exc}") from None
    return readings, time.monotonic() - started


async def in_thread(function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` in a daemon thread of its own: a scrape still
    waiting on a slow target when the server stops holds up neither the stop
    nor the process's exit, as one in the loop's executor would."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if future.done():  # the feed was cancelled meanwhile
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def run() -> None:
        try:
            result, error = function(*args), None
        except Exception as exc:
            result, error = None, exc
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=run, name="prometheus-scrape", daemon=True).start()
    return await future


class Prometheus(Feed):
    """Metrics scraped from a Prometheus exposition endpoint, counters as rates.

    Example, the dashboard's own frames and viewers every 5 seconds::

        python -m dashboard --feed prometheus url=http://127.0.0.1:8000/metrics \\
            metrics=livefeed_frames_sent_total,livefeed_viewers interval=5

    - ``url``: the endpoint (http or https), read with a GET every
      ``interval`` seconds (default 15, Prometheus' own), each scrape within
      ``timeout`` seconds (default the smaller of 10 and ``interval``).
    - ``metrics``: comma-separated regular expressions, each matching a whole
      metric name (a plain name matches itself): ``up,process_.*``. A name
      matches the sample's own (``http_requests_total``) or its family's
      (``http_requests``, a histogram ``http_request_seconds``).
    - ``labels``: comma-separated PromQL label matchers, all of which a
      sample's labels must meet: ``method=GET,code=~2..,path!~/debug.*``.
    - One series per metric and label set, named ``metric.label-value...``
      (labels sorted; characters other than letters, digits and ``_.-`` as
      ``_``; cut to 64 characters with a hash). Counters, and a histogram's
      or summary's ``_count`` and ``_sum``, are per-second rates between two
      scrapes (the first gives none; a counter that went down was reset and
      counts from 0, as Prometheus' ``rate()`` has it); gauges and untyped
      samples are values. Buckets, quantiles, ``_created``, info and state
      sets are left out. Units come from the OpenMetrics ``UNIT`` or the name's
      last unit word (``_seconds`` -> s, ``_bytes`` -> B), ``/s`` for a rate.
    - At most ``max_series`` series (default 100): more are left out, each
      counted once as skipped. A body over ``max_bytes`` (default 10 MB) fails
      the scrape. A failed scrape restarts the feed with the dashboard's backoff.
    - ``name``: the feed's name (default ``prometheus``), to scrape two targets.
    """

    title = "Prometheus"

    def __init__(
        self,
        url: str,
        metrics: list[str],
        labels: list[str] | None = None,
        interval: float = 15.0,
        timeout: float | None = None,
        max_series: int = 100,
        max_bytes: int = 10_000_000,
        name: str = "prometheus",
    ) -> None:
        self.url = _check_url(url)
        self.selection = Selection.parse(_items(metrics), _items(labels or []))
        self.interval = _seconds("interval", interval)
        self.timeout = min(10.0, self.interval) if timeout is None else _seconds("timeout", timeout)
        for label, value in (("max_series", max_series), ("max_bytes", max_bytes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{label} must be a whole number >= 1, not {value!r}")
        self.max_series = max_series
        self.max_bytes = max_bytes
        self.name = check_name(name, "feed")
        self.rate = 1.0 / self.interval
        self.description = f"scraped from {self.url} every {self.interval:g} s"
        self._rates = Rates()
        self._series: dict[str, Series] = {}  # sample key -> its series
        self._left_out: set[str] = set()  # sample keys over max_series
        self._info: FeedInfo | None = None

    @property
    def info(self) -> FeedInfo:
        """The feed's series so far: ``scrape_duration_seconds`` and each
        selected sample found by a scrape (the dashboard declares new ones
        to the page as they come)."""
        if self._info is None:
            scrape = Series(SCRAPE_SERIES, unit="s", plot=False, decimals=3)
            self._info = FeedInfo(
                self.name,
                (scrape, *self._series.values()),
                title=f"{self.title}: {self.url}",
                rate=self.rate,
                description=self.description,
            )
        return self._info

    async def setup(self) -> None:
        self._rates.forget()  # after a failed scrape, no rate across the outage

    async def stream(self) -> AsyncIterator[Yielded]:
        """A scrape every ``interval`` seconds on the loop clock's grid, the
        first at once (it gives the gauges; the counters' rates start with
        the second). After a stall the grid restarts from now."""
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            for item in await self.scrape(loop.time()):
                yield item
            next_at += self.interval
            delay = next_at - loop.time()
            if delay < -self.interval:
                next_at, delay = loop.time(), 0.0
            await asyncio.sleep(max(delay, 0.0))

    async def scrape(self, at: float) -> list[Yielded]:
        """One scrape: what to yield (skipped series, then the point)."""
        readings, took = await in_thread(
            read, self.url, self.timeout, self.max_bytes, self.selection
        )
        return self.point(readings, took, at)

    def point(self, readings: Sequence[Reading], took: float, at: float) -> list[Yielded]:
        """*readings* scraped at *at* (seconds, monotonic) as a point, rates
        computed, preceded by a ``Skipped`` for each series newly over the cap."""
        out: list[Yielded] = []
        values: dict[str, float] = {SCRAPE_SERIES: took}
        for reading in readings:
            series = self._series.get(reading.key) or self._declare(reading, out)
            if series is None:
                continue
            if reading.rate:
                rate = self._rates.rate(reading.key, reading.value, at)
                if rate is not None:
                    values[series.name] = rate
            else:
                values[series.name] = reading.value
        out.append(values)
        return out

    def _declare(self, reading: Reading, out: list[Yielded]) -> Series | None:
        if len(self._series) >= self.max_series:
            if reading.key not in self._left_out:
                self._left_out.add(reading.key)
                out.append(Skipped(f"{reading.key} left out: max_series={self.max_series}"))
            return None
        name = series_name(reading.metric, reading.labels, reading.key)
        if name == SCRAPE_SERIES or any(s.name == name for s in self._series.values()):
            name = f"{name[:57]}-{short_hash(reading.key)}"
        # Rates never go below 0 (resets count from 0): their axis starts there.
        series = Series(name, unit=reading.unit, y_min=0 if reading.rate else None)
        self._series[reading.key] = series
        self._info = None
        return series


def _items(value: Sequence[str] | str) -> list[str]:
    """A list setting given as a list, or as one comma-separated string (TOML)."""
    if isinstance(value, str):
        return [item for item in value.split(",") if item.strip()]
    return list(value)


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"url must be an http:// or https:// address, not {url!r}")
    return url


def _seconds(label: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{label} must be a number of seconds, not {value!r}")
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{label} must be a finite number of seconds > 0, not {value}")
    return float(value)
