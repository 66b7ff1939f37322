"""The plugin API: a decorated async generator, or a class with set-up and teardown.

Both declare the same metadata (name, series, units, rate) and both are
:class:`~feeds.base.FeedSource`\\ s: the dashboard runs them the same way.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, ClassVar

from feeds.base import FeedInfo, Series

SeriesSpec = Sequence["str | Series"]


def make_info(
    name: str,
    series: SeriesSpec,
    *,
    units: Mapping[str, str] | None = None,
    title: str = "",
    rate: float | None = None,
    max_rate: float | None = None,
    description: str = "",
    stall_after: float | None = None,
) -> FeedInfo:
    """A FeedInfo from the short forms: series as names, units as a mapping."""
    units = dict(units or {})
    declared = [s if isinstance(s, Series) else Series(s, unit=units.pop(s, "")) for s in series]
    if units:
        raise ValueError(f"feed {name!r}: units given for undeclared series {sorted(units)}")
    return FeedInfo(
        name=name,
        series=tuple(declared),
        title=title,
        rate=rate,
        max_rate=max_rate,
        description=description,
        stall_after=stall_after,
    )


class FunctionFeed:
    """What ``@feed`` makes of an async generator function.

    It is a feed source as it stands (``stream()`` calls the function with no
    arguments), and ``create(**params)`` binds parameters for a configured one.
    """

    def __init__(self, function: Callable[..., AsyncIterator[Mapping[str, Any]]], info: FeedInfo):
        if not inspect.isasyncgenfunction(function):
            raise TypeError(
                f"@feed({info.name!r}) needs an async generator function (async def + yield)"
            )
        self.function = function
        self.info = info
        self.params: dict[str, Any] = {}
        functools.update_wrapper(self, function)

    def create(self, **params: Any) -> FunctionFeed:
        inspect.signature(self.function).bind(**params)  # TypeError names a wrong parameter
        bound = FunctionFeed(self.function, self.info)
        bound.params = params
        return bound

    def stream(self) -> AsyncIterator[Mapping[str, Any]]:
        return self.function(**self.params)

    def __repr__(self) -> str:
        where = f"{self.function.__module__}.{self.function.__qualname__}"
        return f"<feed {self.info.name!r} from {where}>"


def feed(
    name: str,
    *,
    series: SeriesSpec,
    units: Mapping[str, str] | None = None,
    title: str = "",
    rate: float | None = None,
    max_rate: float | None = None,
    description: str = "",
    stall_after: float | None = None,
) -> Callable[[Callable[..., AsyncIterator[Mapping[str, Any]]]], FunctionFeed]:
    """Declare an async generator function as a feed.

    Example::

        import asyncio, random
        from feeds import feed

        @feed("weather", series=["temp_c", "humidity"], units={"temp_c": "°C", "humidity": "%"})
        async def weather(city: str = "Oslo"):
            while True:
                yield {"temp_c": random.gauss(4, 1), "humidity": random.uniform(60, 90)}
                await asyncio.sleep(1)

    Each yield is one point: series name -> number, stamped with the time it
    was yielded unless it carries its own ``ts`` (milliseconds since the
    epoch). ``rate`` is the nominal updates per second shown on the page;
    ``max_rate`` caps it (faster points are dropped and counted).
    ``stall_after`` (seconds) marks the feed "stalled" while it yields nothing
    for that long; by default it follows from ``rate``.
    """
    info = make_info(
        name,
        series,
        units=units,
        title=title,
        rate=rate,
        max_rate=max_rate,
        description=description,
        stall_after=stall_after,
    )

    def declare(function: Callable[..., AsyncIterator[Mapping[str, Any]]]) -> FunctionFeed:
        return FunctionFeed(function, info)

    return declare


class Feed:
    """Base class for feeds that need parameters, set-up or teardown.

    Example::

        import asyncio
        from feeds import Feed

        class Thermometer(Feed):
            name = "thermo"
            series = ["temp_c"]
            units = {"temp_c": "°C"}
            rate = 2.0

            def __init__(self, path: str = "/sys/class/thermal/thermal_zone0/temp"):
                self.path = path

            async def setup(self):  # before the first point, and after each restart
                self.file = open(self.path)

            async def stream(self):
                while True:
                    self.file.seek(0)
                    yield {"temp_c": int(self.file.read()) / 1000}
                    await asyncio.sleep(1 / self.rate)

            async def teardown(self):  # always, after stream() ends or fails
                self.file.close()

    Class attributes declare the feed; an instance may set ``self.name`` in
    ``__init__`` to run the same class twice under different names.
    """

    name: ClassVar[str] = ""
    series: ClassVar[SeriesSpec] = ()
    units: ClassVar[Mapping[str, str]] = {}
    title: ClassVar[str] = ""
    rate: ClassVar[float | None] = None
    max_rate: ClassVar[float | None] = None
    description: ClassVar[str] = ""
    stall_after: ClassVar[float | None] = None

    @functools.cached_property
    def info(self) -> FeedInfo:
        return make_info(
            self.name or type(self).__name__.lower(),
            self.series,
            units=self.units,
            title=self.title,
            rate=self.rate,
            max_rate=self.max_rate,
            description=self.description or (inspect.getdoc(type(self)) or "").split("\n")[0],
            stall_after=self.stall_after,
        )

    async def setup(self) -> None:
        """Acquire resources; called before streaming starts (and on each restart)."""

    async def teardown(self) -> None:
        """Release resources; called after streaming stops, however it stopped."""

    def stream(self) -> AsyncIterator[Mapping[str, Any]]:
        raise NotImplementedError(f"{type(self).__name__} must define async def stream()")
