"""The one rule for a point's timestamp and values, wherever the point comes from.

A feed's yielded points (dashboard/producers.py, then HubRunner.publish) and pushed
points (dashboard/web/ingest.py) are checked by these functions, so the same value
is refused with the same message on both paths: a feed sees it in its status
and log, an ingest client in its 400 (after ``point <i>: ``). Messages name the
series and show the value as JSON would (``'hot'``, ``null``, ``NaN``), never a
Python repr of the whole point. Pure: the clock is passed in.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from feeds.base import OHLC_FIELDS

#: Browsers read JSON numbers as doubles: integers beyond this arrive changed.
MAX_SAFE_INTEGER = 2**53 - 1
#: A point's ``ts`` lies between 2000-01-01T00:00:00Z and one day from now:
#: seconds (about 1.7e9) and microseconds (about 1.7e15) fall outside.
MIN_TS_MS = 946_684_800_000
MAX_FUTURE_MS = 86_400_000
#: How much of a value or name a message quotes, and how many names it lists.
MAX_SHOWN = 64
MAX_LISTED = 10

_TS_RULE = "must be integer ms since the Unix epoch, from 2000-01-01 to one day from now"


class PointError(ValueError):
    """A refused point. ``code`` is ingest's error code for it: ``bad_point``
    (not a mapping of values), ``bad_ts``, ``unknown_series`` or ``bad_value``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def now_ms() -> int:
    """The wall clock in ms since the Unix epoch: a point's default ``ts``."""
    return time.time_ns() // 1_000_000


def _cut(text: str) -> str:
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def show(value: Any) -> str:
    """*value* as a message shows it: JSON's spelling (``null``, ``true``,
    ``NaN``), strings in single quotes as docs/protocol.md writes them, cut to
    64 characters; an object JSON has no word for by its type."""
    if isinstance(value, str):
        return _cut(repr(value))
    if value is None or isinstance(value, bool):
        return orjson.dumps(value).decode()
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return repr(value) if math.isfinite(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, int):
        # str() refuses integers over 4,300 digits: say how big instead.
        if value.bit_length() > 200:
            return f"an integer of {int(value.bit_length() * math.log10(2)) + 1} digits"
        return _cut(str(value))
    if isinstance(value, Mapping | list | tuple):
        try:
            return _cut(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode())
        except TypeError:  # a value orjson cannot write (a set, a 100-bit int, ...)
            pass
    return f"a value of type {type(value).__name__}"


def _names(names: Iterable[str]) -> str:
    names = sorted(names)
    shown = ", ".join(names[:MAX_LISTED])
    more = len(names) - MAX_LISTED
    return shown + (f" and {more} more" if more > 0 else "")


def _ts_hint(ts: Any, now_ms: int) -> str:
    """Why a refused ``ts`` is probably wrong, when the mistake is a common one."""
    if isinstance(ts, bool) or not isinstance(ts, int | float) or not math.isfinite(ts):
        return ""
    latest = now_ms + MAX_FUTURE_MS
    if MIN_TS_MS / 1000 <= ts <= latest / 1000:
        return " (this looks like seconds: multiply by 1000)"
    if MIN_TS_MS * 1000 <= ts <= latest * 1000:
        return " (this looks like microseconds: divide by 1000)"
    if isinstance(ts, float) and MIN_TS_MS <= ts <= latest:
        return " (a float: round it to an integer)"
    return ""


def check_ts(ts: Any, now_ms: int) -> int:
    """*ts* if it is a point's timestamp at *now_ms* (ms since the Unix epoch),
    else :class:`PointError` ``bad_ts``."""
    if type(ts) is not int or not MIN_TS_MS <= ts <= now_ms + MAX_FUTURE_MS:
        raise PointError("bad_ts", f"ts {show(ts)} {_TS_RULE}{_ts_hint(ts, now_ms)}")
    return ts


def _number(where: str, value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise PointError("bad_value", f"{where}: {show(value)} is not a finite number")
    if isinstance(value, int) and abs(value) > MAX_SAFE_INTEGER:
        # Browsers would read it as a nearby double: refused rather than shown wrong.
        message = f"{where}: {show(value)} is not a safe integer (at most 2**53-1 in magnitude)"
        raise PointError("bad_value", message)
    return value


def _bar(where: str, value: Any) -> dict[str, int | float]:
    if not isinstance(value, Mapping) or value.keys() != set(OHLC_FIELDS):
        message = f"{where}: {show(value)} is not a bar (an object with exactly "
        raise PointError("bad_value", message + ", ".join(OHLC_FIELDS) + ")")
    bar = {k: _number(f"{where} {k}", value[k]) for k in OHLC_FIELDS}
    if (
        not bar["low"]
        <= min(bar["open"], bar["close"])
        <= max(bar["open"], bar["close"])
        <= (bar["high"])
    ):
        got = ", ".join(f"{k} {show(bar[k])}" for k in OHLC_FIELDS)
        raise PointError("bad_value", f"{where}: low <= open, close <= high does not hold: {got}")
    return bar


def check_value(series: str, value: Any, kind: str) -> Any:
    """*value* if it fits a series of *kind* (``line``: a finite number, a
    safe integer; ``ohlc``: a bar), else :class:`PointError` ``bad_value``."""
    if kind == "ohlc":
        return _bar(f"series {show(series)}", value)
    # The common cases first: no message is built for a good value.
    if type(value) is float:
        if math.isfinite(value):
            return value
    elif type(value) is int and -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        return value
    return _number(f"series {show(series)}", value)


def unknown_series(feed: str, series: Any, kinds: Mapping[str, str]) -> PointError:
    return PointError(
        "unknown_series", f"feed {show(feed)} has no series {show(series)}; it has {_names(kinds)}"
    )


def check_values(feed: str, values: Any, kinds: Mapping[str, str]) -> dict[str, Any]:
    """One point's *values* checked against its feed's series (name -> kind),
    as a new plain dict; else :class:`PointError` for the first bad value."""
    if not isinstance(values, Mapping) or not values:
        message = f"a point is a non-empty mapping of series name to value, not {show(values)}"
        raise PointError("bad_point", message)
    checked: dict[str, Any] = {}
    for name, value in values.items():
        kind = kinds.get(name)
        if kind is None:
            raise unknown_series(feed, name, kinds)
        checked[name] = check_value(name, value, kind)
    return checked


def split_ts(values: Any, now_ms: int) -> tuple[Any, int | None]:
    """A yielded point's values without its own ``"ts"``, and that ts checked
    (None: the point carries none and is stamped when published)."""
    if not isinstance(values, Mapping) or "ts" not in values:
        return values, None
    ts = check_ts(values["ts"], now_ms)
    return {k: v for k, v in values.items() if k != "ts"}, ts


def kind_of(value: Any) -> str:
    """The series kind a pushed value implies: an object is a bar."""
    return "ohlc" if isinstance(value, dict) else "line"
