"""Push ingest as pure code: auth, body parsing and point validation, no server."""

import json
import random

import orjson
import pytest

from dashboard.access import authorized
from dashboard.ingest import (
    JSON,
    MAX_SERIES,
    NDJSON,
    Batch,
    IngestError,
    body_parser,
    check_feed_name,
    parse_json,
    parse_ndjson,
    parse_ws_message,
    prepare,
)
from dashboard.points import MAX_FUTURE_MS, MAX_SAFE_INTEGER, MIN_TS_MS, check_values
from feeds.base import FeedInfo, Series

NOW = 1_764_096_123_456
FEEDS = {"ACME": FeedInfo("ACME", series=(Series("price"), Series("volume")))}


def rejected(call, *args, **kwargs) -> IngestError:
    with pytest.raises(IngestError) as info:
        call(*args, **kwargs)
    return info.value


def prep(raw, feed="ACME", create=True) -> Batch:
    return prepare(feed, raw, FEEDS, create=create, now_ms=NOW)


# --- auth -------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["Bearer s3cret", "bearer s3cret", "BEARER  s3cret "])
def test_bearer_token_is_accepted(header):
    """The right token is accepted whatever the case of the scheme and spacing."""
    assert authorized(header, "s3cret")


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "s3cret",
        "Bearer",
        "Bearer ",
        "Bearer s3cre",
        "Bearer s3cret2",
        "Basic s3cret",
        "Bearer S3CRET",
        "Bearer s3crét",
        "Token s3cret",
    ],
)
def test_wrong_or_missing_token_is_refused(header):
    """A missing header, another scheme or another token is refused."""
    assert not authorized(header, "s3cret")


def test_non_ascii_token_compares_by_bytes():
    """A non-ASCII token matches the UTF-8 bytes a client sends (seen as latin-1)."""
    sent = "Bearer " + "clé".encode().decode("latin-1")
    assert authorized(sent, "clé")
    assert not authorized("Bearer clé", "clé")
    assert not authorized("Bearer 日本", "日本")  # not a header Quart can produce: refused


def test_empty_configured_token_refuses_everyone():
    """An empty token never matches, not even an empty bearer."""
    assert not authorized("Bearer ", "")
    assert not authorized("Bearer", "")


# --- feed names and content types -------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["", "-x", "a b", "a/b", "é", "x" * 65, "a\n", "ACME\n", None, 5, ["A"]]
)
def test_invalid_feed_name_is_400(name):
    """Feed names follow check_name; others are 400 bad_feed_name."""
    error = rejected(check_feed_name, name)
    assert (error.status, error.code) == (400, "bad_feed_name")


def test_error_messages_do_not_echo_huge_input():
    """A megabyte name is cut short in the message."""
    assert len(rejected(check_feed_name, "-" * 1_000_000).message) < 300


@pytest.mark.parametrize(
    ("mimetype", "parser"),
    [(JSON, parse_json), (NDJSON, parse_ndjson), ("Application/JSON", parse_json)],
)
def test_content_type_picks_the_parser(mimetype, parser):
    """application/json is an array, application/x-ndjson one point per line."""
    assert body_parser(mimetype) is parser


@pytest.mark.parametrize("mimetype", ["", "text/plain", "application/jsonl", "multipart/form-data"])
def test_other_content_types_are_415(mimetype):
    """Any other Content-Type is 415."""
    error = rejected(body_parser, mimetype)
    assert (error.status, error.code) == (415, "unsupported_media_type")


# --- bodies -------------------------------------------------------------------------------


def test_json_array_parses():
    """A JSON array body gives its elements, unvalidated."""
    assert parse_json(b'[{"values": {"price": 1}}, 2]', 10) == [{"values": {"price": 1}}, 2]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"", 400, "bad_json"),
        (b"{", 400, "bad_json"),
        (b"[NaN]", 400, "bad_json"),
        (b'[{"values": {"price": Infinity}}]', 400, "bad_json"),
        (b'[{"values": {"price": 1e999}}]', 400, "bad_json"),
        (b"[\xff]", 400, "bad_json"),
        (b"[" * 5000 + b"]" * 5000, 400, "bad_json"),
        (b'{"values": {"price": 1}}', 400, "bad_body"),
        (b'"points"', 400, "bad_body"),
        (b"null", 400, "bad_body"),
        (b"[]", 400, "no_points"),
        (b"[1, 2, 3, 4]", 413, "too_many_points"),
    ],
)
def test_bad_json_bodies(body, status, code):
    """Not JSON, not an array, empty, or over max_points: each has its 4xx."""
    error = rejected(parse_json, body, 3)
    assert (error.status, error.code, error.index) == (status, code, None)


