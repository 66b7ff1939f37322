"""Replay a recorded CSV or NDJSON file as a live feed, at its own pace or scaled."""

from __future__ import annotations

import asyncio
import codecs
import csv
import json
import math
import random
import re
import statistics
import unicodedata
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from feeds.api import Feed
from feeds.base import Series, check_name

FORMATS = {".csv": "csv", ".ndjson": "ndjson", ".jsonl": "ndjson"}  # by lower-case extension
#: Intervals kept (a uniform random sample) to find the median for the loop gap:
#: exact for files of up to this many rows, a close estimate beyond.
MEDIAN_SAMPLE = 10_000
DEFAULT_GAP_MS = 1000.0  # file time between passes when the file gives no interval
STALL = 1.0  # seconds late past which the schedule moves on instead of bursting
RESERVED = "ts"  # a yielded "ts" is the point's timestamp: no series may be called so

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NOT_NAME = re.compile(r"[^A-Za-z0-9_.\-]+")


def sanitise_name(text: str) -> str:
    """*text* made a valid name ("" if nothing is usable): accents dropped (``é`` -> ``e``),
    other runs of characters -> ``_``, ``_ . -`` stripped from both ends, cut to 64."""
    bare = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    name = _NOT_NAME.sub("_", bare).strip("_.-")
    return name[:64].rstrip("_.-")


def parse_timestamp(value: Any) -> float:
    """Milliseconds since the epoch from a number of ms or an ISO-8601 string (naive = UTC)."""
    unreadable = ValueError(f"timestamp {value!r} is not epoch milliseconds or ISO-8601")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise unreadable
    try:
        ms = float(value)
    except OverflowError:
        raise unreadable from None
    except ValueError:  # only text gets here
        try:
            moment = datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise unreadable from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        ms = (moment - _EPOCH) / timedelta(microseconds=1) / 1000
    if not math.isfinite(ms):
        raise ValueError(f"timestamp {value!r} is not a finite number")
    return ms


