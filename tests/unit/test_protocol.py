import json

import orjson
import pytest

from dashboard.points import check_values
from dashboard.protocol import (
    MAX_QUOTE,
    Ping,
    Point,
    ProtocolError,
    Resume,
    Subscribe,
    encode_backplane,
    encode_batch,
    encode_error,
    encode_feeds_added,
    encode_hello,
    encode_pong,
    encode_replay,
    encode_snapshot,
    parse_client_message,
    quote_names,
)

P1 = Point("ACME", 1, 1000, {"price": 10.5, "volume": 100})
P2 = Point("GLOBX", 7, 1001, {"price": 3.25, "volume": 200})


def test_batch_carries_feed_seq_ts_and_values():
    """A batch lists its points with feed, seq, ts and values."""
    message = json.loads(encode_batch([P1, P2]))
    assert message == {"type": "batch", "points": [P1.to_dict(), P2.to_dict()]}


def test_batch_narrowed_to_series():
    """A series filter keeps only those values in each point."""
    message = json.loads(encode_batch([P1], frozenset({"price"})))
    assert message["points"] == [{"feed": "ACME", "seq": 1, "ts": 1000, "values": {"price": 10.5}}]


def test_a_point_after_a_break_carries_gap_true_and_others_are_unchanged():
    """gap=True adds "gap": true (also when narrowed to some series) and reads
    back; a point without it is the same bytes as before the flag existed."""
    broken = Point("ACME", 2, 1001, {"price": 10.5, "volume": 100}, gap=True)
    assert P1.wire == '{"feed":"ACME","seq":1,"ts":1000,"values":{"price":10.5,"volume":100}}'
    assert json.loads(broken.wire) == {
        "feed": "ACME",
        "seq": 2,
        "ts": 1001,
        "values": {"price": 10.5, "volume": 100},
        "gap": True,
    }
    narrowed = json.loads(encode_batch([broken, P1], frozenset({"price"})))["points"]
    assert [p.get("gap") for p in narrowed] == [True, None]
    assert Point.from_wire(broken.wire) == broken and Point.from_wire(broken.wire).gap
    assert Point.from_wire(P1.wire).gap is False
    assert broken != Point("ACME", 2, 1001, {"price": 10.5, "volume": 100})


def test_snapshot_replay_hello_pong_error_shapes():
    """Every server message encodes to the JSON documented in docs/protocol.md."""
    snap = json.loads(encode_snapshot("e1", ["ACME"], [P1], reset=True))
    assert snap == {
        "type": "snapshot",
        "epoch": "e1",
        "reset": True,
        "feeds": ["ACME"],
        "points": [P1.to_dict()],
    }
    replay = json.loads(encode_replay("e1", [], []))
    assert replay == {"type": "replay", "epoch": "e1", "feeds": [], "points": []}
    hello = json.loads(encode_hello("e1", 0.05, [{"name": "ACME"}]))
    assert hello == {
        "type": "hello",
        "protocol": 2,
        "epoch": "e1",
        "flush_interval_ms": 50,
        "backplane_up": True,
        "feeds": [{"name": "ACME"}],
    }
    down = json.loads(encode_hello("e1", 0.05, [], backplane_up=False))
    assert down["backplane_up"] is False
    assert json.loads(encode_backplane(False)) == {"type": "backplane", "up": False}
    added = json.loads(encode_feeds_added([{"name": "NEW"}]))
    assert added == {"type": "feeds", "added": [{"name": "NEW"}]}
    assert json.loads(encode_pong(Ping(id="x"))) == {"type": "pong", "id": "x"}
    error = json.loads(encode_error(ProtocolError("bad_json", "nope")))
    assert error == {"type": "error", "code": "bad_json", "message": "nope"}


def test_point_wire_is_cached():
    """A point is encoded once however many frames carry it."""
    point = Point("ACME", 1, 1, {"price": 1.0})
    assert point.wire is point.wire


def test_parse_subscribe_full():
    """subscribe with feeds, series and resume parses to frozen sets and ints."""
    message = parse_client_message(
        '{"type":"subscribe","feeds":["A","B"],"series":["price"],'
        '"resume":{"epoch":"e","seqs":{"A":3}}}'
    )
    assert message == Subscribe(
        feeds=frozenset({"A", "B"}),
        series=frozenset({"price"}),
        resume=Resume(epoch="e", seqs={"A": 3}),
    )


def test_parse_subscribe_defaults_and_ping():
    """Omitted fields mean "all"; ping's id is optional."""
    assert parse_client_message(b'{"type":"subscribe"}') == Subscribe()
    assert parse_client_message('{"type":"ping"}') == Ping()
    assert parse_client_message('{"type":"ping","id":5}') == Ping(id=5)


