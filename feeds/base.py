"""The smallest contract between a feed and the dashboard."""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

# Feed and series names travel in URLs and JSON and are shown on the page:
# keep them to a safe, readable alphabet.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")

#: "line": each value is a number. "ohlc": each value is a bar, an object
#: {"open", "high", "low", "close"} of numbers (drawn as a candle).
SERIES_KINDS = ("line", "ohlc")
OHLC_FIELDS = ("open", "high", "low", "close")
#: Most decimals a series may ask the page to show.
MAX_DECIMALS = 10


def check_name(name: str, what: str) -> str:
    """Return *name* if it is a valid feed or series name, else raise ValueError."""
    # fullmatch: "$" in match() also takes a name ending in a newline ("ACME\n").
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(
            f"invalid {what} name {name!r}: use 1-64 letters, digits, '_', '.', '-', "
            "starting with a letter or digit"
        )
    return name


@dataclass(frozen=True)
class Series:
    """One named number line of a feed."""

    name: str
    kind: str = "line"
    unit: str = ""
    #: False for series shown in the table but not drawn (e.g. a ticker's volume).
    plot: bool = True
    #: True for a level whose moves mean something as change and change %
    #: (a price); False for readings such as a CPU % or a counter, where a
    #: percent change would mislead.
    level: bool = False
    # How the page draws it (hints: the page lays out a readable default
    # without them, see docs/protocol.md "Drawing hints").
    #: Series with the same panel share one chart of the feed's panel; ""
    #: groups by unit. A panel holds at most two units (a second y axis).
    panel: str = ""
    #: Bounds of the y axis (either alone: the other follows the data).
    y_min: float | None = None
    y_max: float | None = None
    #: A logarithmic y axis (values must be > 0).
    log: bool = False
    #: Stacked area: the panel's stacked series are drawn on top of each other.
    stack: bool = False
    #: A step line: the value holds until the next point (a state, a count).
    step: bool = False
    #: Decimals shown (header value, hover); None: chosen from the values.
    decimals: int | None = None

    def __post_init__(self) -> None:
        check_name(self.name, "series")
        if self.kind not in SERIES_KINDS:
            raise ValueError(f"unknown series kind {self.kind!r}; known: {', '.join(SERIES_KINDS)}")
        self._check_hints()

    def _check_hints(self) -> None:
        what = f"series {self.name!r}"
        if self.panel:
            check_name(self.panel, f"{what}: panel")
        for label, bound in (("y_min", self.y_min), ("y_max", self.y_max)):
            if bound is None:
                continue
            if isinstance(bound, bool) or not isinstance(bound, int | float):
                raise ValueError(f"{what}: {label} must be a number, not {bound!r}")
            if not math.isfinite(bound):
                raise ValueError(f"{what}: {label} must be finite, not {bound}")
        if self.y_min is not None and self.y_max is not None and not self.y_min < self.y_max:
            raise ValueError(f"{what}: y_min {self.y_min} must be below y_max {self.y_max}")
        for label, flag in (("log", self.log), ("stack", self.stack), ("step", self.step)):
            if not isinstance(flag, bool):
                raise ValueError(f"{what}: {label} must be true or false, not {flag!r}")
        if self.log and any(b is not None and b <= 0 for b in (self.y_min, self.y_max)):
            raise ValueError(f"{what}: a log axis needs y_min and y_max > 0")
        if (self.stack or self.step) and self.kind != "line":
            raise ValueError(f"{what}: stack and step are for line series, not {self.kind!r}")
        if self.decimals is not None and (
            isinstance(self.decimals, bool)
            or not isinstance(self.decimals, int)
            or not 0 <= self.decimals <= MAX_DECIMALS
        ):
            raise ValueError(
                f"{what}: decimals must be an integer from 0 to {MAX_DECIMALS}, "
                f"not {self.decimals!r}"
            )

    def hints(self) -> dict[str, Any]:
        """The drawing hints that differ from the defaults (only those travel)."""
        values = {
            "panel": self.panel,
            "y_min": self.y_min,
            "y_max": self.y_max,
            "log": self.log,
            "stack": self.stack,
            "step": self.step,
            "decimals": self.decimals,
        }
        # By identity: a y_min or decimals of 0 is declared, not a default.
        return {k: v for k, v in values.items() if v is not None and v is not False and v != ""}

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "unit": self.unit,
            "plot": self.plot,
            "level": self.level,
            **self.hints(),
        }


