"""Structured logs: one logfmt line per event, e.g.

    event=viewer_closed client=127.0.0.1:5555 code=1008 reason="too slow: reconnect and resume"

Machines split such a line on spaces and ``=``; people read it as it is. A
value is quoted when it is empty or holds a space, ``=``, a quote, a
backslash or anything unprintable, and escaped inside the quotes so an event
is always one line whatever a client sent. Secrets (tokens) are never passed
here: callers log what happened, not the headers that came with it.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    if char in _ESCAPES:
        return _ESCAPES[char]
    if char.isprintable():
        return char
    code = ord(char)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def format_value(value: Any) -> str:
    """One logfmt value: bare when it can be, otherwise quoted and escaped."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        value = f"{value:.3f}".rstrip("0").rstrip(".") if abs(value) < 1e15 else repr(value)
    text = str(value)
    if text and text.isprintable() and not any(c in text for c in ' ="\\'):
        return text
    return '"' + "".join(_escape(c) for c in text) + '"'


def logfmt(event: str, **fields: Any) -> str:
    """``event=<event> key=value ...`` in the order given."""
    parts = [f"event={format_value(event)}"]
    parts.extend(f"{key}={format_value(value)}" for key, value in fields.items())
    return " ".join(parts)


def log_event(
    logger: logging.Logger, level: int, event: str, *, exc_info: bool = False, **fields: Any
) -> None:
    """Log *event* with *fields* as one logfmt line (formatted only if enabled).

    ``exc_info`` attaches the traceback being handled to the record, for
    events such as a crashing feed where the stack is what one debugs with.
    """
    if logger.isEnabledFor(level):
        logger.log(level, "%s", logfmt(event, **fields), exc_info=exc_info, stacklevel=2)


def client_address(scope: Mapping[str, Any]) -> str:
    """``host:port`` of an ASGI scope's peer (``[v6]:port``): a port tells two
    connections from one host apart."""
    client = scope.get("client")
    if not client:
        return ""
    host, port = client[0], client[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def configure_logging(level: int, worker: int | None = None) -> None:
    """Log to stderr at *level*, one line per record with time, level and
    logger (and which of ``--workers`` wrote it)."""
    who = "%(name)s" if worker is None else f"%(name)s [worker {worker}]"
    logging.basicConfig(
        level=level, format=f"%(asctime)s %(levelname)s {who}: %(message)s", stream=sys.stderr
    )
    # Over TLS browsers speak HTTP/2, whose header decoder (hpack) logs every
    # header at DEBUG, Cookie and Authorization included: no token may reach the log.
    logging.getLogger("hpack").setLevel(max(level, logging.INFO))
