"""Candles from ticks, as pure code: OHLC bars and summed volume per interval.

A bar covers ``[t, t + interval)`` of point time (``ts``, ms since the
epoch), so every builder of the same ticks makes the same bars whenever it
starts or whoever watches. Only the newest bar is open: a tick in its
interval updates it in place, a tick in a later interval closes it and opens
the next. A closed bar never changes: a late tick (one whose interval is
before the open bar's) is counted and left out. Intervals without ticks get
no bar (a gap in time, not a flat bar).

No I/O and no clock here: dashboard/candle_board.py feeds the points in and
sends the bars out.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

#: The intervals a viewer may ask for, by their wire name, in ms.
INTERVALS: dict[str, int] = {"1s": 1_000, "5s": 5_000, "1m": 60_000}
#: Bars held per builder: 12 minutes of 1 s bars, an hour of 5 s, 12 hours of 1 m.
#: Older bars are dropped, oldest first; a client may drop them as well.
MAX_BARS = 720

Number = int | float


@dataclass(slots=True)
class Bar:
    """One interval's candle. ``volume`` is None when the feed has no volume series."""

    t: int
    open: Number
    high: Number
    low: Number
    close: Number
    volume: Number | None
    # The ts of the ticks the open and the close came from: a tick that comes
    # late but within the open bar sets them by time, not by arrival.
    open_ts: int = 0
    close_ts: int = 0

    def to_wire(self) -> dict[str, Number | None]:
        return {
            "t": self.t,
            "open": self.open,
            "high": self.high,
            "low": self.low,
            "close": self.close,
            "volume": self.volume,
        }


class CandleBuilder:
    """The bars of one level series at one interval (ms), built tick by tick."""

    def __init__(self, interval_ms: int, *, has_volume: bool, max_bars: int = MAX_BARS) -> None:
        if interval_ms < 1:
            raise ValueError(f"interval must be >= 1 ms, not {interval_ms}")
        if max_bars < 1:
            raise ValueError(f"max_bars must be >= 1, not {max_bars}")
        self.interval_ms = interval_ms
        self.has_volume = has_volume
        self._bars: deque[Bar] = deque(maxlen=max_bars)
        #: Ticks left out: late (their bar was closed already), or a volume
        #: with no bar of its interval to go to.
        self.dropped = 0
        self._floor = -(2**63)  # ticks before it are left out (see drop_oldest)

    @property
    def bars(self) -> list[Bar]:
        return list(self._bars)

    def __iter__(self) -> Iterator[Bar]:
        return iter(self._bars)

    def drop_oldest(self) -> None:
        """Forget the oldest bar, and take no more ticks of its interval: one
        built from a history that had lost some of its ticks already, which
        would show a wrong open and volume."""
        if self._bars:
            self._floor = self._bars.popleft().t + self.interval_ms

    def start_of(self, ts: int) -> int:
        """The start of the interval holding *ts* (floor, also before 1970)."""
        return ts - ts % self.interval_ms

    def add(self, ts: int, price: Number | None, volume: Number | None = None) -> Bar | None:
        """Take one tick; return the bar it opened or changed, or None.

        *price* None: a point without the level series, whose volume still
        counts in the open bar of its interval.
        """
        start = self.start_of(ts)
        last = self._bars[-1] if self._bars else None
        if start < self._floor or (last is not None and start < last.t):
            self.dropped += 1
            return None
        traded = (volume or 0) if self.has_volume else None
        if last is None or start > last.t:
            if price is None:  # volume with no price opens no bar
                self.dropped += 1
                return None
            bar = Bar(start, price, price, price, price, traded, open_ts=ts, close_ts=ts)
            self._bars.append(bar)
            return bar
        if traded is not None and last.volume is not None:
            last.volume += traded
        if price is not None:
            last.high = max(last.high, price)
            last.low = min(last.low, price)
            if ts >= last.close_ts:
                last.close, last.close_ts = price, ts
            if ts < last.open_ts:
                last.open, last.open_ts = price, ts
        return last

    def extend(self, ticks: Iterable[tuple[int, Number | None, Number | None]]) -> list[Bar]:
        """Take ticks (ts, price, volume) in arrival order; return the bars
        they opened or changed, oldest first, each once."""
        changed: dict[int, Bar] = {}
        for ts, price, volume in ticks:
            bar = self.add(ts, price, volume)
            if bar is not None:
                changed[bar.t] = bar
        # Bars of this call that an overfull deque dropped again are not sent.
        oldest = self._bars[0].t if self._bars else 0
        return [bar for t, bar in sorted(changed.items()) if t >= oldest]
