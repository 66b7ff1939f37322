"""What a replay learns about its file when the feed is created.

Everything that can be wrong with the file as a whole, or with its header or
first row, fails here with one line naming the file (and line): the format,
the timestamp column and how its values read, the series, the key values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from feeds.replay_columns import Layout, RowError, parse_ohlc, parse_panels, parse_units
from feeds.replay_read import FORMATS, Record, read_header, records
from feeds.replay_rows import Index, Source, build_index
from feeds.replay_times import TS_FIELD_NAMES, TimeReader, find_ts_field, number_unit


@dataclass(frozen=True)
class Prepared:
    """A file ready to play."""

    source: Source
    index: Index | None  # with a key: its values, runs and rows out of order
    first_ms: float  # the earliest time of a good row
    last_ms: float | None  # the latest (known at creation only with a key)


def prepare(
    path: Path,
    *,
    ts_field: str | None,
    ts_format: str | None,
    ts_unit: str,
    key: str | None,
    ohlc: str | Sequence[str] | None,
    ohlc_name: str,
    units: str | Mapping[str, str] | None,
    panels: str | Mapping[str, str] | None = None,
) -> Prepared:
    """Read the file's header and first row (and, with a key, the whole file
    once); ValueError or FileNotFoundError with one line if it cannot be played."""
    fmt = _format_of(path, ts_format)
    header = read_header(path) if fmt == "csv" else None
    first = _first_record(path, fmt, header)
    fields = header if header is not None else list(first.fields or {})
    if ts_field is None:
        ts_field = find_ts_field(fields)
        if ts_field is None:
            raise ValueError(
                f"{path}, line {1 if header else first.line}: no timestamp column "
                f"({', '.join(TS_FIELD_NAMES)}) in {fields}; set ts_field="
            )
    elif ts_field not in fields:
        raise ValueError(f"{path}: no timestamp field {ts_field!r} in {fields} (set ts_field=)")
    row = first.fields or {}
    try:
        layout = Layout(
            fields,
            row,
            ts_field=ts_field,
            key=key,
            ohlc=parse_ohlc(ohlc),
            ohlc_name=ohlc_name,
            units=parse_units(units),
            panels=parse_panels(panels),
        )
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    try:
        read_time = TimeReader(number_unit(ts_field, row.get(ts_field), ts_unit), ts_format)
        first_ms = read_time(row.get(ts_field, ""))
        read_time.check_has_year(row.get(ts_field))
        layout.key_of(row)
        layout.values(row)
    except (RowError, ValueError) as exc:
        raise ValueError(f"{path}, line {first.line}: {exc}") from None
    source = Source(path, fmt, header, layout, read_time)
    if key is None:
        return Prepared(source, None, first_ms, None)
    index = build_index(source)
    return Prepared(source, index, index.first_ms, index.last_ms)


def _format_of(path: Path, ts_format: str | None) -> str:
    """The file's format, once the checks that need no reading pass."""
    fmt = FORMATS.get(path.suffix.lower(), "")
    if not fmt:
        raise ValueError(
            f"replay file {str(path)!r}: unknown extension {path.suffix!r}; "
            f"use one of {', '.join(FORMATS)}"
        )
    if not path.is_file():
        raise FileNotFoundError(
            f"replay file not found: {str(path)!r} (resolved: {path.resolve()})"
        )
    if ts_format is not None and (not isinstance(ts_format, str) or "%" not in ts_format):
        raise ValueError(f"ts_format must be a strptime format like %Y-%m-%d, not {ts_format!r}")
    return fmt


def _first_record(path: Path, fmt: str, header: list[str] | None) -> Record:
    with path.open("rb") as file, closing(records(file, fmt, path, header)) as rows:
        first = next(rows, None)
    if first is None:
        raise ValueError(f"{path}: no rows to replay")
    if first.fields is None:
        raise ValueError(f"{path}, line {first.line}: {first.problem}")
    return first
