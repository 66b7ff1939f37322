"""Replay a recorded file (CSV, NDJSON, JSON array) as a live feed, at its own pace or scaled.

The parts: :mod:`feeds.replay_read` reads records, :mod:`feeds.replay_times`
reads timestamps, :mod:`feeds.replay_columns` turns columns into series,
:mod:`feeds.replay_rows` puts rows in time order (merging a long-format file's
keys), :mod:`feeds.replay_prepare` checks the file when the feed is created and
:mod:`feeds.replay_pace` decides when each row is due. This module is the feed.
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from feeds.api import Feed, make_info
from feeds.base import BREAK, FeedFailed, FeedInfo, Skipped, Yielded, check_name
from feeds.replay_columns import sanitise_name
from feeds.replay_pace import Intervals, Schedule, file_clock_problem, next_shift
from feeds.replay_prepare import Prepared, prepare
from feeds.replay_read import FileFormatError
from feeds.replay_rows import Bad, Row, Run, merged_rows

__all__ = ["Replay", "replay", "sanitise_name"]

CLOCKS = ("now", "file")
ON_ERROR = ("skip", "fail")
SPLITS = ("series", "feeds")


def replay(
    path: str | Path,
    speed: float = 1.0,
    loop: bool = False,
    name: str | None = None,
    ts_field: str | None = None,
    ts_format: str | None = None,
    ts_unit: str = "auto",
    key: str | None = None,
    split: str = "series",
    clock: str = "now",
    on_error: str = "skip",
    ohlc: str | None = None,
    ohlc_name: str = "ohlc",
    units: str | None = None,
    panels: str | None = None,
) -> list[Replay]:
    """The ``replay`` feed(s) of one file: one feed, or with ``key=`` and
    ``split=feeds`` one feed per key value (named ``<name>.<key value>``, its
    series named by their columns). Parameters as for :class:`Replay`."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, not {split!r}")
    settings = dict(speed=speed, loop=loop, name=name, clock=clock, on_error=on_error)
    file = dict(ts_field=ts_field, ts_format=ts_format, ts_unit=ts_unit, key=key)
    shape = dict(ohlc=ohlc, ohlc_name=ohlc_name, units=units, panels=panels)
    if split == "series":
        return [Replay(path, **settings, **file, **shape)]  # type: ignore[arg-type]
    if key is None:
        raise ValueError("split=feeds needs key= (the column whose values make the feeds)")
    whole = Replay(path, **settings, **file, **shape)  # type: ignore[arg-type]
    assert whole.prepared.index is not None
    return [whole.for_key(value) for value in whole.prepared.index.keys]


