"""Rows of a replayed file in time order, each read or reported as bad.

Without a key the file is one stretch in time order: a row whose time is
before the row above it is bad. With a key (long format) the rows of each key
value must be in time order, but the file may hold them interleaved in time or
in blocks (one per key value, the next block going back to the start): one
pass when the feed is created (:func:`build_index`) finds the *runs*, the
stretches of the file in time order, and where a row goes back in time within
its own key; each pass then reads every run with its own reader and merges
them by time (:func:`merged_rows`), holding one row per run in memory.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from feeds.replay_columns import Layout, RowError
from feeds.replay_read import records
from feeds.replay_times import iso_utc

#: Most runs merged at once (each holds an open file): a file with more
#: places where time goes back is in no usable order.
MAX_RUNS = 256
#: Most key values (each makes series): more means the key is the wrong column.
MAX_KEYS = 1000
#: Most rows found going back in time within their key (each is remembered).
MAX_BACKWARDS = 10_000


@dataclass(frozen=True, slots=True)
class Row:
    line: int
    ts: float  # ms since the epoch, as in the file
    key: str | None
    values: dict[str, Any]  # part -> number or bar; may be empty


@dataclass(frozen=True, slots=True)
class Bad:
    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class Run:
    """A stretch of the file, from the row at *line* (byte *offset*)."""

    line: int
    offset: int


@dataclass
class Index:
    """What one pass over a long-format file found (see the module doc)."""

    keys: list[str] = field(default_factory=list)  # in order of first appearance
    runs: list[Run] = field(default_factory=list)
    runs_of: dict[str, list[int]] = field(default_factory=dict)  # key -> its runs
    #: line -> why: rows going back in time within their key.
    backwards: dict[int, str] = field(default_factory=dict)
    first_ms: float = math.inf
    last_ms: float = -math.inf


@dataclass(frozen=True)
class Source:
    """How to read the file's rows: its path and format, and how to read a row."""

    path: Path
    fmt: str
    header: list[str] | None
    layout: Layout
    read_time: Callable[[Any], float]

    def rows(
        self, file: IO[bytes], start: Run, end: int, backwards: Mapping[int, str] | None
    ) -> Iterator[Row | Bad]:
        """The rows from *start* up to byte *end* (-1: the end of the file).

        With *backwards* (from an index) a row is bad when listed there; without,
        when its time is before the last good row's."""
        previous = -math.inf
        for record in records(file, self.fmt, self.path, self.header, start.line, start.offset):
            if 0 <= end <= record.offset:
                return
            if record.fields is None:
                yield Bad(record.line, record.problem)
                continue
            try:
                ts, key = self.ts_and_key(record.fields)
            except (RowError, ValueError) as exc:
                yield Bad(record.line, str(exc))
                continue
            if backwards is not None and record.line in backwards:
                yield Bad(record.line, backwards[record.line])
                continue
            if backwards is None and ts < previous:
                raw = record.fields[self.layout.ts_field]
                yield Bad(record.line, f"time goes backwards: {raw!r} is before the row above it")
                continue
            previous = ts  # as build_index orders rows: by time and key alone
            try:
                values = self.layout.values(record.fields)
            except RowError as exc:
                yield Bad(record.line, str(exc))
                continue
            yield Row(record.line, ts, key, values)

    def ts_and_key(self, fields: Mapping[str, Any]) -> tuple[float, str | None]:
        ts_field = self.layout.ts_field
        if ts_field not in fields:
            raise RowError(f"no timestamp {ts_field!r}")
        return self.read_time(fields[ts_field]), self.layout.key_of(fields)


def build_index(source: Source) -> Index:
    """One pass over the file: its key values, runs and rows out of order.
    Rows that cannot be read are passed over (they are reported when played)."""
    index = Index()
    last_of: dict[str, float] = {}
    previous = -math.inf
    with source.path.open("rb") as file:
        for record in records(file, source.fmt, source.path, source.header):
            if record.fields is None:
                continue
            try:
                ts, key = source.ts_and_key(record.fields)
            except (RowError, ValueError):
                continue
            assert key is not None  # an index is for a layout with a key
            if key not in last_of:
                if len(index.keys) == MAX_KEYS:
                    raise ValueError(
                        f"{source.path}: key {source.layout.key!r} has over {MAX_KEYS} values; "
                        "is it the right column?"
                    )
                index.keys.append(key)
                index.runs_of[key] = []
            elif ts < last_of[key]:
                _note_backwards(index, source, record.line, key, ts, last_of[key])
                continue
            if ts < previous or not index.runs:
                if len(index.runs) == MAX_RUNS:
                    raise ValueError(
                        f"{source.path}, line {record.line}: time goes back over {MAX_RUNS} times; "
                        f"the rows of each {source.layout.key!r} must be in time order"
                    )
                index.runs.append(Run(record.line, record.offset))
            runs = index.runs_of[key]
            if not runs or runs[-1] != len(index.runs) - 1:
                runs.append(len(index.runs) - 1)
            previous = last_of[key] = ts
            index.first_ms = min(index.first_ms, ts)
            index.last_ms = max(index.last_ms, ts)
    return index


def _note_backwards(
    index: Index, source: Source, line: int, key: str, ts: float, last: float
) -> None:
    if len(index.backwards) == MAX_BACKWARDS:
        raise ValueError(
            f"{source.path}: over {MAX_BACKWARDS} rows go back in time within their "
            f"{source.layout.key!r}; sort the file by time"
        )
    index.backwards[line] = (
        f"time goes backwards within {key!r}: {iso_utc(ts)} is before {iso_utc(last)}"
    )


@dataclass(order=True, frozen=True, slots=True)
class _Pending:
    when: float
    line: int
    item: Row | Bad = field(compare=False)


def merged_rows(
    source: Source, index: Index, runs: Sequence[int], stack: ExitStack
) -> Iterator[Row | Bad]:
    """The rows of *runs* (indices into ``index.runs``), merged in time order.
    Each run gets its own open file, closed by *stack*."""
    streams = []
    for number in runs:
        run = index.runs[number]
        end = index.runs[number + 1].offset if number + 1 < len(index.runs) else -1
        file = stack.enter_context(source.path.open("rb"))
        streams.append(_timed(source.rows(file, run, end, index.backwards)))
    for pending in heapq.merge(*streams):
        yield pending.item


def _timed(rows: Iterator[Row | Bad]) -> Iterator[_Pending]:
    """Each row with the time to merge it by: a bad row goes with the row above it."""
    when = -math.inf
    for item in rows:
        if isinstance(item, Row):
            when = item.ts
        yield _Pending(when, item.line, item)
