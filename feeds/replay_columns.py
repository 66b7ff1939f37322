"""Which columns of a replayed file make which series, and a row's values.

Found once, when the feed is created, from the column names and the first row:
the timestamp column, the optional ``key`` column (long format: one series per
key value), the optional four ``ohlc`` columns (one bar series), and every other
column whose first value is a number or empty (a line series each). Columns
whose first value is text (a note, a category) are left out.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from feeds.base import OHLC_FIELDS, Series, check_name

RESERVED = "ts"  # a yielded "ts" is the point's timestamp: no series may be called so
#: Browsers read JSON numbers as doubles: larger integers would arrive changed.
MAX_SAFE_INTEGER = 2**53 - 1

_NOT_NAME = re.compile(r"[^A-Za-z0-9_.\-]+")


class RowError(ValueError):
    """A row that cannot be read; the message says why (the caller adds the line)."""


def sanitise_name(text: str) -> str:
    """*text* made a valid name ("" if nothing is usable): accents dropped (``é`` -> ``e``),
    other runs of characters -> ``_``, ``_ . -`` stripped from both ends, cut to 64."""
    bare = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    name = _NOT_NAME.sub("_", bare).strip("_.-")
    return name[:64].rstrip("_.-")


def parse_units(units: str | Mapping[str, str] | None) -> dict[str, str]:
    """``"price:USD,temp:°F"`` (or a mapping, from a TOML table) -> {column: unit}."""
    return _parse_pairs("units", "unit", units)


def parse_panels(panels: str | Mapping[str, str] | None) -> dict[str, str]:
    """``"temp_max:temp,temp_min:temp"`` (or a mapping) -> {column: panel}: the
    columns of one panel share a row of the feed's chart."""
    out = _parse_pairs("panels", "panel", panels)
    for column, panel in out.items():
        check_name(panel, f"panels: {column!r}:")
    return out


def _parse_pairs(label: str, what: str, value: str | Mapping[str, str] | None) -> dict[str, str]:
    if value is None or value == "":
        return {}
    if isinstance(value, Mapping):
        pairs = list(value.items())
    elif isinstance(value, str):
        pairs = []
        for item in value.split(","):
            column, sep, text = item.partition(":")
            if not sep:
                raise ValueError(f"{label}: {item.strip()!r} is not column:{what}")
            pairs.append((column.strip(), text.strip()))
    else:
        raise ValueError(f"{label} must be column:{what} pairs, not {value!r}")
    out: dict[str, str] = {}
    for column, text in pairs:
        if not isinstance(column, str) or not isinstance(text, str) or not column or not text:
            raise ValueError(f"{label}: {column!r}: {text!r} needs a column and a {what}")
        out[column] = text
    return out