@dataclass(frozen=True)
class FeedInfo:
    """What a feed declares about itself; the page lays itself out from this."""

    name: str
    series: tuple[Series, ...]
    title: str = ""
    #: Nominal updates per second (shown on the page).
    rate: float | None = None
    #: Points yielded faster than this are dropped (and counted); None: no cap.
    max_rate: float | None = None
    description: str = ""
    #: Seconds without a point after which the feed shows as "stalled"; None:
    #: derived from ``rate`` (a feed with neither is never marked stalled).
    stall_after: float | None = None
    series_names: frozenset[str] = field(init=False, repr=False, compare=False)
    series_kinds: Mapping[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_name(self.name, "feed")
        if not self.series:
            raise ValueError(f"feed {self.name!r} declares no series")
        names = [s.name for s in self.series]
        if len(set(names)) != len(names):
            raise ValueError(f"feed {self.name!r} declares a series twice: {names}")
        object.__setattr__(self, "series_names", frozenset(names))
        object.__setattr__(self, "series_kinds", {s.name: s.kind for s in self.series})
        if not self.title:
            object.__setattr__(self, "title", self.name)
        for label, value in (
            ("rate", self.rate),
            ("max_rate", self.max_rate),
            ("stall_after", self.stall_after),
        ):
            if value is not None and not value > 0:
                raise ValueError(f"feed {self.name!r}: {label} must be > 0, not {value}")
        self._check_panels()

    def _check_panels(self) -> None:
        # A chart has a y axis on each side, no more: a third unit would share one.
        units: dict[str, set[str]] = {}
        for s in self.series:
            if s.panel and s.plot:
                units.setdefault(s.panel, set()).add(s.unit)
        for panel, found in units.items():
            if len(found) > 2:
                raise ValueError(
                    f"feed {self.name!r}: panel {panel!r} mixes {len(found)} units "
                    f"({', '.join(sorted(repr(u) for u in found))}); a panel holds at most two"
                )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "rate": self.rate,
            "max_rate": self.max_rate,
            "series": [s.to_dict() for s in self.series],
        }


@dataclass(frozen=True)
class Break:
    """Yield :data:`BREAK` between two points that must not be joined by a line:
    the next point starts a new stretch of the series (a replay starting over,
    a device reconnected after missing readings). The page draws a break there."""


#: The one :class:`Break` a feed yields.
BREAK = Break()


@dataclass(frozen=True)
class Skipped:
    """Yield ``Skipped("line 12: 'n/a' is not a number")`` for input the feed
    read but had to leave out. The dashboard counts it and shows the latest
    reason in the feed's status; the feed goes on."""

    reason: str


class FeedFailed(Exception):
    """Raise it when going on is pointless (a file that cannot be read as
    configured): the feed ends as ``failed`` at once, with this message, and is
    not restarted. Any other exception restarts the feed with a backoff."""


#: What a feed's ``stream()`` may yield: a point (series name -> value, with an
#: optional ``"ts"``: integer ms since the epoch, from 2000-01-01 to one day
#: from now), a break, or a skipped input.
Yielded = Mapping[str, Any] | Break | Skipped


@dataclass(frozen=True)
class KeptPoint:
    """A feed's last point the dashboard kept (from this run, an earlier one
    or a history file): ``ts`` in ms since the epoch and ``values`` (series
    name -> value). A feed is offered it before each run to continue from it;
    see ``Feed.resume_from`` and the ``last`` parameter of ``@feed``."""

    ts: int
    values: Mapping[str, Any]


@runtime_checkable
class FeedSource(Protocol):
    """A source of points for one feed.

    Example::

        import asyncio
        from collections.abc import AsyncIterator

        from feeds import FeedInfo, Series

        class Constant:
            info = FeedInfo("answer", series=(Series("value"),), rate=1.0)

            async def stream(self) -> AsyncIterator[dict[str, float]]:
                while True:
                    yield {"value": 42.0}
                    await asyncio.sleep(1)

    Each mapping yielded is one point (series name -> number); the dashboard
    stamps it with the time it was yielded. It may also yield :data:`BREAK`
    and :class:`Skipped`, and raise :class:`FeedFailed` (see :data:`Yielded`).

    Optional methods, looked up by name: ``async setup()`` and ``async
    teardown()`` around each run, and ``resume_from(last: KeptPoint) -> bool``
    called before each run that has a kept point: True when the feed will
    continue from it; without the method, or when it answers False, the run's
    first point is drawn after a break.
    """

    # Read-only: a class attribute, an instance attribute and a (cached)
    # property all provide it. A bare ``info: FeedInfo`` would ask for a
    # settable attribute, and a Feed's cached property would not be one.
    @property
    def info(self) -> FeedInfo: ...

    def stream(self) -> AsyncIterator[Yielded]: ...
