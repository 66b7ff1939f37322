"""Records of a replayed file: CSV, NDJSON, or a JSON array of objects.

Each reader yields a :class:`Record` per row with its line number and the byte
offset it starts at (so a reader can start again there), read lazily: a
multi-GB file is never held in memory. A row that cannot be read (a wrong field
count, a malformed NDJSON line, bytes that are not UTF-8) is a Record with a
``problem`` and the reading goes on; a file that cannot be read on
(:class:`FileFormatError`: no header, a header that changed, a JSON array
broken mid-way) stops it.
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

#: Format by lower-case file extension.
FORMATS = {".csv": "csv", ".ndjson": "ndjson", ".jsonl": "ndjson", ".json": "json"}
CHUNK = 64 * 1024  # bytes read at a time from a JSON array


class FileFormatError(ValueError):
    """The file cannot be read on from here; the message names file and line."""


@dataclass(frozen=True, slots=True)
class Record:
    """One row: its fields, or why it could not be read (``fields`` is None)."""

    line: int
    offset: int
    fields: Mapping[str, Any] | None
    problem: str = ""


def records(
    file: IO[bytes], fmt: str, path: Path, header: list[str] | None, line: int = 1, offset: int = 0
) -> Generator[Record, None, None]:
    """The records of *file* from byte *offset* (which starts line *line*).

    From offset 0 a CSV's header is read and must equal *header* (if given);
    from elsewhere *header* names the fields. A JSON array resumed mid-way
    starts at an element."""
    file.seek(offset)
    if fmt == "csv":
        return _csv_records(file, path, header, line, offset)
    if fmt == "ndjson":
        return _ndjson_records(file, line, offset)
    return _JsonArray(file, path, line, offset).records()


def read_header(path: Path) -> list[str]:
    """A CSV file's column names (its first non-blank row), checked."""
    with path.open("rb") as file:
        lines = _Lines(file, 1, 0)
        reader = csv.reader(lines, strict=True)
        for fields in reader:
            if lines.bad is not None:
                raise FileFormatError(f"{path}, line {reader.line_num}: {lines.bad}")
            if fields:
                header = [f.strip() for f in fields]
                if len(set(header)) != len(header):
                    raise FileFormatError(
                        f"{path}, line {reader.line_num}: a column name appears twice in {header}"
                    )
                return header
    raise FileFormatError(f"{path}: empty file, no CSV header")


class _Lines:
    """A binary file's lines as text, counting the bytes handed out; a line
    that is not UTF-8 is handed out empty with ``bad`` saying why."""

    def __init__(self, file: IO[bytes], line: int, offset: int) -> None:
        self.file = file
        self.number = line - 1
        self.consumed = offset
        self.bad: str | None = None

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        raw = self.file.readline()
        if not raw:
            raise StopIteration
        self.number += 1
        self.consumed += len(raw)
        if self.consumed == len(raw) and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.bad = f"not UTF-8 text ({exc.reason})"
            return "\n"


def _csv_records(
    file: IO[bytes], path: Path, header: list[str] | None, line: int, offset: int
) -> Generator[Record, None, None]:
    lines = _Lines(file, line, offset)
    reader = csv.reader(lines, strict=True)
    expected, header = header, (header if offset else None)
    while True:
        start, at = lines.consumed, lines.number + 1  # where the next record starts
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            yield Record(at, start, None, f"malformed CSV: {exc}")
            continue
        if lines.bad is not None:
            yield Record(at, start, None, lines.bad)
            lines.bad = None
            continue
        if not fields:
            continue  # a blank line
        if header is None:
            header = [f.strip() for f in fields]
            if expected is not None and header != expected:
                raise FileFormatError(
                    f"{path}, line {at}: header {header} is not the {expected} it was"
                )
            continue
        if len(fields) != len(header):
            problem = f"{len(fields)} fields where the header has {len(header)}"
            yield Record(at, start, None, problem)
            continue
        yield Record(at, start, dict(zip(header, fields, strict=True)))
    if header is None:
        raise FileFormatError(f"{path}: empty file, no CSV header")


