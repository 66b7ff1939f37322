"""The replay feed playing the real files of a public data package (vega_datasets).

The expected values come from pandas (which vega_datasets installs), an
independent reader of the same files: the feed must agree with it row by row.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
from contextlib import aclosing
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from feeds.base import BREAK, Break, FeedFailed, Skipped
from feeds.replay import Replay, replay

FAST = 1e12  # a speed at which the rows' gaps take no noticeable time
#: The vega_datasets files, found without importing the package (that imports pandas).
DATA = Path(importlib.util.find_spec("vega_datasets").submodule_search_locations[0]) / "_data"


def ms(text: str) -> int:
    """Milliseconds since the epoch of a UTC date(-time) in ISO-8601."""
    return round(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def pandas_ms(column: pd.Series) -> list[int]:
    return [round(t.timestamp() * 1000) for t in pd.to_datetime(column).dt.tz_localize("UTC")]


async def play(feed: Replay, limit: int = 100_000, timeout: float = 20.0) -> list:
    """What stream() yields, up to *limit* items."""
    out: list = []
    async with asyncio.timeout(timeout), aclosing(feed.stream()) as stream:
        async for item in stream:
            out.append(item if isinstance(item, Break | Skipped) else dict(item))
            if len(out) == limit:
                break
    return out


REAL = [
    # file, parameters, timestamp column, its first and last time, rows
    ("stocks.csv", {"key": "symbol"}, "date", "2000-01-01", "2010-03-01", 560),
    ("seattle-weather.csv", {}, "date", "2012-01-01", "2015-12-31", 1461),
    ("seattle-temps.csv", {}, "date", "2010-01-01T00:00", "2010-12-31T23:00", 8759),
    ("sf-temps.csv", {}, "date", "2010-01-01T00:00", "2010-12-31T23:00", 8759),
    ("us-employment.csv", {}, "month", "2006-01-01", "2015-12-01", 120),
    ("iowa-electricity.csv", {"key": "source"}, "year", "2001-01-01", "2017-01-01", 51),
    ("ohlc.json", {"ohlc": "open,high,low,close"}, "date", "2009-06-01", "2009-07-31", 44),
]


@pytest.mark.parametrize(("filename", "params", "column", "first", "last", "rows"), REAL)
async def test_every_real_file_plays_with_its_own_times(
    filename, params, column, first, last, rows
):
    """Each file's own date format is read (found without ts_field=): with
    clock=file the points carry the file's times, from its first to its last,
    in time order, with no row skipped."""
    feed = Replay(str(DATA / filename), speed=FAST, clock="file", **params)
    assert feed.prepared.source.layout.ts_field == column
    points = await play(feed)
    assert not [p for p in points if isinstance(p, Skipped | Break)]
    times = [p["ts"] for p in points]
    assert times[0] == ms(first) and times[-1] == ms(last)
    assert times == sorted(times) and len(set(times)) == len(times)
    values = sum(1 if not params.get("key") else len(p) - 1 for p in points)
    assert values == rows  # every row's values arrived (keyed rows share points)


@pytest.mark.parametrize(
    ("filename", "column"),
    [("seattle-weather.csv", "date"), ("sf-temps.csv", "date")],
)
async def test_times_and_values_agree_with_pandas(filename, column):
    """Row by row, the times and values equal what pandas reads from the file."""
    frame = pd.read_csv(DATA / filename)
    feed = Replay(str(DATA / filename), speed=FAST, clock="file")
    points = await play(feed)
    assert [p["ts"] for p in points] == pandas_ms(frame[column])
    numeric = [c for c in frame.columns if c != column and frame[c].dtype.kind in "if"]
    assert [s.name for s in feed.info.series] == numeric  # text columns (weather) left out
    assert [[p[c] for c in numeric] for p in points] == frame[numeric].values.tolist()


async def test_stocks_long_format_merges_all_five_symbols_in_time_order():
    """stocks.csv holds one block per symbol, each in time order: key=symbol
    makes one series per symbol and plays the blocks merged by date, every
    price at its date, with no 'time goes backwards'."""
    frame = pd.read_csv(DATA / "stocks.csv")
    frame["ts"] = pandas_ms(frame["date"])
    feed = Replay(str(DATA / "stocks.csv"), speed=FAST, clock="file", key="symbol")
    assert [s.name for s in feed.info.series] == ["MSFT", "AMZN", "IBM", "GOOG", "AAPL"]
    points = await play(feed)
    expected = [
        {"ts": ts, **dict(zip(group["symbol"], group["price"], strict=True))}
        for ts, group in frame.sort_values(["ts"], kind="stable").groupby("ts", sort=True)
    ]
    assert points == expected
    assert len(points) == 123 and {"GOOG"} < set(points[-1])  # GOOG starts in 2004


async def test_iowa_electricity_by_source():
    """iowa-electricity.csv (year, source, net_generation) with key=source:
    one series per source, named by it, each year's three values in one point."""
    frame = pd.read_csv(DATA / "iowa-electricity.csv")
    feed = Replay(str(DATA / "iowa-electricity.csv"), speed=FAST, key="source")
    assert [s.name for s in feed.info.series] == ["Fossil_Fuels", "Nuclear_Energy", "Renewables"]
    points = await play(feed)
    assert len(points) == 17 and all("ts" not in p for p in points)  # clock=now: no ts
    for source, series in [("Fossil Fuels", "Fossil_Fuels"), ("Renewables", "Renewables")]:
        expected = frame[frame["source"] == source]["net_generation"].tolist()
        assert [p[series] for p in points] == expected


