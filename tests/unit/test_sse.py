"""Server-Sent Events as pure code (dashboard/sse.py): the framing, the event
id that encodes where a stream stands, and reading it back."""

from __future__ import annotations

import orjson
import pytest

from dashboard.protocol import Point, Resume, encode_batch, encode_hello, encode_snapshot
from dashboard.sse import (
    HEARTBEAT,
    MAX_ID_LENGTH,
    BadEventId,
    SeqTracker,
    close_event,
    decode_id,
    encode_event,
    encode_id,
    retry_field,
)


def parse(stream: str) -> list[dict[str, str]]:
    """Events as a browser's EventSource dispatches them (the WHATWG rules):
    comments dropped, data lines joined with newlines, no data: no event."""
    events, fields, data = [], {}, []
    for line in stream.split("\n"):
        if line == "":
            if data:
                events.append({**fields, "data": "\n".join(data)})
            fields, data = {}, []
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                data.append(value)
            else:
                fields[name] = value
    return events


def test_an_event_is_its_fields_then_a_blank_line() -> None:
    assert encode_event('{"type":"hello"}') == 'data: {"type":"hello"}\n\n'
    assert encode_event("{}", event="close", event_id="1/e/") == (
        "event: close\nid: 1/e/\ndata: {}\n\n"
    )


def test_data_with_line_breaks_is_sent_as_several_data_lines() -> None:
    text = encode_event("one\ntwo\r\nthree\rfour")
    assert parse(text) == [{"data": "one\ntwo\nthree\nfour"}]


def test_the_heartbeat_is_a_comment_and_an_event_a_page_sees() -> None:
    assert HEARTBEAT.startswith(": ping\n") and HEARTBEAT.endswith("\n\n")
    assert parse(HEARTBEAT) == [{"event": "ping", "data": "{}"}]
    assert retry_field(1500) == "retry: 1500\n\n"


def test_the_close_event_says_the_code_and_reason() -> None:
    [event] = parse(close_event(1008, "too slow: reconnect and resume"))
    assert event["event"] == "close"
    assert orjson.loads(event["data"]) == {
        "type": "close",
        "code": 1008,
        "reason": "too slow: reconnect and resume",
    }


def test_an_id_is_the_epoch_and_each_feeds_seq_in_base_36() -> None:
    assert (
        encode_id("5f1c2a9e0b7d", {"ACME": 1842, "GLOBX": 35}) == "1/5f1c2a9e0b7d/ACME:1f6,GLOBX:z"
    )
    assert encode_id("e", {}) == "1/e/"


@pytest.mark.parametrize(
    ("epoch", "seqs"),
    [
        ("5f1c2a9e0b7d", {"ACME": 1, "a.b-c_d": 2**53 - 1, "9": 0}),
        ("an epoch: with / and , and %", {"x": 36}),
        ("e", {}),
    ],
)
def test_an_id_decodes_to_the_resume_it_encodes(epoch: str, seqs: dict[str, int]) -> None:
    assert decode_id(encode_id(epoch, seqs), max_feeds=10) == Resume(epoch, seqs)


def test_an_id_too_long_for_a_header_keeps_only_the_epoch() -> None:
    seqs = {f"feed-{i:04d}": 10**9 + i for i in range(400)}
    text = encode_id("e", seqs)
    assert text == "1/e/"
    assert decode_id(text, max_feeds=1000) == Resume("e", {})  # a resume by snapshot


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("garbage", "is not an id this server sent"),
        ("2~e~A:1", "is not an id this server sent"),
        ("1//A:1", "epoch must be"),
        ("1/e/A", "is not <feed>:<seq>"),
        ("1/e/A:zz!", "is not <feed>:<seq>"),
        ("1/e/bad name:1", "is not <feed>:<seq>"),
        ("1/e/A:1,A:2", "given twice"),
        ("1/e/A:" + "z" * 12, "out of range"),
        ("1/e/A:1,B:2,C:3", "more than 2 feeds"),
        ("1/e/" + "A" * MAX_ID_LENGTH, "characters long"),
    ],
)
def test_an_id_the_server_never_sent_is_refused_saying_why(text: str, says: str) -> None:
    with pytest.raises(BadEventId, match=says):
        decode_id(text, max_feeds=2)


def point(feed: str, seq: int) -> Point:
    return Point(feed, seq, 1764096000000 + seq, {"price": 1.5})


def test_the_tracker_gives_each_point_message_the_id_after_it() -> None:
    tracker = SeqTracker()
    hello = encode_hello("ep", 0.05, [])
    assert tracker.take(hello) == "1/ep/"
    snapshot = encode_snapshot(
        "ep", ["A", "B"], [point("A", 1), point("A", 2), point("B", 7)], reset=False
    )
    assert tracker.take(snapshot) == "1/ep/A:2,B:7"
    assert tracker.take('{"type":"status","feeds":{}}') is None  # the browser keeps its last id
    assert (
        tracker.take(encode_batch([point("B", 8), point("A", 3), point("B", 9)])) == "1/ep/A:3,B:9"
    )
    assert decode_id(tracker.id, 10) == Resume("ep", {"A": 3, "B": 9})


def test_a_resumed_stream_keeps_the_seqs_it_was_given_until_points_move_them() -> None:
    tracker = SeqTracker(Resume("ep", {"A": 5, "B": 9}))
    assert tracker.take(encode_hello("ep", 0.05, [])) == "1/ep/A:5,B:9"
    # A replay that brings nothing for B: B's seq is still the client's.
    replay = (
        '{"type":"replay","epoch":"ep","feeds":["A","B"],"points":[' + point("A", 6).wire + "]}"
    )
    assert tracker.take(replay) == "1/ep/A:6,B:9"


def test_a_hello_of_another_epoch_forgets_the_seqs_of_the_old_one() -> None:
    tracker = SeqTracker(Resume("old", {"A": 5}))
    assert tracker.take(encode_hello("new", 0.05, [])) == "1/new/"


def test_gap_points_and_series_narrowed_points_are_read_alike() -> None:
    tracker = SeqTracker()
    tracker.take(encode_hello("ep", 0.05, []))
    gap = Point("A", 4, 1764096000000, {"price": 1.0, "volume": 2}, gap=True)
    assert tracker.take(encode_batch([gap], frozenset({"price"}))) == "1/ep/A:4"