#: A resume holding *seq* for feed A.
RESUME_A = '{"type":"subscribe","resume":{"epoch":"e","seqs":{"A":%s}}}'


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (None, "bad_json"),
        (b"", "bad_json"),
        ("{", "bad_json"),
        (b"\xff\xfe", "bad_json"),
        ("[1,2]", "bad_message"),
        ('{"feeds":[]}', "bad_message"),
        ('{"type":5}', "bad_message"),
        ('{"type":"dance"}', "unknown_type"),
        ('{"type":"subscribe","feeds":"ACME"}', "bad_message"),
        ('{"type":"subscribe","feeds":[1]}', "bad_message"),
        ('{"type":"subscribe","series":{}}', "bad_message"),
        ('{"type":"subscribe","resume":[]}', "bad_message"),
        ('{"type":"subscribe","resume":{"seqs":{}}}', "bad_message"),
        ('{"type":"subscribe","resume":{"epoch":"e","seqs":{"A":-1}}}', "bad_message"),
        ('{"type":"subscribe","resume":{"epoch":"e","seqs":{"A":1.5}}}', "bad_message"),
        ('{"type":"subscribe","resume":{"epoch":"e","seqs":{"A":true}}}', "bad_message"),
        ('{"type":"ping","id":{"a":1}}', "bad_message"),
        ('{"type":"ping","id":' + str(2**60) + "}", "bad_message"),
        # Hostile shapes: none of them may get past the parser.
        ("", "bad_json"),
        ("1e400", "bad_json"),
        ('{"type":"ping","id":1e400}', "bad_json"),
        ('{"type":"ping","id":' + "9" * 5000 + "}", "bad_json"),
        ("[" * 100_000 + "]" * 100_000, "bad_json"),
        ('{"type":"ping","id":' + "[" * 2000 + "]" * 2000 + "}", "bad_json"),
        (b"\xed\xa0\x80", "bad_json"),  # a UTF-8-encoded lone surrogate
        ('{"type":"ping","id":"\\ud800"}', "bad_json"),  # a lone surrogate escape
        ("\x00", "bad_json"),
        ('"subscribe"', "bad_message"),
        ("42", "bad_message"),
        ("null", "bad_message"),
        ('{"type":null}', "bad_message"),
        ('{"type":"subscribe\\u0000"}', "unknown_type"),
        ('{"type":"subscribe","feed":["ACME"]}', "bad_message"),  # typo of "feeds"
        ('{"type":"ping","id":1,"extra":true}', "bad_message"),
        ('{"type":"subscribe","resume":{"epoch":"e","seqs":{},"x":1}}', "bad_message"),
        ('{"type":"subscribe","feeds":{"ACME":1}}', "bad_message"),
        ('{"type":"subscribe","feeds":[["ACME"]]}', "bad_message"),
        ('{"type":"subscribe","resume":{"epoch":5,"seqs":{}}}', "bad_message"),
        ('{"type":"subscribe","resume":{"epoch":"' + "e" * 65 + '","seqs":{}}}', "bad_message"),
        ('{"type":"subscribe","resume":{"epoch":"e","seqs":[1]}}', "bad_message"),
        ('{"type":"subscribe","resume":{"epoch":"e","seqs":{"A":"3"}}}', "bad_message"),
        ('{"type":"subscribe","resume":{"epoch":"e","seqs":{"A":null}}}', "bad_message"),
        (
            '{"type":"subscribe","resume":{"epoch":"e","seqs":{"A":9007199254740992}}}',
            "bad_message",
        ),
        (
            '{"type":"subscribe","resume":{"epoch":"e","seqs":{"A":18446744073709551615}}}',
            "bad_message",
        ),
    ],
)
def test_bad_client_messages_rejected_with_code(data, code):
    """Malformed client messages raise ProtocolError with a precise code."""
    with pytest.raises(ProtocolError) as info:
        parse_client_message(data)
    assert info.value.code == code
    assert info.value.message


def test_subscribe_at_the_bounds_is_accepted():
    """The largest seq a browser can hold, a 64-character epoch and NUL in a name pass."""
    seqs = {"A": 2**53 - 1, "B": 0}
    message = parse_client_message(
        orjson.dumps(
            {"type": "subscribe", "feeds": ["A\x00"], "resume": {"epoch": "e" * 64, "seqs": seqs}}
        )
    )
    assert message == Subscribe(feeds=frozenset({"A\x00"}), resume=Resume("e" * 64, seqs))


def test_errors_quote_the_client_briefly():
    """An error names what was wrong but never echoes a client's megabytes back."""
    huge = "x" * 100_000
    cases = [
        {"type": huge},
        {"type": "ping", huge: 1},
        {"type": "subscribe", "resume": {"epoch": "e", "seqs": {huge: -1}}},
    ]
    for case in cases:
        with pytest.raises(ProtocolError) as info:
            parse_client_message(orjson.dumps(case))
        assert "xxx" in info.value.message and len(info.value.message) < 300
    assert quote_names(["a", huge, *"bcdefg"]) == "'a', 'b', 'c', 'd', 'e' and 3 more"
    assert len(quote_names([huge])) == MAX_QUOTE


def test_check_values_accepts_numbers_and_rejects_the_rest():
    """Values must be finite numbers of declared series."""
    known = {"price": "line", "volume": "line"}
    assert check_values("A", {"price": 1.5, "volume": 3}, known) == {"price": 1.5, "volume": 3}
    for bad in (
        {},
        {"nope": 1},
        {"price": "1"},
        {"price": True},
        {"price": float("nan")},
        {"price": float("inf")},
        {"price": 2**60},
    ):
        with pytest.raises(ValueError):
            check_values("A", bad, known)


def test_ohlc_series_takes_bars():
    """An ohlc series' value is a bar whose high and low enclose open and close."""
    kinds = {"bar": "ohlc", "volume": "line"}
    bar = {"open": 10, "high": 12.5, "low": 9.5, "close": 11}
    assert check_values("A", {"bar": bar, "volume": 3}, kinds) == {"bar": bar, "volume": 3}
    flat = {"open": 5, "high": 5, "low": 5, "close": 5}
    assert check_values("A", {"bar": flat}, kinds) == {"bar": flat}
    for bad in (
        {"bar": 11.0},  # a number where a bar is declared
        {"bar": {"open": 10, "high": 12, "low": 9}},  # close missing
        {"bar": {**bar, "volume": 1}},  # a field too many
        {"bar": {**bar, "close": "11"}},
        {"bar": {**bar, "high": 10.5}},  # close above high
        {"bar": {**bar, "low": 10.5}},  # open below low
        {"bar": {**bar, "open": float("nan")}},
        {"volume": bar},  # a bar where a number is declared
    ):
        with pytest.raises(ValueError):
            check_values("A", bad, kinds)
