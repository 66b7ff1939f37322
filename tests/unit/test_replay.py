"""The replay feed: a CSV or NDJSON file played back as a live feed."""

from __future__ import annotations

import asyncio
import json
import os
import tracemalloc
from contextlib import aclosing
from pathlib import Path

import pytest

from feeds.base import BREAK, FeedFailed, FeedSource, Skipped
from feeds.replay import Replay

FAST = 1e6  # a speed at which the rows' gaps take no noticeable time


def write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def ndjson(path: Path, *records: dict) -> str:
    return write(path, "".join(json.dumps(r) + "\n" for r in records))


async def collect(feed: Replay, limit: int = 1000, timeout: float = 5.0) -> list[dict]:
    """Up to *limit* points, with set-up and teardown as the dashboard does."""
    points: list[dict] = []
    await feed.setup()
    try:
        async with asyncio.timeout(timeout):
            async with aclosing(feed.stream()) as stream:
                async for values in stream:
                    points.append(values if isinstance(values, Skipped) else dict(values))
                    if len(points) == limit:
                        break
    finally:
        await feed.teardown()
    return points


async def timed(feed: Replay, limit: int) -> list[tuple[float, dict]]:
    """Up to *limit* points, each with the seconds from the stream's start to
    its arrival (a BREAK as {}). Measured from the start, not from the first
    point: on an absolute schedule a late first point lets the next come
    sooner after it, but no point comes before its time since the start."""
    loop = asyncio.get_running_loop()
    out: list[tuple[float, dict]] = []
    start = loop.time()
    async with asyncio.timeout(5), aclosing(feed.stream()) as stream:
        async for values in stream:
            out.append((loop.time() - start, {} if values is BREAK else dict(values)))
            if len(out) == limit:
                break
    return out


CSV = "ts,price,volume,symbol\n1000,101.5,300,ACME\n1100,101.7,,ACME\n1100,-2,0,ACME\n"


async def test_csv_series_discovered_and_values_exact_in_order(tmp_path):
    """A CSV's numeric columns become series; rows come out in order with exact values."""
    feed = Replay(write(tmp_path / "prices.csv", CSV), speed=FAST)
    assert isinstance(feed, FeedSource)
    assert feed.info.name == "prices"
    assert [s.name for s in feed.info.series] == ["price", "volume"]  # text column left out
    points = await collect(feed)
    assert points == [{"price": 101.5, "volume": 300}, {"price": 101.7}, {"price": -2, "volume": 0}]
    assert all("ts" not in p for p in points)
    assert type(points[0]["volume"]) is int


async def test_ndjson_series_discovered_and_values_exact_in_order(tmp_path):
    """NDJSON's numeric keys of the first record are the series; null means no value."""
    path = ndjson(
        tmp_path / "sensors.jsonl",
        {"t": 5, "temp": 20.5, "note": "start", "hum": None},
        {"t": 6, "temp": 20.25, "hum": 55, "extra": 1},
        {"t": 6.5, "temp": "21", "hum": 56.5},
    )
    feed = Replay(path, speed=FAST, ts_field="t")
    assert (feed.info.name, [s.name for s in feed.info.series]) == ("sensors", ["temp", "hum"])
    assert await collect(feed) == [
        {"temp": 20.5},
        {"temp": 20.25, "hum": 55},
        {"temp": 21, "hum": 56.5},
    ]


async def test_speed_scales_the_pace(tmp_path):
    """Rows 100 ms apart at speed=10 arrive at least ~10 ms apart, in order."""
    rows = "".join(f"{1_700_000_000_000 + 100 * i},{i}\n" for i in range(6))
    feed = Replay(write(tmp_path / "pace.csv", "ts,v\n" + rows), speed=10)
    got = await timed(feed, 6)
    assert [v for _, v in got] == [{"v": i} for i in range(6)]
    # On an absolute schedule a late point lets the next one come sooner, so
    # check each point against the start rather than against its neighbour.
    for i, (at, _) in enumerate(got):
        assert at >= i * 0.010 * 0.9, f"point {i} came early"


