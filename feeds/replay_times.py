"""Timestamps of a replayed file: which column holds them, and how to read them.

Text is read by ``datetime.fromisoformat`` when it can (fast), else by
python-dateutil's parser (``Jan 1 2000``, ``2012/01/01``, ``2010/01/01 00:00``);
``ts_format=`` (a strptime format) skips the guessing. Numbers are read in one
unit for the whole file (see :func:`number_unit`). Naive times are UTC.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from dateutil import parser as dateutil_parser

#: Column names taken as the timestamp when ``ts_field`` is not given, most
#: specific first; compared without case.
TS_FIELD_NAMES = ("ts", "timestamp", "datetime", "time", "date", "month", "year")
#: How a number in the timestamp column is read.
TS_UNITS = ("auto", "ms", "s", "year")
#: ``auto``: a first value at least this large is epoch milliseconds (1e11 ms
#: is 1973-03-03; as seconds it would be the year 5138) ...
MS_FROM = 1e11
#: ... at least this large (and below MS_FROM) is epoch seconds (1e8 s is
#: 1973-03-03; as milliseconds it would be 1970-01-02); smaller numbers are
#: milliseconds, e.g. offsets from the start of a recording.
SECONDS_FROM = 1e8

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: What dateutil fills in for parts the text leaves out: month and day 1,
#: midnight ("Jan 2000" is 2000-01-01T00:00Z).
_FILL = datetime(2000, 1, 1)
_OTHER_FILL = datetime(2004, 6, 6)  # a second fill, to notice a text without a year


def find_ts_field(columns: Iterable[str]) -> str | None:
    """The column to take as the timestamp: the first of TS_FIELD_NAMES present."""
    by_name = {column.lower(): column for column in columns}
    for name in TS_FIELD_NAMES:
        if name in by_name:
            return by_name[name]
    return None


def number_unit(field: str, first: Any, unit: str = "auto") -> str:
    """The unit ("ms", "s" or "year") of the numbers in the timestamp column
    *field* whose first value is *first*: *unit* unless it is "auto", then by
    the column's name (``year`` holds years) or the first value's magnitude."""
    if unit != "auto":
        return unit
    if field.lower() == "year":
        return "year"
    number = _as_number(first)
    if number is not None and abs(number) >= MS_FROM:
        return "ms"
    if number is not None and abs(number) >= SECONDS_FROM:
        return "s"
    return "ms"


def ms_of(moment: datetime) -> float:
    """Milliseconds since the epoch of *moment* (naive: UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) / timedelta(microseconds=1) / 1000


def iso_utc(ms: float) -> str:
    """*ms* since the epoch as readable UTC text, for messages."""
    try:
        return (_EPOCH + timedelta(milliseconds=ms)).strftime("%Y-%m-%d %H:%M:%S UTC")
    except OverflowError:
        return f"{ms:g} ms since 1970"


class TimeReader:
    """Reads one file's timestamps: numbers in one unit, text by format or parser."""

    def __init__(self, unit: str = "ms", ts_format: str | None = None) -> None:
        if unit not in TS_UNITS or unit == "auto":
            raise ValueError(f"ts_unit must be one of {', '.join(TS_UNITS)}, not {unit!r}")
        self.unit = unit
        self.ts_format = ts_format

    def __call__(self, value: Any) -> float:
        """Milliseconds since the epoch; ValueError saying what is wrong."""
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError(f"timestamp {value!r} is not a date, a time or a number")
        text = value.strip() if isinstance(value, str) else ""
        if isinstance(value, str) and not text:
            raise ValueError("empty timestamp")
        if self.ts_format is not None:
            return self._by_format(text or str(value))
        number = _as_number(value)
        ms = self._number(value, number) if number is not None else self._text(text)
        if not math.isfinite(ms):
            raise ValueError(f"timestamp {value!r} is not a finite time")
        return ms

    def check_has_year(self, value: Any) -> None:
        """ValueError if *value* is text that names no year (``12:30``,
        ``Jan 5``): the parser would take the year from nowhere. Checked on
        the first row only (a column keeps one format), so rows parse once."""
        if (
            self.ts_format is not None
            or not isinstance(value, str)
            or _as_number(value) is not None
        ):
            return
        text = value.strip()
        try:
            datetime.fromisoformat(text)
            return
        except ValueError:
            pass
        one = dateutil_parser.parse(text, default=_FILL)
        other = dateutil_parser.parse(text, default=_OTHER_FILL)
        if one.year != other.year:
            raise ValueError(f"timestamp {value!r} has no year (set ts_format=)")

    def _by_format(self, text: str) -> float:
        try:
            return ms_of(datetime.strptime(text, self.ts_format or ""))
        except ValueError:
            raise ValueError(
                f"timestamp {text!r} does not match ts_format {self.ts_format!r}"
            ) from None

    def _number(self, value: Any, number: float) -> float:
        if self.unit == "ms":
            return number
        if self.unit == "s":
            return number * 1000
        if number != int(number) or not 1 <= number <= 9999:
            raise ValueError(f"timestamp {value!r} is not a year")
        return ms_of(datetime(int(number), 1, 1))

    @staticmethod
    def _text(text: str) -> float:
        try:
            return ms_of(datetime.fromisoformat(text))
        except ValueError:
            pass
        try:
            return ms_of(dateutil_parser.parse(text, default=_FILL))
        except (ValueError, OverflowError):
            raise ValueError(f"timestamp {text!r} is not a date or time I can read") from None


def _as_number(value: Any) -> float | None:
    """*value* as a number if it is one or is numeric text, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None