def _ndjson_records(file: IO[bytes], line: int, offset: int) -> Generator[Record, None, None]:
    for number, raw in enumerate(file, line):
        start, offset = offset, offset + len(raw)
        if not raw.strip():
            continue  # a blank line
        try:
            record = json.loads(raw)
        except UnicodeDecodeError as exc:
            yield Record(number, start, None, f"not UTF-8 text ({exc.reason})")
            continue
        except json.JSONDecodeError as exc:
            yield Record(number, start, None, f"malformed JSON: {exc.msg} (column {exc.colno})")
            continue
        if not isinstance(record, dict):
            yield Record(number, start, None, f"{_json_type(record)}, not a JSON object")
            continue
        yield Record(number, start, record)


def _json_type(value: Any) -> str:
    """'an object', 'a number', ... for messages."""
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    return "null" if value is None else names.get(type(value), "a number")


class _JsonArray:
    """Streams the elements of a top-level JSON array, one object at a time,
    with the line and byte offset each starts at: the text is decoded a chunk
    at a time and only the element being read is kept."""

    def __init__(self, file: IO[bytes], path: Path, line: int, offset: int) -> None:
        self.file = file
        self.path = path
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.text = ""  # decoded, not yet consumed
        self.line = line  # the line self.text starts on
        self.offset = offset  # the byte offset self.text starts at
        self.ended = False
        self.resumed = offset > 0

    def records(self) -> Generator[Record, None, None]:
        if not self.resumed:
            if self._next_char() == "\ufeff":
                self._consume(1)
            self._expect("[")
            self._consume(1)
            if self._next_char() == "]":
                self._consume(1)
                self._expect_end()
                return
        decoder = json.JSONDecoder()
        while True:
            self._next_char()  # skip to the element: its line and offset
            line, offset = self.line, self.offset
            value, end = self._decode(decoder)
            self._consume(end)
            if isinstance(value, dict):
                yield Record(line, offset, value)
            else:
                yield Record(line, offset, None, f"{_json_type(value)}, not a JSON object")
            if self._expect(",]") == "]":
                self._consume(1)
                self._expect_end()
                return
            self._consume(1)

    def _error(self, message: str) -> FileFormatError:
        return FileFormatError(f"{self.path}, line {self.line}: {message}")

    def _more(self) -> bool:
        if self.ended:
            return False
        try:
            chunk = self.file.read(CHUNK)
            self.text += self.decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            raise self._error(f"not UTF-8 text ({exc.reason})") from None
        self.ended = not chunk
        return True

    def _consume(self, count: int) -> None:
        done, self.text = self.text[:count], self.text[count:]
        self.line += done.count("\n")
        self.offset += len(done.encode("utf-8"))

    def _next_char(self) -> str:
        """Skip white space; the next character ("" at the end of the file)."""
        while True:
            stripped = self.text.lstrip(" \t\r\n")
            self._consume(len(self.text) - len(stripped))
            if self.text or not self._more():
                return self.text[:1]

    def _expect(self, wanted: str) -> str:
        char = self._next_char()
        if not char or char not in wanted:
            found = repr(char) if char else "the end of the file"
            raise self._error(f"malformed JSON array: {found} where {' or '.join(wanted)} belongs")
        return char

    def _expect_end(self) -> None:
        if self._next_char():
            raise self._error("malformed JSON array: text after the closing ]")

    def _decode(self, decoder: json.JSONDecoder) -> tuple[Any, int]:
        """The element at the start of the text; reads on until it is whole
        (and, unless the file ended, followed by a character, so a number
        cut by the chunk's end is not taken as it stands)."""
        while True:
            try:
                value, end = decoder.raw_decode(self.text)
                if end < len(self.text) or self.ended:
                    return value, end
            except json.JSONDecodeError as exc:
                if self.ended:
                    line = self.line + exc.lineno - 1
                    raise FileFormatError(
                        f"{self.path}, line {line}: malformed JSON: {exc.msg}"
                    ) from None
            self._more()