async def test_iso_timestamps_with_and_without_timezone(tmp_path):
    """ISO-8601 times pace the replay; a naive time is UTC, so it equals the same Z time."""
    text = (
        "when,v\n"
        "2024-05-01T09:30:00Z,1\n"
        "2024-05-01 09:30:00.200,2\n"  # naive: UTC, 200 ms after the first
        "2024-05-01T11:30:00.400+02:00,3\n"  # 09:30:00.400 UTC
    )
    feed = Replay(write(tmp_path / "iso.csv", text), speed=10, ts_field="when")
    got = await timed(feed, 3)
    assert [v for _, v in got] == [{"v": 1}, {"v": 2}, {"v": 3}]
    assert got[1][0] >= 0.020 * 0.9
    assert got[2][0] >= 0.040 * 0.9


async def test_loop_repeats_after_one_median_interval_with_a_break(tmp_path):
    """loop=True starts over at the end, one median row interval after the last
    row, with a BREAK before each new pass so the page does not join them."""
    # Intervals 10, 10, 30 ms: median 10 ms, so pass 2 starts 10 ms after row 4.
    feed = Replay(write(tmp_path / "l.csv", "ts,v\n0,1\n10,2\n20,3\n50,4\n"), speed=1, loop=True)
    got = await timed(feed, 11)
    assert [v.get("v", "BREAK") for _, v in got] == [1, 2, 3, 4, "BREAK", 1, 2, 3, 4, "BREAK", 1]
    points = [at for at, v in got if v]
    assert points[4] >= 0.060 * 0.9  # 50 ms of rows, then the 10 ms gap
    assert points[8] >= 0.120 * 0.9


async def test_without_loop_the_stream_ends(tmp_path):
    """loop=False: the stream ends after the last row; a restart (set-up) plays it again."""
    feed = Replay(write(tmp_path / "once.csv", "ts,v\n0,1\n1,2\n"), speed=FAST)
    assert await collect(feed) == [{"v": 1}, {"v": 2}]
    assert await collect(feed) == [{"v": 1}, {"v": 2}]


def open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_stream_without_setup_opens_and_closes_the_file(tmp_path):
    """stream() on its own works, and leaves no file open after it ends."""
    feed = Replay(write(tmp_path / "alone.ndjson", '{"ts": 0, "v": 1}\n'), speed=FAST)
    before = open_files()
    assert [v async for v in feed.stream()] == [{"v": 1}]
    assert open_files() == before


BAD = [
    ("back.csv", "ts,v\n10,1\n20,2\n15,3\n", 4, "backwards"),
    ("text.csv", "ts,v\n10,1\n20,abc\n", 3, "v: 'abc' is not a number"),
    ("nan.csv", "ts,v\n10,1\n20,nan\n", 3, "not a finite number"),
    ("huge.csv", "ts,v\n10,1\n20,9007199254740993\n", 3, "not a finite number"),
    ("short.csv", "ts,v,w\n10,1,2\n20,1\n", 3, "2 fields where the header has 3"),
    ("long.csv", "ts,v\n10,1\n20,1,2\n", 3, "3 fields"),
    ("quote.csv", 'ts,v\n10,1\n20,"2"x\n', 3, "malformed CSV"),
    ("badts.csv", "ts,v\n10,1\nyesterday,2\n", 3, "'yesterday' is not a date or time"),
    ("nots.csv", "ts,v\n10,1\n,2\n", 3, "empty timestamp"),
    ("blank.csv", "ts,v\n10,1\n\n20,x\n", 4, "not a number"),  # blank lines still count
    ("json.ndjson", '{"ts": 1, "v": 1}\n{"ts": 2, "v": \n', 2, "malformed JSON"),
    ("list.ndjson", '{"ts": 1, "v": 1}\n[2, 2]\n', 2, "an array, not a JSON object"),
    ("miss.ndjson", '{"ts": 1, "v": 1}\n{"ts": 2}\n', 2, "no value for 'v'"),
    ("str.ndjson", '{"ts": 1, "v": 1}\n\n{"ts": 2, "v": "high"}\n', 3, "not a number"),
    ("bool.ndjson", '{"ts": 1, "v": 1}\n{"ts": 2, "v": true}\n', 2, "not a number"),
    ("nots.ndjson", '{"ts": 1, "v": 1}\n{"v": 2}\n', 2, "no timestamp 'ts'"),
    ("arr.json", '[{"ts": 1, "v": 1},\n"x",\n{"ts": 3, "v": 3}]', 2, "a string, not a JSON"),
    (
        "iso.ndjson",
        '{"ts": "2024-01-01T00:00:01Z", "v": 1}\n{"ts": "2024-01-01T00:00:00Z", "v": 2}\n',
        2,
        "backwards",
    ),
]