class Replay(Feed):
    """Plays a CSV or NDJSON file of timestamped rows as a live feed.

    Example::

        from dashboard.app import create_app
        from feeds.replay import Replay

        # data.csv:
        #   ts,price,volume
        #   2024-05-01T09:30:00Z,101.50,300
        #   2024-05-01T09:30:00.250Z,101.70,
        #   2024-05-01T09:30:01Z,101.60,100

        feed = Replay("data.csv", speed=10, loop=True)  # feed "data": series price, volume
        app = create_app(sources=[feed])

    or from the command line::

        python -m dashboard --feed replay path=data.csv speed=10 loop=true

    Parameters:

    - ``path``: a ``.csv`` file with a header row, or ``.ndjson``/``.jsonl``
      (one JSON object per line); the extension chooses the format.
    - ``speed``: ``10`` plays ten times faster than recorded; must be > 0.
    - ``loop``: start over at the end, one median row interval after the last
      row; otherwise the feed ends (the dashboard marks it stopped).
    - ``name``: the feed name; by default the file's stem, sanitised
      (``my data (v2).csv`` -> ``my_data_v2``).
    - ``ts_field``: the timestamp column or key: epoch milliseconds (int or
      float), or an ISO-8601 string (without a timezone it is UTC).

    Series are found when the feed is created, so the page can lay out before
    any point arrives: every column (CSV: header plus first row) or key (NDJSON:
    first record) other than ``ts_field`` whose first value is a number or empty
    (``""``/``null``). Columns or keys whose first value is text (a symbol, a
    note) are not series and are ignored, as are NDJSON keys absent from the
    first record. Names are sanitised like the feed name; no series may be
    called ``ts``.

    Values may be numbers or numeric text (NDJSON ``12.5`` or ``"12.5"``).

    Points are yielded **without** ``ts``: the dashboard stamps each with the
    moment it is yielded, so the page's time axis is live and the file's
    timestamps only set the pace: the gap before each row is the difference to
    the previous row divided by ``speed``, kept on an absolute loop-clock
    schedule so long files do not drift (after a stall of over a second the
    schedule moves on rather than bursting).

    An empty CSV cell or a JSON ``null`` means "no value for that series in
    this row" (a row with no values at all yields no point but still takes its
    time). Anything else wrong fails loudly with a ValueError naming the file
    and line, for the dashboard to log before it restarts the feed: a
    malformed line, a missing field or key, a value that is not a finite
    number, an unreadable timestamp, or time going backwards (equal
    timestamps are fine). A missing file raises FileNotFoundError at once.

    The file is read lazily, a line at a time, on the event loop (buffered local
    reads are fast), and again on each pass: ``setup()`` opens it and
    ``teardown()`` closes it (``stream()`` alone opens and closes it itself).
    """

    def __init__(
        self,
        path: str,
        speed: float = 1.0,
        loop: bool = False,
        name: str | None = None,
        ts_field: str = "ts",
    ) -> None:
        if isinstance(speed, bool) or not isinstance(speed, int | float):
            raise TypeError(f"speed must be a number, not {speed!r}")
        if not (speed > 0 and math.isfinite(speed)):
            raise ValueError(f"speed must be a finite number > 0, not {speed}")
        if not isinstance(loop, bool):
            raise TypeError(f"loop must be True or False, not {loop!r}")
        if not isinstance(ts_field, str) or not ts_field:
            raise ValueError(f"ts_field must name a column or key, not {ts_field!r}")
        self.path = Path(path)
        self.speed = float(speed)
        self.loop = loop
        self.ts_field = ts_field
        self.format = FORMATS.get(self.path.suffix.lower(), "")
        if not self.format:
            raise ValueError(
                f"replay file {str(self.path)!r}: unknown extension {self.path.suffix!r}; "
                f"use one of {', '.join(FORMATS)}"
            )
        if not self.path.is_file():
            raise FileNotFoundError(
                f"replay file not found: {str(self.path)!r} (resolved: {self.path.resolve()})"
            )
        if name is None:
            self.name = sanitise_name(self.path.stem) or "replay"
        else:
            self.name = check_name(name, "feed")
        self._header: list[str] | None = None
        #: (column or key in the file, series name), in file order.
        self._columns: list[tuple[str, str]] = self._discover()
        self.series = [Series(series) for _, series in self._columns]
        self.title = self.path.name
        pace = f"{self.speed:g}x" + (", looping" if self.loop else "")
        self.description = f"replay of {self.path.name} ({pace})"
        self._file: IO[bytes] | None = None

    # --- life cycle -------------------------------------------------------

    async def setup(self) -> None:
        """Open the file (again, after a restart: the replay starts over)."""
        await self.teardown()
        self._file = self.path.open("rb")

    async def teardown(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            file.close()

    async def stream(self) -> AsyncIterator[dict[str, float]]:
        opened_here = self._file is None
        if opened_here:
            await self.setup()
        try:
            async for values in self._play():
                yield values
        finally:
            if opened_here:
                await self.teardown()

    async def _play(self) -> AsyncIterator[dict[str, float]]:
        file = self._file
        assert file is not None
        loop = asyncio.get_running_loop()
        start = loop.time()  # the loop-clock time of file time 0 (moves after a stall)
        offset = 0.0  # file time (ms since the replay's first row) of this pass's first row
        gap: float | None = None  # ms between passes; known after the first pass
        while True:
            file.seek(0)
            intervals = _Reservoir() if self.loop and gap is None else None
            first = previous = None
            with closing(self._rows(file)) as rows:
                for _line, ts, values in rows:
                    if first is None:
                        first = ts
                    elif intervals is not None:
                        intervals.add(ts - previous)
                    previous = ts
                    due = start + (offset + ts - first) / 1000 / self.speed
                    delay = due - loop.time()
                    if delay < -STALL:
                        start -= delay
                        delay = 0.0
                    await asyncio.sleep(max(delay, 0.0))
                    if values:
                        yield values
            if first is None or previous is None or not self.loop:
                return  # the end (a file with no rows has nothing to loop)
            if gap is None:
                median = intervals.median() if intervals is not None else None
                gap = median if median else DEFAULT_GAP_MS
            offset += previous - first + gap

    # --- reading ----------------------------------------------------------

    def _error(self, line: int, message: str) -> ValueError:
        return ValueError(f"{self.path}, line {line}: {message}")

    def _discover(self) -> list[tuple[str, str]]:
        with self.path.open("rb") as file, closing(self._records(file)) as records:
            line, first = next(records, (1, None))
        if self.format == "csv":
            keys, names_at = self._header or [], 1  # the line the names are on
        elif first is None:
            raise ValueError(f"{self.path}: no record to find the series from")
        else:
            keys, names_at = list(first), line
        if self.ts_field not in keys:
            raise self._error(
                names_at, f"no timestamp field {self.ts_field!r} in {keys} (set ts_field=)"
            )
        columns: list[tuple[str, str]] = []
        for key in keys:
            if key == self.ts_field or (first is not None and not _numberish(first[key])):
                continue
            series = sanitise_name(key)
            if not series:
                raise self._error(names_at, f"column {key!r} has no usable series name")
            if series == RESERVED:
                raise self._error(
                    names_at,
                    f"column {key!r}: a series may not be called 'ts' (the point timestamp)",
                )
            if series in {s for _, s in columns}:
                raise self._error(names_at, f"two columns both make series {series!r}")
            columns.append((key, series))
        if not columns:
            raise self._error(line, f"no numeric columns besides the timestamp {self.ts_field!r}")
        return columns

    def _records(self, file: IO[bytes]) -> Iterator[tuple[int, Mapping[str, Any]]]:
        """(line number, raw record) for each row of one pass over *file*."""
        return (self._csv_records if self.format == "csv" else self._ndjson_records)(file)

    def _csv_records(self, file: IO[bytes]) -> Iterator[tuple[int, dict[str, str]]]:
        reader = csv.reader(self._text_lines(file), strict=True)
        header: list[str] | None = None
        while True:
            line = reader.line_num + 1  # where the next record starts
            try:
                fields = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                raise self._error(reader.line_num, f"malformed CSV: {exc}") from None
            if not fields:
                continue  # a blank line
            if header is None:
                header = [f.strip() for f in fields]
                if len(set(header)) != len(header):
                    raise self._error(line, f"a column name appears twice in {header}")
                if self._header is None:
                    self._header = header
                elif header != self._header:
                    raise self._error(line, f"header {header} is not the {self._header} it was")
                continue
            if len(fields) != len(header):
                raise self._error(line, f"{len(fields)} fields where the header has {len(header)}")
            yield line, dict(zip(header, fields, strict=True))
        if header is None:
            raise ValueError(f"{self.path}: empty file, no CSV header")

    def _text_lines(self, file: IO[bytes]) -> Iterator[str]:
        for number, raw in enumerate(file, 1):
            if number == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8) :]
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise self._error(number, f"not UTF-8 text ({exc.reason})") from None

    def _ndjson_records(self, file: IO[bytes]) -> Iterator[tuple[int, dict[str, Any]]]:
        for line, raw in enumerate(file, 1):
            if not raw.strip():
                continue  # a blank line
            try:
                record = json.loads(raw)
            except UnicodeDecodeError as exc:
                raise self._error(line, f"not UTF-8 text ({exc.reason})") from None
            except json.JSONDecodeError as exc:
                raise self._error(line, f"malformed JSON: {exc.msg} (column {exc.colno})") from None
            if not isinstance(record, dict):
                raise self._error(line, f"a {type(record).__name__}, not a JSON object")
            yield line, record

    def _rows(self, file: IO[bytes]) -> Iterator[tuple[int, float, dict[str, float]]]:
        """(line number, ms since the epoch, values) for each row, validated."""
        previous = -math.inf
        for line, record in self._records(file):
            if self.ts_field not in record:
                raise self._error(line, f"no timestamp {self.ts_field!r}")
            raw_ts = record[self.ts_field]
            if _empty(raw_ts):
                raise self._error(line, f"empty timestamp {self.ts_field!r}")
            try:
                ts = parse_timestamp(raw_ts)
            except ValueError as exc:
                raise self._error(line, str(exc)) from None
            if ts < previous:
                raise self._error(
                    line, f"time goes backwards: {raw_ts!r} is before the row above it"
                )
            previous = ts
            values: dict[str, float] = {}
            for key, series in self._columns:
                if key not in record:
                    raise self._error(line, f"no value for {key!r}")
                value = record[key]
                if not _empty(value):
                    values[series] = self._number(line, key, value)
            yield line, ts, values

    def _number(self, line: int, key: str, value: Any) -> float:
        number: Any = value
        try:
            if isinstance(value, str):
                number = int(value) if value.strip().lstrip("+-").isdigit() else float(value)
        except ValueError:
            pass
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise self._error(line, f"{key}: {value!r} is not a number")
        if isinstance(number, float) and not math.isfinite(number):
            raise self._error(line, f"{key}: {value!r} is not a finite number")
        return number


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _numberish(value: Any) -> bool:
    """Could this first value belong to a numeric series (a number, or empty)?"""
    if _empty(value):
        return True
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return False
        return True
    return isinstance(value, int | float) and not isinstance(value, bool)


class _Reservoir:
    """A uniform random sample of at most MEDIAN_SAMPLE numbers (fixed seed)."""

    def __init__(self) -> None:
        self.sample: list[float] = []
        self.seen = 0
        self.rng = random.Random(0)

    def add(self, value: float) -> None:
        self.seen += 1
        if len(self.sample) < MEDIAN_SAMPLE:
            self.sample.append(value)
        else:
            slot = self.rng.randrange(self.seen)
            if slot < MEDIAN_SAMPLE:
                self.sample[slot] = value

    def median(self) -> float | None:
        return statistics.median(self.sample) if self.sample else None
