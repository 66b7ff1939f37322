"""The line protocol parser's fast path reads what the exact parser reads.

Plain lines (no backslash, no quote, a series key met before) are read by a
fast path; every other line, and every line the fast path is unsure of, by
the exact escaping parser. Hypothesis writes bodies of plain, escaped and
broken lines and checks that both ways give the same points, or the same
error, and that the fast path does read plain lines.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard import line_protocol
from dashboard.line_protocol import LineProtocolError, parse

NOW = 1_764_000_000_000  # ms

# Series keys, fields and stamps as written: plain ones, escaped ones, broken ones.
HEADS = ["m", "cpu,host=a", "cpu,cpu=0,host=a", r"my\ m,t\,k=v\=1", "m,t", ",t=a", 'm,q="x"']
KEYS = ["f", "usage_user", "é", "a b", r"f\=1", "", "=", '"k"']
# What the fast path must read as the exact parser does, or leave to it.
VALUE_TEXTS = ["1", "-1.5", "+2.", ".5", "6.02e23", "1E-3", "1e999", "-0", "12i", "-12i", "+12i"]
VALUE_TEXTS += ["12u", "-12u", "+12u", "9007199254740993i", "1_000", "inf", "nan", "1.2.3", "e5"]
VALUE_TEXTS += ["", "i", "u", "-i", "t", "FALSE", '"s"', '"a b"', "١٢", "١٢i", "1.5i", "0x10"]
VALUE_TEXTS += ["12I", "\t1", "1\t", "1e", "+-1", "--1i", "1__0i", "0012u", "1,", "=1"]
STAMPS = ["", " 5", " 1764000000123456789", " -5", " +5", " 12.5", " ١٢", " x", "  5", " 5 6"]
VALUES = st.one_of(
    st.sampled_from(VALUE_TEXTS),
    st.floats(allow_nan=False).map(repr),
    st.integers(-(2**64), 2**64).map(lambda n: f"{n}i"),
)
FIELDS = st.lists(
    st.tuples(st.one_of(st.sampled_from(KEYS[:3]), st.sampled_from(KEYS)), VALUES),
    min_size=1,
    max_size=4,
).map(lambda pairs: ",".join(f"{key}={value}" for key, value in pairs))
LINES = st.one_of(
    st.builds(
        lambda head, fields, stamp: f"{head} {fields}{stamp}",
        st.one_of(st.sampled_from(HEADS[:3]), st.sampled_from(HEADS)),
        FIELDS,
        st.sampled_from(STAMPS),
    ),
    st.text(st.sampled_from(list(' ,=\\"#\t\rmf1.e-iu')), max_size=12),  # anything
)
# The fast path reads lines whose series key it has met: a body starts with
# good lines of the plain keys, so that what follows them takes it.
MET = "m f=1\ncpu,host=a f=1\ncpu,cpu=0,host=a f=1\n"


def outcome(text: str, *, exact: bool) -> object:
    """The points (with their values' types: 1 and 1.0 are not the same
    point), or the error."""
    try:
        lines = parse(text, "ns", NOW, exact=exact)
    except LineProtocolError as error:
        return ("error", error.line, error.message)
    return [(line, [type(value) for _, value in line.fields]) for line in lines]


@pytest.mark.parametrize("stamp", STAMPS)
@pytest.mark.parametrize("value", VALUE_TEXTS)
def test_they_agree_on_each_value_and_stamp(value, stamp):
    text = f"{MET}m f={value}{stamp}\ncpu,host=a f=1,g={value}"
    assert outcome(text, exact=False) == outcome(text, exact=True)


@settings(max_examples=150, deadline=None)
@given(LINES)
def test_they_agree_on_a_line(line):
    assert outcome(MET + line, exact=False) == outcome(MET + line, exact=True)


@settings(max_examples=50, deadline=None)
@given(st.lists(LINES, min_size=2, max_size=6))
def test_they_agree_on_a_body(lines):
    text = MET + "\n".join(lines)
    assert outcome(text, exact=False) == outcome(text, exact=True)


def test_plain_lines_are_read_by_the_fast_path(monkeypatch):
    """Only the first line of each series key, and the line with an escape,
    go to the exact parser (else the agreement above would prove nothing)."""
    exact_reads: list[str] = []
    exact_line = line_protocol._exact_line

    def counting(number, line, *args):
        exact_reads.append(line)
        return exact_line(number, line, *args)

    monkeypatch.setattr(line_protocol, "_exact_line", counting)
    text = (
        "cpu,host=a u=1.5,s=2i 1764000000123456789\n"
        "cpu,host=a u=2.5,s=3i 1764000000123456790\n"
        "mem,host=a used=42i,free=7u\n"
        "mem,host=a used=43i,free=8u\n"
        "mem,host=a used=44i,free=9u,\\ =1\n"
        "cpu,host=a u=.5,s=-4i,x=+1e3 1764000000123456791\n"
    )
    lines = parse(text, "ns", NOW)
    assert [line.number for line in lines] == [1, 2, 3, 4, 5, 6]
    assert exact_reads == [
        "cpu,host=a u=1.5,s=2i 1764000000123456789",
        "mem,host=a used=42i,free=7u",
        "mem,host=a used=44i,free=9u,\\ =1",
    ]
    assert lines[5].fields == (("u", 0.5), ("s", -4), ("x", 1000.0))
    assert (lines[3].measurement, lines[3].tags, lines[3].ts_ms) == ("mem", (("host", "a"),), NOW)


@pytest.mark.parametrize("value", ["1_000", "inf", "nan", "\t1", "-12u", "+12u", "١٢x", "1.5i"])
def test_what_float_and_int_take_but_the_protocol_does_not_is_refused(value):
    """float() and int() alone take more than the protocol's numbers."""
    with pytest.raises(LineProtocolError, match="line 2: field 'f' has value"):
        parse(f"m f=1\nm f={value}", "ns", NOW)