@pytest.mark.parametrize(("filename", "text", "line", "what"), BAD, ids=[b[0] for b in BAD])
async def test_bad_rows_are_skipped_with_their_line(tmp_path, filename, text, line, what):
    """Each kind of bad row is yielded as Skipped('line n: ...') and the replay
    goes on (it used to raise, and the dashboard restarted the feed forever)."""
    path = write(tmp_path / filename, text)
    items = await collect(Replay(path, speed=FAST))
    skipped = [item for item in items if isinstance(item, Skipped)]
    assert len(skipped) == 1 and skipped[0].reason.startswith(f"line {line}: ")
    assert what in skipped[0].reason
    assert items[0]["v"] == 1  # the good row before it still played


@pytest.mark.parametrize(("filename", "text", "line", "what"), BAD, ids=[b[0] for b in BAD])
async def test_on_error_fail_raises_feed_failed_naming_file_and_line(
    tmp_path, filename, text, line, what
):
    """on_error=fail: the first bad row raises FeedFailed (the feed ends as
    failed, not restarted), after the rows before it were yielded."""
    path = write(tmp_path / filename, text)
    got: list = []
    with pytest.raises(FeedFailed, match=what) as raised:
        async for values in Replay(path, speed=FAST, on_error="fail").stream():
            got.append(values)
    assert f"{path}, line {line}:" in str(raised.value)
    assert got[0]["v"] == 1


@pytest.mark.parametrize("suffix", [".csv", ".ndjson"])
async def test_invalid_utf8_is_skipped_with_its_line(tmp_path, suffix):
    """Bytes that are not UTF-8 make a skipped row naming its line; the rest plays."""
    path = tmp_path / f"bin{suffix}"
    rows = (
        b"ts,v\n1,1\n2,\xff\n3,3\n"
        if suffix == ".csv"
        else b'{"ts":1,"v":1}\n\n{"ts":2,"\xff":1}\n{"ts":3,"v":3}\n'
    )
    path.write_bytes(rows)
    items = await collect(Replay(str(path), speed=FAST))
    assert items[0] == {"v": 1} and items[-1] == {"v": 3}
    assert [i.reason[:18] for i in items[1:-1]] == ["line 3: not UTF-8 "]


