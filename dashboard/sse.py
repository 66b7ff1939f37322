"""Server-Sent Events as pure code: the same messages as ``/ws``, framed as
SSE events, and the event ``id`` that lets a client resume exactly.

An event's ``data`` is the very JSON text a WebSocket viewer receives. An
event that carries points (``snapshot``, ``replay``, ``batch``), and the
``hello`` that opens a stream, also carry an ``id``: the epoch and every
feed's last ``seq`` so far, encoded by :func:`encode_id`. A browser's
EventSource sends the last id it saw as ``Last-Event-ID`` when it reconnects;
:func:`decode_id` turns it back into the ``resume`` of a ``subscribe``, so the
reply is exactly the points missed (docs/protocol.md, "Server-Sent Events").
The other events carry no id: the browser keeps the last one it was given.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from urllib.parse import quote, unquote

import orjson

from dashboard.points import MAX_SAFE_INTEGER
from dashboard.protocol import MAX_EPOCH_LENGTH, Resume
from feeds.base import check_name

#: The id's format version: the first field of every id.
ID_VERSION = "1"
#: Longest id sent: a Last-Event-ID header must pass proxies (nginx takes
#: 8 KiB per header line by default) and the server (16 KiB of headers in
#: all). Past it the id holds the epoch alone, and a resume gets a snapshot.
MAX_ID_LENGTH = 4096
#: Sent while the stream is quiet, so proxies do not time it out: a comment
#: (what a proxy or curl sees) and an event the page's watchdog sees (a
#: comment never reaches a page's script).
HEARTBEAT = ": ping\nevent: ping\ndata: {}\n\n"
#: Event names of the events that are not a protocol message.
CLOSE_EVENT = "close"

_SEP = "/"  # between the version, the epoch and the seqs: in no name, escaped in the epoch
_POINT = re.compile(r'\{"feed":"([A-Za-z0-9_.\-]+)","seq":(\d+),')
_TYPE = re.compile(r'^\{"type":"([a-z]+)"')
_EPOCH = re.compile(r'"epoch":"((?:[^"\\]|\\.)*)"')
_WITH_POINTS = frozenset({"snapshot", "replay", "batch"})


class BadEventId(ValueError):
    """A Last-Event-ID this server could not have sent; the message says why."""


def encode_event(data: str, *, event: str | None = None, event_id: str | None = None) -> str:
    """One SSE event: optional ``event`` name and ``id``, then *data* (one
    ``data:`` line per line of it), then the blank line that ends it."""
    head = f"event: {event}\n" if event else ""
    if event_id is not None:
        head += f"id: {event_id}\n"
    if "\n" not in data and "\r" not in data:  # the JSON the hub makes: one line
        return f"{head}data: {data}\n\n"
    lines = data.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return head + "".join(f"data: {line}\n" for line in lines) + "\n"


def retry_field(milliseconds: int) -> str:
    """How long a browser waits before it reconnects by itself."""
    return f"retry: {milliseconds}\n\n"


def close_event(code: int, reason: str) -> str:
    """The stream's last event: why the server ends it, with the close code a
    WebSocket viewer would have been given (1001, 1008, 4401)."""
    data = orjson.dumps({"type": "close", "code": code, "reason": reason}).decode()
    return encode_event(data, event=CLOSE_EVENT)


def encode_id(epoch: str, seqs: Mapping[str, int]) -> str:
    """``1/<epoch>/<feed>:<seq>,<feed>:<seq>`` with seqs in base 36 and the
    epoch percent-encoded (feed names need no escaping: letters, digits,
    ``_``, ``.``, ``-``). Only the epoch when that would pass MAX_ID_LENGTH."""
    head = f"{ID_VERSION}{_SEP}{quote(epoch, safe='')}{_SEP}"
    body = ",".join(f"{feed}:{_base36(seq)}" for feed, seq in seqs.items())
    return head + body if len(head) + len(body) <= MAX_ID_LENGTH else head


def decode_id(text: str, max_feeds: int) -> Resume:
    """The resume an id from :func:`encode_id` stands for, or BadEventId."""
    if len(text) > MAX_ID_LENGTH:
        raise BadEventId(f"is {len(text)} characters long; ids are at most {MAX_ID_LENGTH}")
    parts = text.split(_SEP)
    if len(parts) != 3 or parts[0] != ID_VERSION:
        raise BadEventId(f"{_shown(text)} is not an id this server sent")
    epoch = unquote(parts[1])
    if not epoch or len(epoch) > MAX_EPOCH_LENGTH:
        raise BadEventId(f"its epoch must be 1-{MAX_EPOCH_LENGTH} characters")
    seqs: dict[str, int] = {}
    for entry in parts[2].split(",") if parts[2] else ():
        feed, _, seq = entry.partition(":")
        try:
            check_name(feed, "feed")
            value = int(seq, 36)
        except ValueError:
            raise BadEventId(f"{_shown(entry)} is not <feed>:<seq>") from None
        if not 0 <= value <= MAX_SAFE_INTEGER or feed in seqs:
            raise BadEventId(f"{_shown(entry)} is out of range or given twice")
        seqs[feed] = value
    if len(seqs) > max_feeds:
        raise BadEventId(f"lists more than {max_feeds} feeds")
    return Resume(epoch=epoch, seqs=seqs)


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, digit = divmod(number, 36)
        text = digits[digit] + text
        if not number:
            return text


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")


@functools.lru_cache(maxsize=64)
def _batch_seqs(frame: str) -> tuple[tuple[str, int], ...]:
    """A batch's last seq per feed; a batch is the same string for every
    viewer of a subscription, so it is scanned once for all of them."""
    return tuple({feed: int(seq) for feed, seq in _POINT.findall(frame)}.items())


class SeqTracker:
    """Where one stream stands: the epoch of its hello and each feed's last
    ``seq`` sent, from the frames as they go out; its ``id`` after each.

    Starts from the client's resume (what it held), so an id after a replay
    that brought nothing for some feed still names that feed's seq.
    """

    def __init__(self, resume: Resume | None = None) -> None:
        self.epoch = resume.epoch if resume else ""
        self.seqs: dict[str, int] = dict(resume.seqs) if resume else {}

    def take(self, frame: str) -> str | None:
        """Note what *frame* (a hub message) tells; the id to send with it,
        or None for a message that moves no seq (the browser keeps its last)."""
        match = _TYPE.match(frame)
        kind = match.group(1) if match else ""
        if kind == "hello":
            epoch_match = _EPOCH.search(frame)
            epoch = orjson.loads(f'"{epoch_match.group(1)}"') if epoch_match else ""
            if epoch != self.epoch:  # another run: what was held is not resumable in it
                self.epoch, self.seqs = epoch, {}
            return self.id
        if kind not in _WITH_POINTS:
            return None
        if kind == "batch":
            self.seqs.update(_batch_seqs(frame))
        else:
            self.seqs.update({feed: int(seq) for feed, seq in _POINT.findall(frame)})
        return self.id

    @property
    def id(self) -> str:
        return encode_id(self.epoch, self.seqs)
