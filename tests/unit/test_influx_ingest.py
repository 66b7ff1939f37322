"""InfluxDB writes as push ingest: series names, errors by line, gzip, tokens."""

from __future__ import annotations

import base64
import gzip
import zlib

import pytest

from dashboard.influx_ingest import gunzip, parse_body, series_name, to_batch, token_of
from dashboard.ingest import IngestError
from feeds.base import FeedInfo, Series

NOW = 1_764_000_000_000


def batch(text: str, feeds: dict | None = None, **kwargs):
    lines = parse_body(text.encode(), "ms", NOW, 1000)
    return to_batch("f", lines, feeds or {}, create=True, now_ms=NOW, **kwargs)


def refusal(text: str, feeds: dict | None = None, **kwargs) -> IngestError:
    with pytest.raises(IngestError) as caught:
        batch(text, feeds, **kwargs)
    return caught.value


def test_series_are_measurement_field_then_tag_values_by_tag_key():
    assert series_name("cpu", (("host", "web1"), ("cpu", "cpu0")), "usage_user") == (
        "cpu.usage_user.cpu0.web1"
    )
    assert series_name("my room", (("s", "a/b"),), "t=c") == "my_room.t_c.a_b"


def test_a_batch_is_one_point_a_line_declaring_the_series_in_order():
    made = batch("cpu,host=b,cpu=0 u=1,s=2i 1764000000000\nmem used=3\ncpu,cpu=0,host=b u=4")
    assert made.points == [
        ({"cpu.u.0.b": 1.0, "cpu.s.0.b": 2}, 1764000000000),
        ({"mem.used": 3.0}, NOW),
        ({"cpu.u.0.b": 4.0}, NOW),  # the same tags in another order: the same series
    ]
    assert made.new_feed is not None
    assert [s.name for s in made.new_feed.series] == ["cpu.u.0.b", "cpu.s.0.b", "mem.used"]


def test_each_measurement_and_field_gets_its_own_chart_growing_feeds_too():
    """Line protocol has no units: a CPU percentage and a byte count would
    share one axis, the percentage drawn flat at 0. Each measurement and field
    is a panel of its own; the tags' series share it."""
    made = batch("cpu,host=a usage=12\ncpu,host=b usage=30\nnet,host=a bytes_recv=3000000i")
    assert made.new_feed is not None
    assert {s.name: s.panel for s in made.new_feed.series} == {
        "cpu.usage.a": "cpu.usage",
        "cpu.usage.b": "cpu.usage",
        "net.bytes_recv.a": "net.bytes_recv",
    }
    # A later host joins its measurement's chart; a held series keeps its own
    # declaration (a feed's series never change under its viewers).
    held = FeedInfo("f", series=(Series("cpu.usage.a"),))
    grown = batch("cpu,host=a usage=1\ncpu,host=c usage=2", {"f": held}, pushed={"f"}).grown
    assert grown is not None
    assert [(s.name, s.panel) for s in grown.series] == [
        ("cpu.usage.a", ""),
        ("cpu.usage.c", "cpu.usage"),
    ]


def test_push_ingests_checks_are_told_by_line():
    existing = {"f": FeedInfo("f", series=(Series("m.a"),))}
    error = refusal("m a=1\n\n# c\nm b=2", existing)
    assert (error.status, error.code, error.index) == (400, "unknown_series", 4)
    assert error.message.startswith("line 4: feed 'f' has no series 'm.b'")
    error = refusal("m a=1\nm a=9007199254740993i")
    assert error.message.startswith("line 2: series 'm.a': 9007199254740993 is not a safe integer")
    error = refusal("m a=1 1764000000")  # seconds sent as ms
    assert error.message.endswith("(this looks like seconds: multiply by 1000)")
    error = refusal("_m a=1")
    assert (error.code, error.message[:36]) == (
        "bad_series_name",
        "line 1: invalid series name '_m.a': ",
    )
    assert refusal("m a=1", max_feeds=0).code == "too_many_feeds"


def test_two_keys_naming_one_series_are_refused():
    error = refusal("m,h=a\\ b v=1\nm,h=a_b v=2")
    assert (error.code, error.index) == ("series_name_clash", 2)
    assert "series name 'm.v.a_b'" in error.message


def test_body_errors():
    with pytest.raises(IngestError, match="line 2: not UTF-8"):
        parse_body(b"m a=1\nm b=\xff", "ns", NOW, 10)
    with pytest.raises(IngestError, match="^no points"):
        parse_body(b"# nothing\n\n", "ns", NOW, 10)
    with pytest.raises(IngestError, match="more than 1 points") as caught:
        parse_body(b"m a=1\nm a=2", "ns", NOW, 1)
    assert caught.value.status == 413
    with pytest.raises(IngestError, match="precision 'x'"):
        parse_body(b"m a=1", "x", NOW, 10)


def test_gunzip_stops_a_bomb_at_its_cap():
    """32 MiB of zeros in 32 KiB of gzip: refused once past the cap."""
    deflater = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = bytes(1 << 20)
    bomb = b"".join(deflater.compress(chunk) for _ in range(32)) + deflater.flush()
    assert len(bomb) < 40_000
    with pytest.raises(IngestError, match="decompressed body is over 100000 bytes") as caught:
        gunzip(bomb, 100_000)
    assert caught.value.status == 413
    # Cut short, it is still 413: the cap stopped the inflating long before its end.
    with pytest.raises(IngestError, match="over 100000 bytes"):
        gunzip(bomb[: len(bomb) // 2], 100_000)
    assert gunzip(gzip.compress(b"m a=1\n" * 1000), 6000) == b"m a=1\n" * 1000
    with pytest.raises(IngestError, match="not valid gzip"):
        gunzip(b"m a=1", 100)
    with pytest.raises(IngestError, match="cut short"):
        gunzip(gzip.compress(b"m a=1\n" * 100)[:-12], 10_000)


@pytest.mark.parametrize(
    ("header", "password", "token"),
    [
        ("Token s3", None, "s3"),
        ("Bearer s3", None, "s3"),
        ("token  s3 ", None, "s3"),
        ("Basic " + base64.b64encode(b"telegraf:s3").decode(), None, "s3"),
        ("Basic " + base64.b64encode(b"user-only").decode(), None, None),
        ("Basic !!!", None, None),
        (None, "s3", "s3"),
        ("Token s3", "other", "s3"),  # the header wins
        (None, None, None),
        ("Digest x", None, None),
    ],
)
def test_the_token_as_clients_send_it(header, password, token):
    assert token_of(header, password) == token
