"""InfluxDB line protocol, parsed: what Telegraf and the influxdb clients write.

One point a line::

    measurement[,tag_key=tag_value...] field_key=field_value[,...] [timestamp]

- escaping (a backslash before the character): in the measurement, commas and
  spaces; in tag keys, tag values and field keys, commas, equals signs and
  spaces; ``\\\\`` is one backslash everywhere; a backslash before any other
  character is itself (``a\\b`` is ``a\\b``), as InfluxDB reads it;
- field values: floats (``1``, ``-1.5``, ``6.02e23``), integers ``12i`` and
  unsigned integers ``12u``; strings (``"..."``) and booleans (``t``, ``true``,
  ``F`` ...) are valid line protocol but **refused**: the dashboard plots numbers;
- the timestamp is optional, an integer in the request's precision (``ns``,
  ``us``, ``ms``, ``s``, and InfluxDB 1.x's ``n``, ``u``, ``m``, ``h``),
  converted to the dashboard's integer milliseconds (rounded down); a line
  without one gets *now_ms*, the server's clock passed in (one instant for the
  whole request, as InfluxDB does);
- blank lines and comments (``#`` first) are skipped; ``\\r\\n`` line ends work.

The first bad line raises :class:`LineProtocolError` naming its number (1 is the
body's first line) and what is wrong. Pure: no web framework, no clock of its own.
See docs/protocol.md "InfluxDB line protocol".

Most lines (Telegraf's) escape nothing: a line with no backslash or quote whose
series key an earlier line had is read by a fast path (str methods; float() and
int() behind checks taking exactly the numbers the exact parser's regexes take).
Every other line, and any the fast path is unsure of, goes to the exact parser,
which also words every error (tests/unit/test_line_protocol_fast.py: they agree).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Milliseconds per unit of each precision InfluxDB 2 (ns, us, ms, s) or 1.x
#: (n, u, ms, s, m, h) names; below 1 ms the timestamp is divided.
PRECISIONS: dict[str, tuple[int, int]] = {  # name -> (multiply by, then divide by)
    "ns": (1, 1_000_000),
    "n": (1, 1_000_000),
    "us": (1, 1_000),
    "u": (1, 1_000),
    "ms": (1, 1),
    "s": (1_000, 1),
    "m": (60_000, 1),
    "h": (3_600_000, 1),
}
DEFAULT_PRECISION = "ns"
#: How much of a line or value an error quotes.
MAX_QUOTED = 60

_FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_INT = re.compile(r"[+-]?\d+")
_UINT = re.compile(r"\d+")
_BOOLEANS = frozenset({"t", "T", "true", "True", "TRUE", "f", "F", "false", "False", "FALSE"})
_MEASUREMENT_ESCAPES = re.compile(r"\\([, \\])")
_KEY_ESCAPES = re.compile(r"\\([,= \\])")


class LineProtocolError(ValueError):
    """A refused body: ``line`` (1-based, 0 when it is not one line's fault)
    and ``message``, which starts with ``line <n>: ``."""

    def __init__(self, line: int, what: str) -> None:
        self.line = line
        self.message = f"line {line}: {what}" if line else what
        super().__init__(self.message)


#: A line's measurement and tags.
SeriesKey = tuple[str, tuple[tuple[str, str], ...]]
#: A line's fields, in order: (key, number).
Fields = tuple[tuple[str, int | float], ...]


@dataclass(frozen=True, slots=True)
class Line:
    """One parsed point: names unescaped, tags as given, the time in ms."""

    number: int
    measurement: str
    tags: tuple[tuple[str, str], ...]
    fields: tuple[tuple[str, int | float], ...]
    ts_ms: int


@dataclass(frozen=True, slots=True)
class Points:
    """A body's points as columns, one entry each in order: the line's number,
    and its row: first section as written (``head``: its measurement and tags
    are ``keys[head]``, equal text being one series key), fields, time in ms."""

    numbers: list[int]
    rows: list[tuple[str, Fields, int]]  # (head, fields, ts_ms)
    keys: dict[str, SeriesKey]

    def __len__(self) -> int:
        return len(self.numbers)

    def line(self, i: int) -> Line:
        """Point *i* as a :class:`Line`."""
        head, fields, ts_ms = self.rows[i]
        measurement, tags = self.keys[head]
        return Line(self.numbers[i], measurement, tags, fields, ts_ms)


def check_precision(precision: str | None) -> str:
    """*precision* (None: the default, ns) if it is one InfluxDB names, else ValueError."""
    if precision is None or precision == "":
        return DEFAULT_PRECISION
    if precision not in PRECISIONS:
        raise ValueError(
            f"precision {_quote(precision)} is not one of ns, us, ms, s (or 1.x's n, u, m, h)"
        )
    return precision


def parse(
    text: str, precision: str, now_ms: int, max_lines: int | None = None, *, exact: bool = False
) -> list[Line]:
    """Every point of *text*, in order; :class:`LineProtocolError` at the first
    bad line, or past *max_lines* points (its ``line`` then 0). *exact*: the
    escaping parser for every line, without the fast path (tests compare)."""
    points = parse_points(text, precision, now_ms, max_lines, exact=exact)
    return [points.line(i) for i in range(len(points))]


def parse_points(
    text: str, precision: str, now_ms: int, max_lines: int | None = None, *, exact: bool = False
) -> Points:
    """:func:`parse`'s points as columns, without an object per point."""
    multiply, divide = PRECISIONS[precision]
    points = Points([], [], {})
    numbers, rows = points.numbers, points.rows
    # Lines repeat their measurement and tags (a series key): each distinct
    # one is split and unescaped once per request.
    keys = points.keys
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.strip(" \t\r")
        if not line or line[0] == "#":
            continue
        if max_lines is not None and len(numbers) >= max_lines:
            raise LineProtocolError(0, f"more than {max_lines} points in one request")
        parsed = None if exact else _fast_line(line, keys, multiply, divide, now_ms)
        if parsed is None:
            parsed = _exact_line(number, line, keys, multiply, divide, now_ms)
        numbers.append(number)
        rows.append(parsed)
    return points


# --- the fast path: most lines (Telegraf's) escape nothing ------------------------------


def _fast_line(
    line: str, keys: dict[str, SeriesKey], multiply: int, divide: int, now_ms: int
) -> tuple[str, Fields, int] | None:
    """*line* parsed as :func:`_exact_line` parses it, if it is a plain one: no
    backslash or quote, single spaces, a series key met before, numbers written
    the common way, a timestamp of digits; else None (the exact parser then
    reads it, to the same result or its error)."""
    if "\\" in line or '"' in line:
        return None
    parts = line.split(" ")
    if len(parts) == 3:
        head, body, stamp = parts
        if not stamp.isdecimal():  # what \d+ matches: the exact parser's int() then
            return None
        ts = int(stamp) * multiply // divide
    elif len(parts) == 2:
        head, body = parts
        ts = now_ms
    else:
        return None
    if head not in keys:
        return None
    values = _fast_fields(body)
    return None if values is None else (head, values, ts)


#: A float's characters in the fast path; with float() accepting the text, they
#: make exactly what _FLOAT matches (float() alone also takes "inf", "1_0", " 1").
_FLOAT_CHARS = "0123456789.eE+-"


def _fast_fields(body: str) -> Fields | None:
    """The fields section of a plain line, or None where :func:`_field` might
    see it otherwise (it then does the reading, or names the error)."""
    fields: list[tuple[str, int | float]] = []
    try:
        for part in body.split(","):
            key, _, value = part.partition("=")
            if not key:
                return None
            last = value[-1:]
            if last == "i":
                digits = value[:-1]
                if not (digits.isdecimal() or (digits[:1] in "+-" and digits[1:].isdecimal())):
                    return None
                fields.append((key, int(digits)))
            elif last == "u":
                digits = value[:-1]
                if not digits.isdecimal():
                    return None
                fields.append((key, int(digits)))
            elif value.strip(_FLOAT_CHARS):  # a character that is not a float's
                return None
            else:
                fields.append((key, float(value)))  # ValueError: "1.2.3", "e5", ""
    except ValueError:
        return None
    return tuple(fields)


# --- the exact parser: escapes, quotes, and every error ---------------------------------


def _exact_line(
    number: int, line: str, keys: dict[str, SeriesKey], multiply: int, divide: int, now_ms: int
) -> tuple[str, Fields, int]:
    """One line's series key text (its parsed key put in *keys*), fields and
    time in ms; :class:`LineProtocolError` if it is not a point."""
    if "\\" in line or '"' in line:
        sections = _sections(line)
    else:
        sections = line.split(" ")
        if "" in sections:  # several spaces in a row
            sections = [part for part in sections if part]
    if len(sections) < 2:
        what = f"no fields in {_quote(line)}: need at least one key=value"
        raise LineProtocolError(number, what)
    if len(sections) > 3:
        what = f"unexpected {_quote(' '.join(sections[3:]))} after the timestamp"
        raise LineProtocolError(number, what + " (escape spaces in names with a backslash)")
    head = sections[0]
    if head not in keys:
        keys[head] = _series_key(number, head)
    fields = tuple([_field(number, part) for part in _split(sections[1], ",", quotes=True)])
    if len(sections) == 3:
        stamp = sections[2]
        if not _INT.fullmatch(stamp):
            raise LineProtocolError(number, f"timestamp {_quote(stamp)} is not an integer")
        return head, fields, int(stamp) * multiply // divide
    return head, fields, now_ms


def _series_key(number: int, head: str) -> SeriesKey:
    """The measurement and tags of a line's first section."""
    key, *tag_parts = _split(head, ",")
    measurement = _unescape(key, _MEASUREMENT_ESCAPES)
    if not measurement:
        raise LineProtocolError(number, "the measurement is empty")
    return measurement, tuple([_tag(number, part) for part in tag_parts])


def _tag(number: int, part: str) -> tuple[str, str]:
    pieces = _split(part, "=")
    if len(pieces) != 2 or not pieces[0] or not pieces[1]:
        what = f"tag {_quote(part)} is not key=value (escape ',', '=' and ' ' with a backslash)"
        raise LineProtocolError(number, what)
    return _unescape(pieces[0], _KEY_ESCAPES), _unescape(pieces[1], _KEY_ESCAPES)


def _field(number: int, part: str) -> tuple[str, int | float]:
    raw_key, equals, value = _partition_key(part)
    key = _unescape(raw_key, _KEY_ESCAPES)
    if not equals or not key or not value:
        what = f"field {_quote(part)} is not key=value (escape ',', '=' and ' ' with a backslash)"
        raise LineProtocolError(number, what)
    last = value[-1]
    if last == "i":
        if _INT.fullmatch(value, 0, len(value) - 1):
            return key, int(value[:-1])
    elif last == "u":
        if _UINT.fullmatch(value, 0, len(value) - 1):
            return key, int(value[:-1])
    elif _FLOAT.fullmatch(value):
        return key, float(value)
    if value[0] == '"':
        what = f"field {_quote(key)} is a string ({_quote(value)}): only numbers are accepted"
        raise LineProtocolError(number, what)
    if value in _BOOLEANS:
        what = f"field {_quote(key)} is a boolean ({value}): only numbers are accepted"
        raise LineProtocolError(number, what)
    what = (
        f"field {_quote(key)} has value {_quote(value)}, not a number "
        "(a float such as 1.5 or 2e3, an integer such as 12i, or unsigned 12u)"
    )
    raise LineProtocolError(number, what)


# --- splitting on unescaped characters ------------------------------------------------


def _sections(line: str) -> list[str]:
    """*line* split on spaces that are neither escaped nor inside a field's
    quoted string (quotes count in the second section only)."""
    sections: list[str] = []
    start, i, size = 0, 0, len(line)
    value_at = -1  # where the value after the last unescaped '=' starts
    while i < size:
        char = line[i]
        if char == "\\":
            i += 2
            continue
        if char == "=":
            value_at = i + 1
        elif char == '"' and len(sections) == 1 and i == value_at:
            i = _string_end(line, i)
            continue
        elif char == " ":
            if i > start:
                sections.append(line[start:i])
            start = i + 1
        i += 1
    if start < size:
        sections.append(line[start:])
    return sections


def _string_end(text: str, i: int) -> int:
    """Where the quoted string opening at *i* ends (after its closing quote), or
    the end of *text* if it is not closed."""
    i += 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
        elif text[i] == '"':
            return i + 1
        else:
            i += 1
    return len(text)


def _split(text: str, separator: str, *, quotes: bool = False) -> list[str]:
    """*text* split on *separator* where it is not escaped (nor, with
    *quotes*, inside a field's quoted string value)."""
    if "\\" not in text and not (quotes and '"' in text):
        return text.split(separator)
    parts: list[str] = []
    start, i, size = 0, 0, len(text)
    value_at = -1  # where the value after the last unescaped '=' starts
    while i < size:
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if char == "=":
            value_at = i + 1
        if quotes and char == '"' and i == value_at:
            i = _string_end(text, i)
            continue
        if char == separator:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return parts


def _partition_key(part: str) -> tuple[str, str, str]:
    """A field ``key=value`` at its first unescaped ``=``."""
    if "\\" not in part:
        return part.partition("=")
    i, size = 0, len(part)
    while i < size:
        if part[i] == "\\":
            i += 2
        elif part[i] == "=":
            return part[:i], "=", part[i + 1 :]
        else:
            i += 1
    return part, "", ""


def _unescape(text: str, escapes: re.Pattern[str]) -> str:
    return escapes.sub(r"\1", text) if "\\" in text else text


def _quote(text: str) -> str:
    shown = text if len(text) <= MAX_QUOTED else text[: MAX_QUOTED - 3] + "..."
    return repr(shown)