async def test_ohlc_json_is_one_bar_series():
    """ohlc.json (a JSON array of objects): ohlc=open,high,low,close makes one
    series of kind ohlc whose bars are the file's; other numbers stay lines."""
    records = json.loads((DATA / "ohlc.json").read_text())
    feed = Replay(str(DATA / "ohlc.json"), speed=FAST, ohlc="open,high,low,close", ohlc_name="MSFT")
    assert [(s.name, s.kind) for s in feed.info.series] == [("ret", "line"), ("MSFT", "ohlc")]
    points = await play(feed)
    bars = [{k: r[k] for k in ("open", "high", "low", "close")} for r in records]
    assert [p["MSFT"] for p in points] == bars
    assert [p["ret"] for p in points] == [r["ret"] for r in records]


async def test_us_employment_has_a_series_per_column():
    """us-employment.csv: every column but the month is a series (23), 120 points."""
    frame = pd.read_csv(DATA / "us-employment.csv")
    feed = Replay(str(DATA / "us-employment.csv"), speed=FAST)
    columns = [c for c in frame.columns if c != "month"]
    assert len(frame.columns) == 24 and [s.name for s in feed.info.series] == columns
    points = await play(feed)
    assert [[p[c] for c in columns] for p in points] == frame[columns].values.tolist()


async def test_units_by_column():
    """units=price:USD gives every symbol's series the unit; seattle's temps °C."""
    stocks = Replay(str(DATA / "stocks.csv"), key="symbol", units="price:USD")
    assert {s.unit for s in stocks.info.series} == {"USD"}
    weather = Replay(str(DATA / "seattle-weather.csv"), units="temp_max:°C,temp_min:°C")
    assert {s.name: s.unit for s in weather.info.series} == {
        "precipitation": "",
        "temp_max": "°C",
        "temp_min": "°C",
        "wind": "",
    }
    with pytest.raises(ValueError, match=r"units for \['volume'\], which are not series"):
        Replay(str(DATA / "stocks.csv"), key="symbol", units="volume:shares")


async def test_split_feeds_makes_one_feed_per_symbol():
    """split=feeds: one feed per symbol (stocks.<symbol>, series price), each
    with exactly that symbol's prices."""
    frame = pd.read_csv(DATA / "stocks.csv")
    feeds = replay(str(DATA / "stocks.csv"), key="symbol", split="feeds", speed=FAST)
    assert [f.info.name for f in feeds] == [f"stocks.{s}" for s in frame["symbol"].unique()]
    for feed in feeds:
        assert [s.name for s in feed.info.series] == ["price"]
        symbol = feed.info.name.split(".", 1)[1]
        prices = [p["price"] for p in await play(feed)]
        assert prices == frame[frame["symbol"] == symbol]["price"].tolist()


async def test_a_bare_year_column_and_the_2000_limit_of_clock_file():
    """driving.json's `year` numbers are years (1956 is 1956-01-01); with
    clock=file a file before 2000 fails at creation saying so, clock=now plays it."""
    with pytest.raises(ValueError, match=r"starts at 1956-01-01 00:00:00 UTC, before 2000-01-01"):
        Replay(str(DATA / "driving.json"), clock="file")
    feed = Replay(str(DATA / "driving.json"), speed=FAST)
    assert feed.prepared.first_ms == ms("1956-01-01")
    records = json.loads((DATA / "driving.json").read_text())
    assert [p["miles"] for p in await play(feed)] == [r["miles"] for r in records]


async def test_loop_with_file_clock_breaks_and_moves_on_in_time():
    """loop=true, clock=file: BREAK before each new pass, whose times are the
    file's shifted by its span plus one median interval (here a year, 2017 ->
    2018): time never goes backwards."""
    feed = Replay(
        str(DATA / "iowa-electricity.csv"), speed=FAST, key="source", loop=True, clock="file"
    )
    feed.wall_clock = lambda: ms("2100-01-01") / 1000  # far enough for three passes
    items = await play(feed, limit=17 * 3 + 2)
    assert [i for i, item in enumerate(items) if item is BREAK] == [17, 35]
    points = [item for item in items if item is not BREAK]
    times = [p["ts"] for p in points]
    assert all(a < b for a, b in zip(times, times[1:], strict=False))
    assert times[17] == ms("2017-01-01") + 365 * 86_400_000  # the median interval: 365 days
    assert points[17] == {**points[0], "ts": times[17]}