def parse_ohlc(ohlc: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"open,high,low,close"`` -> the four columns, in that order."""
    if ohlc is None or ohlc == "":
        return ()
    columns = [c.strip() for c in (ohlc.split(",") if isinstance(ohlc, str) else ohlc)]
    if len(columns) != 4 or len(set(columns)) != 4 or not all(columns):
        raise ValueError(
            f"ohlc must name four different columns for {', '.join(OHLC_FIELDS)}, not {ohlc!r}"
        )
    return tuple(columns)


class Layout:
    """The series a file makes and how to read a row's values for them.

    A *part* is what one row gives: a line column (named by its sanitised
    column name) or the ohlc bar (named ``ohlc_name``). Without a key the parts
    are the series; with one, each key value has its own: named by the key
    value alone when there is one part, else ``<key value>.<part>``.
    """

    def __init__(
        self,
        fields: Sequence[str],
        first: Mapping[str, Any],
        *,
        ts_field: str,
        key: str | None = None,
        ohlc: tuple[str, ...] = (),
        ohlc_name: str = "ohlc",
        units: Mapping[str, str] | None = None,
        panels: Mapping[str, str] | None = None,
    ) -> None:
        for what, column in (("key", key), *(("ohlc column", c) for c in ohlc)):
            if column is not None and column not in fields:
                raise ValueError(f"no {what} column {column!r} in {list(fields)}")
            if column == ts_field:
                raise ValueError(f"{what} column {column!r} is the timestamp column")
        if key is not None and key in ohlc:
            raise ValueError(f"column {key!r} cannot be both the key and an ohlc column")
        self.ts_field = ts_field
        self.key = key
        self.ohlc = ohlc
        taken = {ts_field, key, *ohlc}
        #: (column, part) of the line series, in file order.
        self.lines: list[tuple[str, str]] = []
        parts: list[str] = []
        for column in fields:
            if column in taken or not _numberish(first.get(column)):
                continue
            part = sanitise_name(column)
            if not part:
                raise ValueError(f"column {column!r} has no usable series name")
            self.lines.append((column, part))
            parts.append(part)
        if ohlc:
            parts.append(check_name(ohlc_name, "ohlc series"))
        self.ohlc_name = ohlc_name
        if not parts:
            raise ValueError(f"no numeric columns besides the timestamp {ts_field!r}")
        if len(set(parts)) != len(parts):
            raise ValueError(f"two columns make the same series name: {parts}")
        if key is None and RESERVED in parts:
            raise ValueError("a series may not be called 'ts' (the point timestamp)")
        self.parts = parts
        self.units = dict(units or {})
        by_column = {column: part for column, part in self.lines}
        if ohlc:
            by_column[ohlc_name] = ohlc_name
        self.panels = dict(panels or {})
        for label, given in (("units", self.units), ("panels", self.panels)):
            unknown = sorted(set(given) - set(by_column))
            if unknown:
                raise ValueError(
                    f"{label} for {unknown}, which are not series columns {list(by_column)}"
                )
        #: part -> unit, part -> panel
        self.part_units = {by_column[c]: unit for c, unit in self.units.items()}
        self.part_panels = {by_column[c]: panel for c, panel in self.panels.items()}

    def series_names(self, key_value: str | None) -> dict[str, str]:
        """part -> series name, for rows of *key_value* (None: no key)."""
        if key_value is None:
            return {part: part for part in self.parts}
        label = sanitise_name(key_value)
        if not label:
            raise ValueError(f"key value {key_value!r} has no usable series name")
        if len(self.parts) == 1:
            names = {self.parts[0]: label}
        else:
            names = {part: f"{label}.{part}" for part in self.parts}
        if RESERVED in names.values():
            raise ValueError(f"key value {key_value!r}: a series may not be called 'ts'")
        for name in names.values():
            check_name(name, "series")
        return names

    def series(self, names: Mapping[str, str]) -> list[Series]:
        """The declared series for a part -> name map from :meth:`series_names`."""
        return [
            Series(
                names[part],
                kind="ohlc" if self.ohlc and part == self.ohlc_name else "line",
                unit=self.part_units.get(part, ""),
                panel=self.part_panels.get(part, ""),
            )
            for part in self.parts
        ]

    def key_of(self, fields: Mapping[str, Any]) -> str | None:
        """The row's key value (None without a key); RowError if it has none."""
        if self.key is None:
            return None
        raw = fields.get(self.key)
        value = "" if raw is None else str(raw).strip()
        if not value:
            raise RowError(f"no value for the key {self.key!r}")
        return value

    def values(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """part -> number (or bar) of one row; empty cells and nulls left out."""
        values: dict[str, Any] = {}
        for column, part in self.lines:
            if column not in fields:
                raise RowError(f"no value for {column!r}")
            if not _empty(fields[column]):
                values[part] = number(column, fields[column])
        if self.ohlc:
            raw = [fields.get(column) for column in self.ohlc]
            if not all(_empty(v) for v in raw):
                values[self.ohlc_name] = self._bar(raw)
        return values

    def _bar(self, raw: list[Any]) -> dict[str, Any]:
        if any(_empty(v) for v in raw):
            missing = [c for c, v in zip(self.ohlc, raw, strict=True) if _empty(v)]
            raise RowError(f"ohlc bar without {', '.join(missing)}")
        bar = {
            name: number(column, value)
            for name, column, value in zip(OHLC_FIELDS, self.ohlc, raw, strict=True)
        }
        low, high = bar["low"], bar["high"]
        if not low <= min(bar["open"], bar["close"]) <= max(bar["open"], bar["close"]) <= high:
            raise RowError(f"ohlc bar {bar}: low <= open, close <= high does not hold")
        return bar


def number(column: str, value: Any) -> int | float:
    """*value* (a number or numeric text) as a number the page can show exactly."""
    result: Any = value
    if isinstance(value, str):
        text = value.strip()
        try:
            result = int(text) if text.lstrip("+-").isdigit() else float(text)
        except ValueError:
            pass
    if isinstance(result, bool) or not isinstance(result, int | float):
        raise RowError(f"{column}: {value!r} is not a number")
    if not math.isfinite(result) or (isinstance(result, int) and abs(result) > MAX_SAFE_INTEGER):
        raise RowError(f"{column}: {value!r} is not a finite number")
    return result


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