def test_ndjson_parses_lines_skipping_blank_ones():
    """NDJSON: one point per line, CRLF and blank lines tolerated."""
    body = b'{"values": {"price": 1}}\r\n\n  \n{"values": {"price": 2}}\n'
    assert parse_ndjson(body, 2) == [{"values": {"price": 1}}, {"values": {"price": 2}}]


def test_ndjson_bad_line_gives_point_index_and_line():
    """A bad NDJSON line is 400 with the index of its point and its line number."""
    error = rejected(parse_ndjson, b'{"values": {"price": 1}}\n\n{"values": \n', 5)
    assert (error.status, error.code, error.index) == (400, "bad_json", 1)
    assert "line 3" in error.message


@pytest.mark.parametrize(("body", "status"), [(b"", 400), (b"\n \n", 400), (b"1\n" * 4, 413)])
def test_ndjson_empty_or_too_many(body, status):
    """No lines is no_points (400); more than max_points lines is 413, before parsing."""
    assert rejected(parse_ndjson, body, 3).status == status


def test_ndjson_counts_before_parsing():
    """Too many lines is 413 even when a line is not JSON."""
    assert rejected(parse_ndjson, b"{\n" * 4, 3).code == "too_many_points"


# --- WebSocket messages ----------------------------------------------------------------


def test_ws_message_parses():
    """A message names a feed and carries a points array."""
    message = json.dumps({"feed": "ACME", "points": [{"values": {"price": 1}}]})
    assert parse_ws_message(message, 5) == ("ACME", [{"values": {"price": 1}}])
    assert parse_ws_message(message.encode(), 5)[0] == "ACME"


@pytest.mark.parametrize(
    ("message", "status", "code"),
    [
        ("", 400, "bad_json"),
        (b"", 400, "bad_json"),
        ("{", 400, "bad_json"),
        (b"\xff\xfe", 400, "bad_json"),
        ("[]", 400, "bad_message"),
        ('{"points": []}', 400, "bad_feed_name"),
        ('{"feed": "a b", "points": []}', 400, "bad_feed_name"),
        ('{"feed": "ACME"}', 400, "bad_message"),
        ('{"feed": "ACME", "points": {}}', 400, "bad_message"),
        ('{"feed": "ACME", "points": [], "x": 1}', 400, "bad_message"),
        ('{"feed": "ACME", "points": []}', 400, "no_points"),
        ('{"feed": "ACME", "points": [1, 2, 3]}', 413, "too_many_points"),
    ],
)
def test_bad_ws_messages(message, status, code):
    """Each malformed message has its code (the connection layer keeps going)."""
    error = rejected(parse_ws_message, message, 2)
    assert (error.status, error.code) == (status, code)


# --- points --------------------------------------------------------------------------------


def test_points_of_an_existing_feed():
    """Points keep their order, ts and values; no feed to create."""
    raw = [
        {"ts": NOW, "values": {"price": 1.5}},
        {"values": {"volume": 3}},
        {"ts": None, "values": {"price": 2}},
    ]
    batch = prep(raw)
    assert batch == Batch(
        "ACME", [({"price": 1.5}, NOW), ({"volume": 3}, None), ({"price": 2}, None)]
    )


def test_new_feed_declares_the_union_of_series_in_order_of_appearance():
    """A new feed's series are every value key of the request, first seen first."""
    batch = prep([{"values": {"b": 1}}, {"values": {"a": 1, "b": 2}}, {"values": {"c": 0}}], "NEW")
    assert batch.new_feed == FeedInfo("NEW", series=(Series("b"), Series("a"), Series("c")))
    assert [p[0] for p in batch.points] == [{"b": 1}, {"a": 1, "b": 2}, {"c": 0}]


def test_unknown_feed_without_create_is_404():
    """With feed creation off, an unknown feed is 404 unknown_feed."""
    error = rejected(prep, [{"values": {"x": 1}}], "NEW", create=False)
    assert (error.status, error.code) == (404, "unknown_feed")