async def test_loop_with_file_clock_stops_before_stamping_the_future():
    """A clock=file loop whose next pass would be over a day ahead of now fails
    (FeedFailed) before it, after playing the passes that fit."""
    feed = Replay(str(DATA / "stocks.csv"), speed=FAST, key="symbol", loop=True, clock="file")
    feed.wall_clock = lambda: ms("2021-01-01") / 1000  # pass 2 ends in 2020: fits; 3 does not
    got: list = []
    with pytest.raises(FeedFailed, match=r"pass 3: .*over a day ahead of now"):
        async with aclosing(feed.stream()) as stream:
            async for item in stream:
                got.append(item)
    assert got.count(BREAK) == 1 and len(got) == 123 * 2 + 1


def corrupted_stocks(tmp_path: Path) -> tuple[str, list[str]]:
    """stocks.csv with four bad rows; their line numbers are 2 more than the index."""
    lines = (DATA / "stocks.csv").read_text().splitlines()
    lines[10] = "MSFT,Nov 31st of never,30.0"  # line 11: an unreadable date
    lines[20] = "MSFT,Sep 1 2001,n/a"  # line 21: not a number
    lines[130] = "AMZN,Dec 1 2000"  # line 131: a field missing
    lines[140] = "AMZN,Jan 1 2000,1.0"  # line 141: back in time within AMZN
    path = tmp_path / "stocks.csv"
    path.write_text("\n".join(lines) + "\n")
    return str(path), lines


async def test_bad_rows_of_a_real_file_are_skipped_with_their_line(tmp_path):
    """Each bad row is reported as Skipped('line n: ...'); every other row plays."""
    path, _ = corrupted_stocks(tmp_path)
    items = await play(Replay(path, speed=FAST, key="symbol"))
    skipped = sorted(item.reason for item in items if isinstance(item, Skipped))
    assert [reason.split(":")[0] for reason in skipped] == [
        "line 11",
        "line 131",
        "line 141",
        "line 21",
    ]
    assert skipped[0].startswith("line 11: timestamp 'Nov 31st of never' is not a date")
    assert skipped[1] == "line 131: 2 fields where the header has 3"
    assert skipped[2].startswith("line 141: time goes backwards within 'AMZN'")
    assert skipped[3] == "line 21: price: 'n/a' is not a number"
    assert sum(len(p) for p in items if isinstance(p, dict)) == 560 - 4


async def test_on_error_fail_stops_at_the_first_bad_row(tmp_path):
    """on_error=fail: FeedFailed naming the file and line, after every point before it."""
    path, _ = corrupted_stocks(tmp_path)
    feed = Replay(path, speed=FAST, key="symbol", on_error="fail")
    got: list = []
    with pytest.raises(FeedFailed, match=r"stocks.csv, line 131: 2 fields where the header has 3"):
        async with aclosing(feed.stream()) as stream:
            async for item in stream:
                got.append(dict(item))
    # Merged by date, the first bad row is AMZN's July 2000 (line 131); it goes
    # with the row above it in its block (June 2000): the points of January to
    # May 2000 and June's MSFT and AMZN prices came first, unchanged.
    frame = pd.read_csv(DATA / "stocks.csv")
    msft = frame[frame["symbol"] == "MSFT"]["price"].tolist()
    assert [p["MSFT"] for p in got] == msft[:6]
    assert [sorted(p) for p in got[5:]] == [["AMZN", "MSFT"]]
    assert [len(p) for p in got] == [4] * 5 + [2]


async def test_panels_by_column_group_series_into_rows_of_the_chart():
    """panels=temp_max:temp,temp_min:temp puts both temperatures in one row,
    for every key's series too; a bad panel is refused with one line."""
    weather = Replay(
        str(DATA / "seattle-weather.csv"),
        units="temp_max:°C,temp_min:°C,precipitation:mm",
        panels="temp_max:temp,temp_min:temp",
    )
    assert {s.name: s.panel for s in weather.info.series} == {
        "precipitation": "",
        "temp_max": "temp",
        "temp_min": "temp",
        "wind": "",
    }
    stocks = Replay(str(DATA / "stocks.csv"), key="symbol", panels={"price": "prices"})
    assert {s.panel for s in stocks.info.series} == {"prices"}
    with pytest.raises(ValueError, match=r"panels for \['volume'\], which are not series"):
        Replay(str(DATA / "stocks.csv"), key="symbol", panels="volume:v")
    with pytest.raises(ValueError, match=r"panels: 'wind' is not column:panel"):
        Replay(str(DATA / "seattle-weather.csv"), panels="wind")
    with pytest.raises(ValueError, match=r"invalid panels: 'wind':.* name 'a b'"):
        Replay(str(DATA / "seattle-weather.csv"), panels="wind:a b")
