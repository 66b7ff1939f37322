"""Generated input at the pure parsers: a message object or the module's own
error, never anything else; valid messages survive a round trip."""

import json

import orjson
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dashboard.ingest import IngestError, parse_ws_message, prepare
from dashboard.points import MAX_FUTURE_MS, MIN_TS_MS
from dashboard.protocol import (
    MAX_EPOCH_LENGTH,
    MAX_PING_ID_LENGTH,
    MAX_SAFE_INTEGER,
    Ping,
    ProtocolError,
    Resume,
    Subscribe,
    encode_error,
    parse_client_message,
)
from feeds.base import FeedInfo, Series

# 120 examples per property keep the whole file to a few seconds.
SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: Every code docs/protocol.md lists for a client message the parser refuses.
PARSER_CODES = {"bad_json", "bad_message", "unknown_type"}
#: Every code docs/protocol.md lists for the ingest WebSocket (bad_message for bad_body).
INGEST_CODES = {
    "bad_json",
    "bad_message",
    "bad_feed_name",
    "no_points",
    "too_many_points",
    "bad_point",
    "bad_value",
    "bad_ts",
    "unknown_series",
    "bad_series_name",
    "too_many_series",
}
NOW = 1_764_096_123_456
FEEDS = {"ACME": FeedInfo("ACME", series=(Series("price"), Series("bar", kind="ohlc")))}
MAX_POINTS = 50

# --- generators -------------------------------------------------------------------------

#: Any text at all, lone surrogates included (no WebSocket text frame can carry
#: them, but the parser must not care where its input came from).
any_text = st.text(st.characters(exclude_categories=()), max_size=40)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()  # unbounded: 2**64 and far beyond
    | st.floats()  # nan, inf, -0.0, subnormals
    | st.sampled_from([2**53, -(2**53), 2**64, 10**400, 1e308, -1e-320])
    | st.text(max_size=20)
)
json_like = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=25,
)


def serialized(value) -> bytes:
    """JSON as any client could write it: NaN, Infinity and 400-digit integers included."""
    return json.dumps(value, allow_nan=True).encode()


ONE_IN_TEN = st.sampled_from([False] * 9 + [True])


@st.composite
def objects(draw, required: dict, optional: dict | None = None) -> dict:
    """A JSON object with the *required* fields, some of the *optional* ones
    (each drawn from its strategy) and, now and then, a field no message defines."""
    value = draw(st.fixed_dictionaries(required, optional=optional or {}))
    if draw(ONE_IN_TEN):
        value[draw(st.text(max_size=8))] = draw(json_like)
    return value


def mostly(wanted: st.SearchStrategy, other: st.SearchStrategy) -> st.SearchStrategy:
    """*wanted* three times in four, else *other*: generated messages reach the
    checks deep inside a message instead of stopping at its first field."""
    # sampled_from picks evenly (st.integers would favour its bounds).
    return st.sampled_from([wanted, wanted, wanted, other]).flatmap(lambda chosen: chosen)


some_names = st.lists(st.sampled_from(["ACME", "price", ""]) | st.text(max_size=8), max_size=4)
seqs = st.dictionaries(st.text(max_size=8), mostly(st.integers(-5, 2**60), json_like))
resume = objects(
    {"epoch": mostly(st.text(max_size=70), json_like), "seqs": mostly(seqs, json_like)}
)
subscribe_fields = {
    "feeds": mostly(some_names, json_like),
    "series": mostly(some_names, json_like),
    "resume": mostly(resume, json_like),
}
client_messages = objects({"type": mostly(st.just("subscribe"), json_like)}, subscribe_fields) | (
    objects(
        {"type": mostly(st.just("ping"), json_like)},
        {"id": mostly(st.integers() | st.text(max_size=70), json_like)},
    )
)

names = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}\Z")
numbers = st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER) | st.floats(
    allow_nan=False, allow_infinity=False
)


@st.composite
def bars(draw) -> dict:
    low, a, b, high = sorted(draw(st.lists(numbers, min_size=4, max_size=4)))
    open_, close = draw(st.permutations([a, b]))
    return {"open": open_, "high": high, "low": low, "close": close}


bad_names = st.sampled_from(["<b>x</b>", ""]) | st.text(max_size=8)
series_names = mostly(st.sampled_from(["price", "bar", "new"]), bad_names)
some_values = mostly(numbers | bars(), json_like)
values = st.dictionaries(series_names, some_values, min_size=1, max_size=3) | (
    st.fixed_dictionaries({"price": numbers, "bar": bars()})
)
ingest_point = objects(
    {"values": mostly(values, json_like)},
    {"ts": mostly(st.integers(MIN_TS_MS - 1, NOW + MAX_FUTURE_MS + 1), json_like)},
)
ingest_messages = objects(
    {
        "feed": mostly(
            st.sampled_from(["ACME", "NEW"]),
            st.sampled_from(["a b", "<img src=x>", ""]) | json_like,
        ),
        "points": mostly(st.lists(mostly(ingest_point, json_like), max_size=4), json_like),
    }
)


def assert_parses_or_refuses(data) -> None:
    try:
        message = parse_client_message(data)
    except ProtocolError as error:
        event(error.code)  # --hypothesis-show-statistics: how often each was reached
        assert error.code in PARSER_CODES
        # The error itself must go out: short, and encodable (no surrogates).
        assert 0 < len(error.message) <= 600
        assert orjson.loads(encode_error(error))["code"] == error.code
    else:
        event(type(message).__name__)
        assert isinstance(message, Subscribe | Ping)


