"""The plugin API: a decorated async generator, or a class with set-up and teardown.

Both declare the same metadata (name, series, units, rate) and both are
:class:`~feeds.base.FeedSource`\\ s: the dashboard runs them the same way.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

from feeds.base import FeedInfo, KeptPoint, Series, Yielded

SeriesSpec = Sequence["str | Series"]
FeedFunction = Callable[..., AsyncIterator[Yielded]]

#: The parameter of an ``@feed`` function that receives its last kept point.
LAST = "last"


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
    A function with a parameter named ``last`` is given the feed's last kept
    point (a :class:`~feeds.base.KeptPoint`, or None) on every start, and
    continues from it.
    """

    def __init__(self, function: FeedFunction, info: FeedInfo):
        if not inspect.isasyncgenfunction(function):
            raise TypeError(
                f"@feed({info.name!r}) needs an async generator function (async def + yield)"
            )
        self.function = function
        self.info = info
        self.params: dict[str, Any] = {}
        self.takes_last = LAST in inspect.signature(function).parameters
        self._last: KeptPoint | None = None
        # Takes the function's name and docstring; it is not itself called like it.
        functools.update_wrapper(self, function)  # type: ignore[arg-type]

    def create(self, **params: Any) -> FunctionFeed:
        if LAST in params and self.takes_last:
            raise TypeError(
                f"{LAST!r} is not a setting: the dashboard passes the feed's last kept point"
            )
        inspect.signature(self.function).bind(**params)  # TypeError names a wrong parameter
        bound = FunctionFeed(self.function, self.info)
        bound.params = params
        return bound

    def resume_from(self, last: KeptPoint) -> bool:
        """Pass *last* to the function's next call, if it takes ``last``."""
        if not self.takes_last:
            return False
        self._last = last
        return True

    def stream(self) -> AsyncIterator[Yielded]:
        if self.takes_last:
            return self.function(**self.params, **{LAST: self._last})
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
) -> Callable[[FeedFunction], FunctionFeed]:
    """Declare an async generator function as a feed.

    Example::

        import asyncio
        import random
        from collections.abc import AsyncIterator

        from feeds import feed

        @feed("weather", series=["temp_c", "humidity"], units={"temp_c": "°C", "humidity": "%"})
        async def weather(city: str = "Oslo") -> AsyncIterator[dict[str, float]]:
            while True:
                yield {"temp_c": random.gauss(4, 1), "humidity": random.uniform(60, 90)}
                await asyncio.sleep(1)

    Each yield is one point: series name -> number, stamped with the time it
    was yielded unless it carries its own ``ts`` (integer milliseconds since
    the epoch, from 2000-01-01 to one day from now). A feed may also yield
    ``BREAK`` (the next point is drawn after a break), ``Skipped(reason)``
    (an input left out: counted and shown), and raise ``FeedFailed`` (the feed
    ends as failed, not restarted); see feeds/base.py.

    To continue after a restart (of the feed after a crash, or of the server
    with ``--history-db``), declare a parameter ``last``: it receives the
    feed's last kept point (``last.ts``, ``last.values``), or None the first
    time. A function without it starts afresh, drawn after a break::

        from feeds import KeptPoint

        @feed("counter", series=["n"], rate=1)
        async def counter(last: KeptPoint | None = None) -> AsyncIterator[dict[str, float]]:
            n = last.values["n"] if last else 0
            while True:
                n += 1
                yield {"n": n}
                await asyncio.sleep(1)

    ``rate`` is the nominal updates per second shown on the page;
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

    def declare(function: FeedFunction) -> FunctionFeed:
        return FunctionFeed(function, info)

    return declare


class Feed:
    """Base class for feeds that need parameters, set-up or teardown.

    Example::

        import asyncio
        from collections.abc import AsyncIterator

        from feeds import Feed

        class Thermometer(Feed):
            name = "thermo"
            series = ["temp_c"]
            units = {"temp_c": "°C"}
            rate = 2.0

            def __init__(self, path: str = "/sys/class/thermal/thermal_zone0/temp") -> None:
                self.path = path

            async def setup(self) -> None:  # before the first point, and after each restart
                self.file = open(self.path)

            async def stream(self) -> AsyncIterator[dict[str, float]]:
                while True:
                    self.file.seek(0)
                    yield {"temp_c": int(self.file.read()) / 1000}
                    await asyncio.sleep(0.5)  # rate: 2 points a second

            async def teardown(self) -> None:  # always, after stream() ends or fails
                self.file.close()

    Class attributes declare the feed; an instance may set ``self.name`` in
    ``__init__`` to run the same class twice under different names.

    ``resume_from(last)`` is called before each start that has a kept point
    (after a crash, or a server restart with ``--history-db``): return True to
    continue from ``last`` (a :class:`~feeds.base.KeptPoint`: ``ts`` and
    ``values``), as the ticker continues its price; the default, False,
    draws the first point of the new start after a break.
    """

    # Declared as instance attributes with class defaults, not ClassVar: a
    # subclass sets them in its body, and an instance may set them in
    # __init__ (HostMetrics' rate follows its interval), as said above.
    name: str = ""
    series: SeriesSpec = ()
    units: Mapping[str, str] = {}
    title: str = ""
    rate: float | None = None
    max_rate: float | None = None
    description: str = ""
    stall_after: float | None = None

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

    def resume_from(self, last: KeptPoint) -> bool:
        """Continue from *last*? The default: no, start afresh after a break."""
        return False

    def stream(self) -> AsyncIterator[Yielded]:
        raise NotImplementedError(f"{type(self).__name__} must define async def stream()")