@pytest.mark.parametrize(
    ("filename", "text", "message"),
    [
        ("nots.csv", "when,v\n1,1\n", r"nots.csv, line 1: no timestamp column \(ts, timestamp"),
        ("nots.ndjson", '{"t": 1, "v": 1}\n', r"nots.ndjson, line 1: no timestamp column"),
        ("field.csv", "ts,v\n1,1\n", r"field.csv: no timestamp field 'when'"),
        ("empty.ndjson", "\n", r"empty.ndjson: no rows to replay"),
        ("empty.csv", "", r"empty.csv: empty file"),
        ("header.csv", "ts,v\n", r"header.csv: no rows to replay"),
        ("dup.csv", "ts,v,v\n1,1,1\n", r"dup.csv, line 1: a column name appears twice"),
        ("nonum.csv", "ts,name\n1,x\n", r"nonum.csv: no numeric columns"),
        ("reserved.csv", "time,ts,v\n1,2,3\n", r"may not be called 'ts'"),
        ("first.csv", "ts,v\nsoon,1\n2,2\n", r"first.csv, line 2: timestamp 'soon' is not"),
        ("firstv.csv", "ts,v\n1,1e999\n", r"firstv.csv, line 2: v: '1e999' is not a finite"),
        ("noyear.csv", "ts,v\n12:30,1\n", r"line 2: timestamp '12:30' has no year"),
        ("obj.json", "{}", r"obj.json, line 1: malformed JSON array: '{' where \[ belongs"),
        ("data.txt", "ts,v\n1,1\n", r"unknown extension '.txt'"),
    ],
)
def test_bad_files_raise_at_construction(tmp_path, filename, text, message):
    """Files the feed cannot describe, or whose first row cannot be read, fail
    when the feed is created with one line naming the file."""
    path = write(tmp_path / filename, text)
    ts_field = {"reserved.csv": "time", "field.csv": "when"}.get(filename)
    with pytest.raises(ValueError, match=message) as raised:
        Replay(path, ts_field=ts_field)
    assert "\n" not in str(raised.value)


def test_missing_file_and_bad_parameters(tmp_path):
    """A missing file is FileNotFoundError; speed <= 0 (or not finite) is ValueError."""
    with pytest.raises(FileNotFoundError, match=r"replay file not found: .*nope\.csv"):
        Replay(str(tmp_path / "nope.csv"))
    path = write(tmp_path / "ok.csv", "ts,v\n1,1\n")
    for speed in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="speed"):
            Replay(path, speed=speed)
    with pytest.raises(TypeError, match="loop"):
        Replay(path, loop="yes")  # type: ignore[arg-type]
    for setting, value in [("clock", "wall"), ("on_error", "ignore"), ("ts_unit", "days")]:
        with pytest.raises(ValueError, match=f"{setting} must be one of"):
            Replay(path, **{setting: value})
    with pytest.raises(ValueError, match="ohlc must name four different columns"):
        Replay(path, ohlc="v,v,v,v")
    with pytest.raises(ValueError, match="ts_format must be a strptime format"):
        Replay(path, ts_format="yyyy-mm-dd")


@pytest.mark.parametrize(
    ("stem", "expected"),
    [
        ("my data (v2)", "my_data_v2"),
        ("Ünïcode—feed", "Unicode_feed"),
        ("__.hidden", "hidden"),
        ("###", "replay"),
        ("x" * 80, "x" * 64),
        ("ok-name.v1", "ok-name.v1"),
    ],
)
def test_feed_name_is_the_sanitised_stem(tmp_path, stem, expected):
    """The default feed name is the file's stem reduced to the allowed alphabet, max 64."""
    feed = Replay(write(tmp_path / f"{stem}.csv", "ts,v\n1,1\n"))
    assert feed.info.name == expected


def test_explicit_name_and_sanitised_series_names(tmp_path):
    """name= sets the feed name (checked, not rewritten); column names are sanitised."""
    path = write(tmp_path / "f.csv", "ts,temp (°C),rel. humidity %\n1,20,50\n")
    feed = Replay(path, name="lab-1")
    assert feed.info.name == "lab-1"
    assert [s.name for s in feed.info.series] == ["temp_C", "rel._humidity"]
    with pytest.raises(ValueError, match="invalid feed name"):
        Replay(path, name="bad name!")


async def test_big_file_streams_without_being_read_whole(tmp_path):
    """The first rows of a large file arrive with memory far below the file's size."""
    path = tmp_path / "big.csv"
    row = "{},1.25,2.5,3.75,4.125,5.0625\n"
    path.write_text("ts,a,b,c,d,e\n" + "".join(row.format(i) for i in range(300_000)))
    size = path.stat().st_size
    assert size > 8_000_000
    feed = Replay(str(path), speed=FAST)
    tracemalloc.start()
    try:
        got = await timed(feed, 5)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [v["a"] for _, v in got] == [1.25] * 5
    assert peak < size / 20, f"peak {peak} bytes for a {size}-byte file"