class Replay(Feed):
    """Plays a CSV, NDJSON or JSON-array file of timestamped rows as a live feed.

    Example::

        from dashboard import create_app
        from feeds.replay import Replay

        feed = Replay("stocks.csv", key="symbol", clock="file", speed=2_592_000)
        app = create_app(sources=[feed])  # feed "stocks": series MSFT, AMZN, IBM, GOOG, AAPL

    or from the command line::

        python -m dashboard --feed replay path=stocks.csv key=symbol clock=file speed=2592000

    Parameters (the README's "Replay a file" has examples):

    - ``path``: ``.csv`` (a header row), ``.ndjson``/``.jsonl`` (one JSON object
      a line) or ``.json`` (a top-level array of objects, streamed).
    - ``speed``: ``10`` plays ten times faster than recorded; ``2592000`` plays
      a 30-day month a second. Must be > 0.
    - ``loop``: start over at the end, one median row interval after the last
      row, yielding ``BREAK`` first so the page does not join the passes.
    - ``name``: the feed name; by default the file's stem, sanitised
      (``my data (v2).csv`` -> ``my_data_v2``).
    - ``ts_field``: the timestamp column; by default the first of ts,
      timestamp, datetime, time, date, month, year (any case) in the file.
    - ``ts_format``: a strptime format (``%d/%m/%Y``) that skips guessing.
      Without it text is ISO-8601 or whatever python-dateutil reads (``Jan 1
      2000``, ``2012/01/01 00:00``; ``01/02/2012`` is January 2nd).
    - ``ts_unit``: how numbers are read: ``ms`` or ``s`` since the epoch,
      ``year``; ``auto`` (default) decides once from the column and the first
      row: a column named ``year`` holds years, a first value >= 1e11 is ms,
      >= 1e8 is seconds, smaller is ms (offsets from a start). Naive times
      are UTC.
    - ``key``: long format: the column whose values split the rows into one
      series per value: named by the value, or ``<value>.<column>`` when the
      file has several value columns. Rows are played in time order across
      keys, whether the file interleaves them or holds one block per value.
    - ``split``: (the ``replay`` entry point only) ``feeds`` makes one feed
      per key value instead of one series.
    - ``clock``: ``now`` stamps each point when it is yielded (the file's times
      set the pace); ``file`` gives each point its row's own time (``ts``), so
      the page's time axis shows the file's dates; loop passes are shifted by
      the file's span plus one gap so time never goes backwards. The
      dashboard plots times from 2000-01-01 to a day ahead: a file outside
      that fails at creation, a loop that would pass it fails then.
    - ``on_error``: what a row that cannot be read does: ``skip`` (yield
      ``Skipped("line 12: ...")``, counted and shown by the dashboard) or
      ``fail`` (raise ``FeedFailed``: the feed stops as failed).
    - ``ohlc``: four columns (open, high, low, close, in that order) that make
      one bar series named ``ohlc_name``; a bar must hold low <= open, close <= high.
    - ``units``: ``price:USD,temp:°F`` (or a mapping): units by column (or by
      the ohlc name). Columns with different units get y axes of their own.
    - ``panels``: ``temp_max:temp,temp_min:temp`` (or a mapping): columns of
      one panel share a row of the chart (at most two units per panel).

    Series are found when the feed is created, so the page can lay out before
    any point arrives: every column other than the time, key and ohlc columns
    whose first value is a number or empty; text columns are left out. An
    empty cell or a JSON ``null`` means no value for that series; rows at one
    time with different series are sent as one point.

    Bad rows (an unreadable time or value, a wrong field count, time going
    backwards within a key) are reported with their line. A file that cannot
    be described (no header, no timestamp column, a first row that cannot be
    read) fails when the feed is created. With a key the file is read once
    when the feed is created. The file is read lazily, a row at a time, on
    each pass: a multi-GB file is never held in memory.
    """

    def __init__(
        self,
        path: str | Path,
        speed: float = 1.0,
        loop: bool = False,
        name: str | None = None,
        ts_field: str | None = None,
        ts_format: str | None = None,
        ts_unit: str = "auto",
        key: str | None = None,
        clock: str = "now",
        on_error: str = "skip",
        ohlc: str | Sequence[str] | None = None,
        ohlc_name: str = "ohlc",
        units: str | Mapping[str, str] | None = None,
        panels: str | Mapping[str, str] | None = None,
    ) -> None:
        if isinstance(speed, bool) or not isinstance(speed, int | float):
            raise TypeError(f"speed must be a number, not {speed!r}")
        if not (speed > 0 and math.isfinite(speed)):
            raise ValueError(f"speed must be a finite number > 0, not {speed}")
        if not isinstance(loop, bool):
            raise TypeError(f"loop must be True or False, not {loop!r}")
        for label, value, allowed in (("clock", clock, CLOCKS), ("on_error", on_error, ON_ERROR)):
            if value not in allowed:
                raise ValueError(f"{label} must be one of {', '.join(allowed)}, not {value!r}")
        if ts_field is not None and (not isinstance(ts_field, str) or not ts_field):
            raise ValueError(f"ts_field must name a column or key, not {ts_field!r}")
        self.path = Path(path)
        self.speed = float(speed)
        self.loop = loop
        self.clock = clock
        self.on_error = on_error
        self.prepared: Prepared = prepare(
            self.path,
            ts_field=ts_field,
            ts_format=ts_format,
            ts_unit=ts_unit,
            key=key,
            ohlc=ohlc,
            ohlc_name=ohlc_name,
            units=units,
            panels=panels,
        )
        self.only_key: str | None = None
        #: The wall clock (seconds since the epoch) a loop with clock=file is checked against.
        self.wall_clock: Callable[[], float] = time.time
        if name is None:
            self.feed_name = sanitise_name(self.path.stem) or "replay"
        else:
            self.feed_name = check_name(name, "feed")
        self._describe(self.path.name)
        if clock == "file":
            last = self.prepared.last_ms
            first = self.prepared.first_ms
            problem = file_clock_problem(first, first if last is None else last, self._now_ms())
            if problem:
                raise ValueError(f"{self.path}: {problem}")

    def for_key(self, value: str) -> Replay:
        """A feed playing only the rows of key value *value*, named ``<name>.<value>``."""
        twin = object.__new__(Replay)
        twin.__dict__.update({k: v for k, v in self.__dict__.items() if k != "info"})
        twin.only_key = value
        twin.feed_name = check_name(f"{self.feed_name}.{sanitise_name(value)}", "feed")
        twin._describe(f"{self.path.name} {value}")
        return twin

    def _describe(self, title: str) -> None:
        layout = self.prepared.source.layout
        keyed = self.prepared.index is not None and self.only_key is None
        values = self.prepared.index.keys if keyed and self.prepared.index else [None]
        #: key value -> (part -> series name)
        self.names_by_key = {value: layout.series_names(value) for value in values}
        self.declared = [s for names in self.names_by_key.values() for s in layout.series(names)]
        self.feed_title = title
        pace = f"{self.speed:g}x" + (", looping" if self.loop else "")
        self.feed_description = f"replay of {self.path.name} ({pace}, clock={self.clock})"

    @functools.cached_property
    def info(self) -> FeedInfo:
        return make_info(
            self.feed_name,
            self.declared,
            title=self.feed_title,
            description=self.feed_description,
        )

    def _now_ms(self) -> float:
        return self.wall_clock() * 1000

    # --- playing ----------------------------------------------------------

    async def stream(self) -> AsyncIterator[Yielded]:
        loop = asyncio.get_running_loop()
        schedule = Schedule(loop.time(), self.speed)
        origin: float | None = None  # the time of the replay's first row
        shift = 0.0  # file time added to this pass's rows
        intervals = Intervals()
        passes = 0
        broken = True  # False until the BREAK before a new pass's first point is sent
        while True:
            first = last = None
            with ExitStack() as stack:
                for item in self._points(stack):
                    if isinstance(item, Bad):
                        yield self._bad(item)
                        continue
                    ts, values = item
                    if origin is None:
                        origin = ts
                    if first is None:
                        first = ts
                        broken = passes == 0  # a new pass starts with a break
                    last = ts
                    if passes == 0 and self.loop:
                        intervals.add(ts)
                    await asyncio.sleep(schedule.delay(ts + shift - origin, loop.time()))
                    if values:
                        if not broken:
                            broken = True
                            yield BREAK
                        if self.clock == "file":
                            values["ts"] = round(ts + shift)
                        yield values
            if first is None or last is None or not self.loop:
                return  # the end (a file with no rows has nothing to loop)
            passes += 1
            shift = next_shift(shift, first, last, intervals.gap())
            if self.clock == "file":
                problem = file_clock_problem(first + shift, last + shift, self._now_ms())
                if problem:
                    raise FeedFailed(f"{self.path}: pass {passes + 1}: {problem}")

    def _bad(self, bad: Bad) -> Skipped:
        if self.on_error == "fail":
            raise FeedFailed(f"{self.path}, line {bad.line}: {bad.reason}")
        return Skipped(f"line {bad.line}: {bad.reason}")

    def _points(self, stack: ExitStack) -> Iterator[Bad | tuple[float, dict[str, Any]]]:
        """One pass: each point (rows at one time with different series make
        one) with its file time, and each bad row, in time order."""
        pending: dict[str, Any] = {}
        pending_ts: float | None = None
        latest = -math.inf
        rows = self._rows(stack)
        try:
            for item in rows:
                if isinstance(item, Bad):
                    if pending_ts is not None:  # in file order: what came before goes first
                        yield pending_ts, pending
                        pending, pending_ts = {}, None
                    yield item
                    continue
                if self.only_key is not None and item.key != self.only_key:
                    continue
                names = self.names_by_key.get(None if self.only_key else item.key)
                if names is None:
                    yield Bad(item.line, f"key value {item.key!r} was not in the file at creation")
                    continue
                if item.ts < latest:  # only if the file changed since its index was made
                    yield Bad(item.line, "time goes backwards (has the file changed?)")
                    continue
                latest = item.ts
                values = {names[part]: value for part, value in item.values.items()}
                if pending_ts is not None and (item.ts != pending_ts or values.keys() & pending):
                    yield pending_ts, pending
                    pending = {}
                pending_ts = item.ts
                pending.update(values)
        except FeedFailed:  # the file broke: what was read before it goes first
            if pending_ts is not None:
                yield pending_ts, pending
            raise
        if pending_ts is not None:
            yield pending_ts, pending

    def _rows(self, stack: ExitStack) -> Iterator[Row | Bad]:
        source, index = self.prepared.source, self.prepared.index
        try:
            if index is None:
                file = stack.enter_context(source.path.open("rb"))
                yield from source.rows(file, Run(1, 0), -1, None)
            else:
                runs = index.runs_of[self.only_key] if self.only_key else range(len(index.runs))
                yield from merged_rows(source, index, runs, stack)
        except FileFormatError as exc:
            raise FeedFailed(str(exc)) from None