def assert_ingest_parses_or_refuses(data) -> None:
    try:
        feed, points = parse_ws_message(data, MAX_POINTS)
        batch = prepare(feed, points, FEEDS, create=True, now_ms=NOW)
    except IngestError as error:
        event(error.code)
        assert error.code in INGEST_CODES and 400 <= error.status < 500
        assert 0 < len(error.message) <= 600
        orjson.dumps(error.to_dict())
    else:
        event("accepted")
        assert batch.feed == feed and len(batch.points) == len(points) <= MAX_POINTS


# --- the viewer protocol ----------------------------------------------------------------


@SETTINGS
@given(st.binary(max_size=200) | any_text)
def test_any_bytes_or_text_is_a_message_or_a_protocol_error(data):
    """Arbitrary bytes and text never make the parser raise anything but ProtocolError."""
    assert_parses_or_refuses(data)


@SETTINGS
@given(mostly(client_messages, json_like))
def test_any_json_is_a_message_or_a_protocol_error(value):
    """Arbitrary JSON values, message-shaped or not, serialized (NaN, huge numbers
    and all), parse to a message or a ProtocolError with a documented code."""
    data = serialized(value)
    assert_parses_or_refuses(data)
    assert_parses_or_refuses(data.decode())


@st.composite
def valid_messages(draw) -> tuple[dict, Subscribe | Ping]:
    """A valid subscribe or ping as a client would send it, and what it must parse to."""
    if draw(st.booleans()):
        ping_id = draw(
            st.none()
            | st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER)
            | st.text(max_size=MAX_PING_ID_LENGTH)
        )
        return {"type": "ping", "id": ping_id}, Ping(ping_id)
    feeds = draw(st.none() | st.lists(st.text(max_size=10), max_size=6))
    series = draw(st.none() | st.lists(st.text(max_size=10), max_size=6))
    resume = draw(
        st.none()
        | st.builds(
            Resume,
            epoch=st.text(max_size=MAX_EPOCH_LENGTH),
            seqs=st.dictionaries(st.text(max_size=10), st.integers(0, MAX_SAFE_INTEGER)),
        )
    )
    wire = {"type": "subscribe", "feeds": feeds, "series": series}
    if resume is not None:
        wire["resume"] = {"epoch": resume.epoch, "seqs": dict(resume.seqs)}
    # An absent field and null mean the same: send either.
    wire = {k: v for k, v in wire.items() if v is not None or draw(st.booleans())}
    expected = Subscribe(
        feeds=None if feeds is None else frozenset(feeds),
        series=None if series is None else frozenset(series),
        resume=resume,
    )
    return wire, expected


@SETTINGS
@given(valid_messages(), st.booleans())
def test_valid_messages_round_trip(case, as_bytes):
    """A valid subscribe or ping, sent as a text or a binary frame, parses to
    exactly the message it encodes."""
    wire, expected = case
    data = orjson.dumps(wire)
    assert parse_client_message(data if as_bytes else data.decode()) == expected


# --- the ingest WebSocket ---------------------------------------------------------------


@SETTINGS
@given(st.binary(max_size=200) | any_text)
def test_any_bytes_or_text_is_an_ingest_batch_or_an_ingest_error(data):
    """Arbitrary bytes and text never make the ingest parser raise anything but IngestError."""
    assert_ingest_parses_or_refuses(data)


@SETTINGS
@given(mostly(ingest_messages, json_like))
def test_any_json_is_an_ingest_batch_or_an_ingest_error(value):
    """Arbitrary JSON, message-shaped or not, gives a validated batch or an
    IngestError with a documented 4xx code, never anything else."""
    data = serialized(value)
    assert_ingest_parses_or_refuses(data)
    assert_ingest_parses_or_refuses(data.decode())


@st.composite
def valid_ingest(draw) -> tuple[str, list[dict], dict[str, str]]:
    """A valid ingest message's feed and points (to ACME or to a new feed), and
    the series kinds a new feed must be declared with."""
    feed = draw(st.just("ACME") | names.filter(lambda name: name not in FEEDS))
    if feed == "ACME":
        keys, kinds = ["price", "bar"], {"price": "line", "bar": "ohlc"}
    else:
        keys = draw(st.lists(names, min_size=1, max_size=4, unique=True))
        kinds = {k: draw(st.sampled_from(["line", "ohlc"])) for k in keys}
    points, declared = [], {}
    for _ in range(draw(st.integers(1, 5))):
        chosen = draw(st.lists(st.sampled_from(keys), min_size=1, unique=True))
        values = {k: draw(bars() if kinds[k] == "ohlc" else numbers) for k in chosen}
        declared.update({k: kinds[k] for k in chosen if k not in declared})
        point = {"values": values}
        if draw(st.booleans()):
            point["ts"] = draw(st.integers(MIN_TS_MS, NOW + MAX_FUTURE_MS))
        points.append(point)
    return feed, points, declared


@SETTINGS
@given(valid_ingest())
def test_valid_ingest_messages_round_trip(case):
    """A valid ingest message is accepted whole: its points, values and ts as
    sent, and a new feed declares its series in order of first appearance."""
    feed, points, declared = case
    parsed_feed, raw = parse_ws_message(orjson.dumps({"feed": feed, "points": points}), 50)
    batch = prepare(parsed_feed, raw, FEEDS, create=True, now_ms=NOW)
    assert batch.feed == feed
    assert batch.points == [(p["values"], p.get("ts")) for p in points]
    if feed not in FEEDS:
        assert list(batch.new_feed.series_kinds.items()) == list(declared.items())