def test_a_new_feed_at_max_feeds_is_409_naming_the_cap_before_its_points_are_read():
    """At max_feeds feeds a new one is 409 too_many_feeds (even with bad points:
    the cap is checked first); existing feeds still take points; below it, created."""
    bad = [{"values": {"x": "not a number"}}]
    error = rejected(prepare, "NEW", bad, FEEDS, create=True, now_ms=NOW, max_feeds=1)
    assert (error.status, error.code, error.index) == (409, "too_many_feeds", None)
    assert "'NEW'" in error.message and "max_feeds 1" in error.message
    assert prepare("ACME", [{"values": {"price": 1}}], FEEDS, create=True, now_ms=NOW, max_feeds=1)
    created = prepare("NEW", [{"values": {"x": 1}}], FEEDS, create=True, now_ms=NOW, max_feeds=2)
    assert created.new_feed is not None


def test_undeclared_series_of_existing_feed_is_400_naming_it():
    """A series the feed does not declare is 400, naming the series and the point."""
    error = rejected(prep, [{"values": {"price": 1}}, {"values": {"price": 1, "colour": 2}}])
    assert (error.status, error.code, error.index) == (400, "unknown_series", 1)
    assert "'colour'" in error.message and "price, volume" in error.message


@pytest.mark.parametrize(
    ("point", "code"),
    [
        (1, "bad_point"),
        ("x", "bad_point"),
        (None, "bad_point"),
        ([{"price": 1}], "bad_point"),
        ({}, "bad_point"),
        ({"ts": NOW}, "bad_point"),
        ({"values": {}}, "bad_point"),
        ({"values": None}, "bad_point"),
        ({"values": [1]}, "bad_point"),
        ({"values": {"price": 1}, "value": 2}, "bad_point"),
        ({"values": {"price": 1}, "timestamp": NOW}, "bad_point"),
        ({"values": {"price": "1"}}, "bad_value"),
        ({"values": {"price": True}}, "bad_value"),
        ({"values": {"price": None}}, "bad_value"),
        ({"values": {"price": [1]}}, "bad_value"),
        ({"values": {"price": {"v": 1}}}, "bad_value"),
        ({"values": {"price": float("nan")}}, "bad_value"),
        ({"values": {"price": float("inf")}}, "bad_value"),
        ({"values": {"price": MAX_SAFE_INTEGER + 1}}, "bad_value"),
        ({"values": {"price": -MAX_SAFE_INTEGER - 1}}, "bad_value"),
        ({"values": {"price": 2**64}}, "bad_value"),
        ({"ts": float(NOW), "values": {"price": 1}}, "bad_ts"),
        ({"ts": str(NOW), "values": {"price": 1}}, "bad_ts"),
        ({"ts": True, "values": {"price": 1}}, "bad_ts"),
        ({"ts": -1, "values": {"price": 1}}, "bad_ts"),
        ({"ts": 0, "values": {"price": 1}}, "bad_ts"),
        ({"ts": MIN_TS_MS - 1, "values": {"price": 1}}, "bad_ts"),
        ({"ts": NOW + MAX_FUTURE_MS + 1, "values": {"price": 1}}, "bad_ts"),
        ({"ts": NOW // 1000, "values": {"price": 1}}, "bad_ts"),  # seconds, not ms
        ({"ts": NOW * 1000, "values": {"price": 1}}, "bad_ts"),  # microseconds
        ({"ts": 2**70, "values": {"price": 1}}, "bad_ts"),
    ],
)
def test_bad_point_is_400_with_index_of_first_bad_point(point, code):
    """Each bad point is a 400 with its code and the index of the first bad point."""
    good = {"values": {"price": 1}}
    error = rejected(prep, [good, good, point, point])
    assert (error.status, error.code, error.index) == (400, code, 2)
    assert error.message.startswith("point 2: ")
    assert error.to_dict() == {"error": error.message, "code": code, "index": 2}


@pytest.mark.parametrize("ts", [MIN_TS_MS, NOW, NOW + MAX_FUTURE_MS, None])
def test_ts_bounds_are_inclusive(ts):
    """ts from 2000-01-01 to exactly one day ahead is accepted; null means "stamp now"."""
    assert prep([{"ts": ts, "values": {"price": 1}}]).points == [({"price": 1}, ts)]


@pytest.mark.parametrize("name", ["", "-x", "a b", "x" * 65, "é", "a/b"])
def test_new_feed_with_invalid_series_name_is_400(name):
    """A new feed's series names are validated like declared ones."""
    error = rejected(prep, [{"values": {"ok": 1}}, {"values": {name: 1}}], "NEW")
    assert (error.status, error.code, error.index) == (400, "bad_series_name", 1)


def test_new_feed_with_too_many_series_is_400():
    """A new feed may declare at most MAX_SERIES series."""
    raw = [{"values": {f"s{i}": 1}} for i in range(MAX_SERIES + 1)]
    assert prep(raw[:-1], "NEW").new_feed is not None
    error = rejected(prep, raw, "NEW")
    assert (error.code, error.index) == ("too_many_series", MAX_SERIES)


def test_extreme_values_that_are_valid():
    """Safe-integer bounds, floats up to 1e308 and negative zero are accepted."""
    values = {"a": MAX_SAFE_INTEGER, "b": -MAX_SAFE_INTEGER, "c": 1e308, "d": -0.0, "e": 0}
    assert prep([{"values": values}], "NEW").points == [(values, None)]


# --- fuzz-ish: nothing but IngestError, and what passes is publishable -----------------


def random_json(rng: random.Random, depth: int = 0):
    choices = [
        lambda: rng.choice([None, True, False, 0, -1, 1.5, 2**53, 1e308, NOW, "", "price", "é"]),
        lambda: rng.randint(-(2**63), 2**63),
        lambda: "".join(rng.choice("ab -_.é\x00\n") for _ in range(rng.randint(0, 70))),
    ]
    if depth < 3:
        choices += [
            lambda: [random_json(rng, depth + 1) for _ in range(rng.randint(0, 3))],
            lambda: {
                rng.choice(["ts", "values", "price", "volume", "x", "", "-"]): random_json(
                    rng, depth + 1
                )
                for _ in range(rng.randint(0, 3))
            },
            lambda: {
                "ts": rng.choice([NOW, None, -5, 1.0, MIN_TS_MS]),
                "values": random_json(rng, depth + 1),
            },
            lambda: {"values": {rng.choice(["price", "volume", "q"]): random_json(rng, 3)}},
        ]
    return rng.choice(choices)()


def mutate(rng: random.Random, data: bytes) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(data) + 1)
        op = rng.randrange(3)
        if op == 0 and data:
            del data[at : at + rng.randint(1, 5)]
        elif op == 1:
            data[at:at] = bytes(rng.choice(b'{}[]",:0-9e.\n\\ \xffnultrea') for _ in range(3))
        else:
            data[at:at] = rng.choice([b"NaN", b"1e999", b'"ts":', b"null", b"[", b"}"])
    return bytes(data)


def try_request(feed: str, parser, body: bytes) -> None:
    try:
        batch = prepare(feed, parser(body, 50), FEEDS, create=True, now_ms=NOW)
    except IngestError as error:
        assert 400 <= error.status < 500 and error.message
        return
    known = batch.new_feed.series_kinds if batch.new_feed else FEEDS[feed].series_kinds
    for values, _ in batch.points:  # the hub will accept every point: no partial write
        assert check_values(feed, values, known) == values


@pytest.mark.parametrize("seed", range(40))
def test_fuzz_only_4xx_errors(seed):
    """Random JSON and mutated bodies give a batch or an IngestError (4xx), nothing else."""
    rng = random.Random(seed)
    valid = [{"ts": NOW - i, "values": {"price": i, "volume": 2 * i}} for i in range(5)]
    for _ in range(50):
        feed = rng.choice(["ACME", "NEW"])
        body = orjson.dumps([random_json(rng) for _ in range(rng.randint(0, 4))])
        try_request(feed, parse_json, body)
        edgy = [
            {
                "ts": rng.choice([NOW, None, MIN_TS_MS - 1, 1.0]),
                "values": {"price": random_json(rng, 3)},
            }
            for _ in range(rng.randint(1, 3))
        ]
        try_request(feed, parse_json, orjson.dumps(edgy))
        try_request(feed, parse_json, mutate(rng, orjson.dumps(valid)))
        ndjson = b"\n".join(orjson.dumps(p) for p in valid)
        try_request(feed, parse_ndjson, mutate(rng, ndjson))
        try:
            message = parse_ws_message(
                mutate(rng, orjson.dumps({"feed": feed, "points": valid})), 50
            )
            prepare(*message, FEEDS, create=True, now_ms=NOW)
        except IngestError as error:
            assert 400 <= error.status < 500
