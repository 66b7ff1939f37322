"""Timestamps of replayed files: the column found, the formats read, numbers' units."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime
from pathlib import Path

import pytest

from feeds.replay import Replay
from feeds.replay_times import TimeReader, find_ts_field, number_unit

DATA = Path(importlib.util.find_spec("vega_datasets").submodule_search_locations[0]) / "_data"


def ms(text: str) -> float:
    moment = datetime.fromisoformat(text)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp() * 1000


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("Jan 1 2000", "2000-01-01"),  # stocks.csv
        ("Mar 1 2010", "2010-03-01"),
        ("2012/01/01", "2012-01-01"),  # seattle-weather.csv
        ("2010/01/01 00:00", "2010-01-01"),  # seattle-temps.csv
        ("2010/12/31 23:00:00", "2010-12-31T23:00"),  # sf-temps.csv
        ("2006-01-01", "2006-01-01"),  # us-employment.csv
        ("2024-05-01T09:30:00.250Z", "2024-05-01T09:30:00.250+00:00"),
        ("2024-05-01 11:30:00+02:00", "2024-05-01T09:30:00+00:00"),
        ("2024-05-01 09:30", "2024-05-01T09:30:00+00:00"),  # naive: UTC
        ("1 March 2021 14:05", "2021-03-01T14:05"),
        ("01/02/2012", "2012-01-02"),  # month first, as dateutil reads it
    ],
)
def test_text_dates_in_common_formats(text, iso):
    """Dates as real files write them are read; naive ones are UTC."""
    assert TimeReader()(text) == ms(iso)


def test_ts_format_skips_guessing():
    """ts_format= reads exactly that format (day first here), and nothing else."""
    reader = TimeReader(ts_format="%d/%m/%Y")
    assert reader("01/02/2012") == ms("2012-02-01")
    with pytest.raises(ValueError, match="does not match ts_format '%d/%m/%Y'"):
        reader("2012-02-01")


@pytest.mark.parametrize("text", ["yesterday", "Nov 31 2000", "2012-13-01", "", "nan"])
def test_unreadable_times_say_so(text):
    with pytest.raises(ValueError, match=r"timestamp|empty|finite"):
        TimeReader()(text)


@pytest.mark.parametrize(
    ("field", "first", "unit"),
    [
        ("ts", 1_700_000_000_000, "ms"),  # epoch milliseconds
        ("ts", "1700000000000", "ms"),
        ("ts", 1_700_000_000, "s"),  # epoch seconds
        ("ts", 1_700_000_000.5, "s"),
        ("ts", 0, "ms"),  # small numbers: ms offsets, as replay always read them
        ("ts", 1000, "ms"),
        ("year", 1956, "year"),  # driving.json
        ("Year", "2001", "year"),
        ("date", "2012/01/01", "ms"),  # text: the unit is unused
    ],
)
def test_how_a_bare_number_is_read(field, first, unit):
    """auto: a 'year' column holds years, else by the first value's magnitude."""
    assert number_unit(field, first) == unit


def test_number_units():
    assert TimeReader("s")(1_700_000_000) == 1_700_000_000_000
    assert TimeReader("ms")(1_700_000_000_000) == 1_700_000_000_000
    assert TimeReader("year")(1956) == ms("1956-01-01")
    assert TimeReader("year")("2001") == ms("2001-01-01")
    with pytest.raises(ValueError, match="is not a year"):
        TimeReader("year")(1956.5)


@pytest.mark.parametrize(
    ("columns", "found"),
    [
        (["symbol", "date", "price"], "date"),  # stocks.csv
        (["temp", "date"], "date"),  # sf-temps.csv
        (["month", "nonfarm"], "month"),  # us-employment.csv
        (["side", "year", "miles"], "year"),  # driving.json
        (["Timestamp", "v"], "Timestamp"),
        (["date", "time", "v"], "time"),  # the more specific name wins
        (["when", "v"], None),
    ],
)
def test_timestamp_column_found_by_name(columns, found):
    assert find_ts_field(columns) == found


def test_ts_field_and_ts_unit_settings_on_a_real_file(tmp_path):
    """ts_field=date picks the column; ts_unit=s reads epoch seconds even when small."""
    feed = Replay(str(DATA / "stocks.csv"), ts_field="date", key="symbol")
    assert feed.prepared.first_ms == ms("2000-01-01")
    path = tmp_path / "s.csv"
    path.write_text("ts,v\n10,1\n20,2\n")
    assert Replay(str(path), ts_unit="s").prepared.first_ms == 10_000
    assert Replay(str(path)).prepared.first_ms == 10  # auto: small numbers are ms
