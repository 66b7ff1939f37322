"""InfluxDB line protocol: the escaping rules, the values, precisions and errors.

The reference encoder is the influxdb-client package's own ``Point``; a small
encoder here writes the escapes the protocol allows and hypothesis checks that
whatever it writes parses back to what it was given.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from influxdb_client import Point, WritePrecision

from dashboard.line_protocol import Line, LineProtocolError, check_precision, parse

NOW = 1_764_000_000_000  # ms: 2025-11-24


def one(text: str, precision: str = "ns") -> Line:
    lines = parse(text, precision, NOW)
    assert len(lines) == 1
    return lines[0]


def error_of(text: str, precision: str = "ns") -> str:
    with pytest.raises(LineProtocolError) as caught:
        parse(text, precision, NOW)
    return caught.value.message


# --- the escaping rules ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "measurement", "tags", "fields"),
    [
        ("cpu usage=1", "cpu", (), (("usage", 1.0),)),
        (r"my\ cpu,host=a usage=1", "my cpu", (("host", "a"),), (("usage", 1.0),)),
        (r"c\,p\,u x=1", "c,p,u", (), (("x", 1.0),)),
        (r"c=u x=1", "c=u", (), (("x", 1.0),)),  # '=' needs no escape in a measurement
        (r"m,tag\ key=v\ al x=1", "m", (("tag key", "v al"),), (("x", 1.0),)),
        (r"m,k\,1=v\,1 x=1", "m", (("k,1", "v,1"),), (("x", 1.0),)),
        (r"m,k\=1=v\=1 x=1", "m", (("k=1", "v=1"),), (("x", 1.0),)),
        (r"m f\ 1=1,f\,2=2,f\=3=3", "m", (), (("f 1", 1.0), ("f,2", 2.0), ("f=3", 3.0))),
        (r"m\\ x=1", "m\\", (), (("x", 1.0),)),  # an escaped backslash
        (r"m\a,t=v\b x\c=1", r"m\a", (("t", r"v\b"),), ((r"x\c", 1.0),)),  # literal ones
        ('m,q="x" f=1', "m", (("q", '"x"'),), (("f", 1.0),)),  # quotes in a tag are text
        ("  m   f=1  ", "m", (), (("f", 1.0),)),  # spaces around and between sections
        # A quote opens a string only right after an unescaped '=' (found by hypothesis).
        (r'm \="=1,"a=2', "m", (), (('="', 1.0), ('"a', 2.0))),
    ],
)
def test_names_are_unescaped(text, measurement, tags, fields):
    line = one(text)
    assert (line.measurement, line.tags, line.fields) == (measurement, tags, fields)


def test_a_string_with_spaces_commas_and_quotes_is_refused_by_its_field_name():
    """The quoted string is read through its escaped quote, space, comma and '=':
    the refusal names the field, not a section the string's space would make."""
    message = error_of('m,t=1 a=1,msg="say \\"hi, x=1\\" \\\\ now",b=2 1')
    assert message.startswith("line 1: field 'msg' is a string")


# --- values and timestamps ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("1", 1.0),
        ("-1.5", -1.5),
        ("+2.", 2.0),
        (".5", 0.5),
        ("6.02e23", 6.02e23),
        ("1E-3", 0.001),
        ("12i", 12),
        ("-12i", -12),
        ("12u", 12),
        ("9007199254740993i", 9007199254740993),  # too big for a page: ingest refuses it
    ],
)
def test_numbers(value, parsed):
    (_, got), *_ = one(f"m f={value}").fields
    assert got == parsed and type(got) is type(parsed)


@pytest.mark.parametrize("value", ["t", "T", "true", "True", "TRUE", "f", "False", "FALSE"])
def test_booleans_are_refused_naming_the_line(value):
    assert error_of(f"m f=1\nm f=2\nm g={value}") == (
        f"line 3: field 'g' is a boolean ({value}): only numbers are accepted"
    )


@pytest.mark.parametrize("value", ["1.2.3", "nan", "inf", "0x10", "-12u", "1_000", "12I", "e5"])
def test_what_is_not_a_number_is_refused(value):
    assert error_of(f"m f={value}").startswith(
        f"line 1: field 'f' has value '{value}', not a number"
    )


@pytest.mark.parametrize(
    ("precision", "stamp", "ms"),
    [
        ("ns", "1764000000123456789", 1764000000123),
        ("n", "1764000000123456789", 1764000000123),
        ("us", "1764000000123456", 1764000000123),
        ("u", "1764000000123456", 1764000000123),
        ("ms", "1764000000123", 1764000000123),
        ("s", "1764000000", 1764000000000),
        ("m", "29400000", 1764000000000),
        ("h", "490000", 1764000000000),
    ],
)
def test_timestamps_convert_by_precision(precision, stamp, ms):
    assert one(f"m f=1 {stamp}", precision).ts_ms == ms


def test_a_line_without_timestamp_gets_now():
    assert [line.ts_ms for line in parse("m f=1\nm f=2 5000000", "ms", NOW)] == [NOW, 5_000_000]


def test_precision_is_checked():
    assert check_precision(None) == check_precision("") == "ns"
    with pytest.raises(ValueError, match="precision 'd' is not one of ns, us, ms, s"):
        check_precision("d")


