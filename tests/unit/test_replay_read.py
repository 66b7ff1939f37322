"""Reading replayed files: JSON arrays streamed, rows resumable at their offsets."""

from __future__ import annotations

import importlib.util
import json
import tracemalloc
from pathlib import Path

import pytest

from feeds import replay_read
from feeds.base import FeedFailed, Skipped
from feeds.replay import Replay
from feeds.replay_read import FileFormatError, read_header, records

DATA = Path(importlib.util.find_spec("vega_datasets").submodule_search_locations[0]) / "_data"


def all_records(path: Path, fmt: str, header=None, line=1, offset=0):
    with path.open("rb") as file:
        return list(records(file, fmt, path, header, line, offset))


@pytest.mark.parametrize("chunk", [1, 7, 64 * 1024])
def test_json_array_streams_every_object_with_its_line(monkeypatch, chunk):
    """ohlc.json read a few bytes at a time gives the same objects as json.load,
    each with the line it starts on (numbers cut by a chunk's end included)."""
    monkeypatch.setattr(replay_read, "CHUNK", chunk)
    got = all_records(DATA / "ohlc.json", "json")
    assert [r.fields for r in got] == json.loads((DATA / "ohlc.json").read_text())
    assert [r.line for r in got] == list(range(2, 2 + len(got)))  # one object a line


@pytest.mark.parametrize(("filename", "fmt"), [("ohlc.json", "json"), ("stocks.csv", "csv")])
def test_a_reader_resumes_at_a_records_offset(filename, fmt):
    """Starting at a record's byte offset and line gives the same records from there."""
    path = DATA / filename
    header = read_header(path) if fmt == "csv" else None
    whole = all_records(path, fmt, header)
    middle = whole[len(whole) // 2]
    assert all_records(path, fmt, header, middle.line, middle.offset) == whole[len(whole) // 2 :]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[{"ts": 1, "v": 1},\n{"ts": 2, "v": }]', r"line 2: malformed JSON: Expecting value"),
        ('[{"ts": 1, "v": 1}\n{"ts": 2, "v": 2}]', r"line 2: malformed JSON array: '\{' where ,"),
        ('[{"ts": 1, "v": 1}', r"line 1: malformed JSON array: the end of the file where"),
        ('[{"ts": 1, "v": 1}] x', r"line 1: malformed JSON array: text after the closing \]"),
    ],
)
async def test_a_broken_json_array_fails_the_feed_where_it_breaks(tmp_path, text, message):
    """A JSON array broken mid-way cannot be read on: FeedFailed naming the
    line, after the objects before it played."""
    path = tmp_path / "broken.json"
    path.write_text(text)
    got: list = []
    with pytest.raises(FeedFailed, match=message):
        async for item in Replay(str(path), speed=1e12).stream():
            got.append(item)
    assert got == [{"v": 1}]


def test_empty_json_array_and_bom(tmp_path):
    path = tmp_path / "e.json"
    path.write_bytes(b"\xef\xbb\xbf [ ]\n")
    assert all_records(path, "json") == []
    path.write_text("")
    with pytest.raises(FileFormatError, match="the end of the file where \\[ belongs"):
        all_records(path, "json")


async def test_a_big_json_array_streams_without_being_read_whole(tmp_path):
    """The first points of a large JSON array arrive with memory far below its size."""
    path = tmp_path / "big.json"
    row = '{{"ts": {}, "a": 1.25, "b": 2.5, "note": "padding padding padding"}}'
    path.write_text("[\n" + ",\n".join(row.format(i) for i in range(150_000)) + "\n]\n")
    size = path.stat().st_size
    assert size > 8_000_000
    feed = Replay(str(path), speed=1e12)
    tracemalloc.start()
    try:
        got = []
        async for values in feed.stream():
            got.append(values)
            if len(got) == 5:
                break
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert got == [{"a": 1.25, "b": 2.5}] * 5
    assert peak < size / 20, f"peak {peak} bytes for a {size}-byte file"


async def test_interleaved_long_format_plays_in_file_order(tmp_path):
    """Keys interleaved in time (one run) play as they are; a key's row back in
    time is skipped with its line, the other keys' rows at that time still play."""
    path = tmp_path / "mixed.csv"
    path.write_text(
        "time,sensor,temp,hum\n"
        "2024-01-01T00:00Z,a,1,10\n"
        "2024-01-01T00:00Z,b,2,20\n"
        "2024-01-01T00:01Z,a,3,30\n"
        "2024-01-01T00:00:30Z,a,9,90\n"  # line 5: back in time within a
        "2024-01-01T00:01Z,b,4,\n"
    )
    feed = Replay(str(path), speed=1e12, key="sensor", clock="file")
    assert [s.name for s in feed.info.series] == ["a.temp", "a.hum", "b.temp", "b.hum"]
    items = [item async for item in feed.stream()]
    t0 = 1_704_067_200_000
    assert items == [
        {"a.temp": 1, "a.hum": 10, "b.temp": 2, "b.hum": 20, "ts": t0},
        {"a.temp": 3, "a.hum": 30, "ts": t0 + 60_000},
        Skipped(
            "line 5: time goes backwards within 'a': 2024-01-01 00:00:30 UTC "
            "is before 2024-01-01 00:01:00 UTC"
        ),
        {"b.temp": 4, "ts": t0 + 60_000},
    ]