# --- lines and errors -------------------------------------------------------------------------


def test_comments_blank_lines_and_crlf_are_skipped_and_lines_keep_their_numbers():
    text = "# a comment\r\n\r\nm f=1 1\r\n   # indented comment\n\nm,t=x f=2 2\r\n"
    assert [(line.number, line.ts_ms) for line in parse(text, "ms", NOW)] == [(3, 1), (6, 2)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("m", "line 1: no fields in 'm': need at least one key=value"),
        ("m f=1 123 extra", "line 1: unexpected 'extra' after the timestamp"),
        ("m f=1 12.5", "line 1: timestamp '12.5' is not an integer"),
        (",t=a f=1", "line 1: the measurement is empty"),
        ("m,t f=1", "line 1: tag 't' is not key=value"),
        ("m,t= f=1", "line 1: tag 't=' is not key=value"),
        ("m,a=b=c f=1", "line 1: tag 'a=b=c' is not key=value"),
        ("m f", "line 1: field 'f' is not key=value"),
        ("m =1", "line 1: field '=1' is not key=value"),
        ("m f=", "line 1: field 'f=' is not key=value"),
        ('m s="text"', "line 1: field 's' is a string ('\"text\"'): only numbers are accepted"),
    ],
)
def test_errors_name_the_line_and_what_is_wrong(text, message):
    got = error_of(f"# header\nm ok=1\n{text}".replace("line 1", "line 3"))
    assert got.startswith(message.replace("line 1", "line 3")), got
    assert "\n" not in got


def test_a_string_spanning_lines_is_refused_on_the_line_it_starts():
    assert error_of('m f=1\nm s="two\nlines"\nm f=2').startswith("line 2: field 's' is a string")


def test_too_many_points():
    with pytest.raises(LineProtocolError, match="more than 2 points in one request") as caught:
        parse("m f=1\nm f=2\n# not a point\nm f=3", "ns", NOW, max_lines=2)
    assert caught.value.line == 0
    assert len(parse("m f=1\nm f=2\n# not a point\n", "ns", NOW, max_lines=2)) == 2


# --- reference encoders ------------------------------------------------------------------------

# Names drawn mostly from the characters the rules are about (and a few
# others, multi-byte ones included): a full Unicode alphabet finds no more
# and costs seconds per test.
NAMES = st.text(
    st.sampled_from([",", "=", " ", "\\", '"', "#", "'", "a", "Z", "0", "_", "é", "💡"]),
    min_size=1,
    max_size=10,
).filter(lambda name: name.strip(" ") == name and not name.startswith("#"))
TAGS = st.dictionaries(NAMES, NAMES, max_size=3)
NUMBERS = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
)
FIELDS = st.dictionaries(NAMES, NUMBERS, min_size=1, max_size=4)


def escape(text: str, specials: str) -> str:
    text = text.replace("\\", "\\\\")
    for char in specials:
        text = text.replace(char, "\\" + char)
    return text


def encode(measurement: str, tags: dict, fields: dict, stamp: int | None) -> str:
    """The line protocol for a point, escaping every character the rules let escape."""
    key = escape(measurement, ", ")
    key += "".join(f",{escape(k, ',= ')}={escape(v, ',= ')}" for k, v in tags.items())
    values = ",".join(
        f"{escape(k, ',= ')}={v}i" if isinstance(v, int) else f"{escape(k, ',= ')}={v!r}"
        for k, v in fields.items()
    )
    return f"{key} {values}" + ("" if stamp is None else f" {stamp}")


@settings(max_examples=80, deadline=None)
@given(NAMES, TAGS, FIELDS, st.one_of(st.none(), st.integers(0, 2**62)))
def test_what_the_encoder_writes_parses_back(measurement, tags, fields, stamp):
    line = one(encode(measurement, tags, fields, stamp))
    assert line.measurement == measurement
    assert dict(line.tags) == tags
    assert dict(line.fields) == fields
    assert line.ts_ms == (NOW if stamp is None else stamp // 1_000_000)


# influxdb-client writes a backslash in a name as it is, unescaped: a name
# ending in one ("a\\" before a ",") is then ambiguous, for InfluxDB too.
CLIENT_NAMES = NAMES.filter(lambda name: "\\" not in name)


@settings(max_examples=80, deadline=None)
@given(
    CLIENT_NAMES,
    st.dictionaries(CLIENT_NAMES, CLIENT_NAMES, max_size=3),
    st.dictionaries(CLIENT_NAMES, NUMBERS, min_size=1, max_size=4),
    st.integers(0, 2**40),
)
def test_what_influxdb_client_writes_parses_back(measurement, tags, fields, stamp):
    """influxdb-client's Point is the reference encoder: what it writes reads back."""
    point = Point(measurement).time(stamp, WritePrecision.S)
    for key, value in tags.items():
        point.tag(key, value)
    for key, value in fields.items():
        point.field(key, value)
    line = one(point.to_line_protocol(), "s")
    assert line.measurement == measurement
    assert dict(line.tags) == tags
    # Point writes floats with repr and ints with an 'i': both come back exact.
    assert dict(line.fields) == fields
    assert all(type(fields[k]) is type(v) or math.isclose(fields[k], v) for k, v in line.fields)
    assert line.ts_ms == stamp * 1000
