"""The ``--backplane`` setting: which backplane, where, and how to show it.

A backplane is named by a URL whose scheme picks the module that serves it
(``redis://`` and ``rediss://``: Redis Streams). Parsing is pure and checked
when the config is built, so a wrong URL stops the start with one line, and
``redacted`` is the only form that reaches a log, a page or an error: the
password in a URL is never shown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

#: Schemes a backplane URL may have.
SCHEMES = ("redis", "rediss")
DEFAULT_REDIS_PORT = 6379


@dataclass(frozen=True)
class BackplaneUrl:
    """A parsed backplane URL (``scheme://[user[:password]@]host[:port][/db]``)."""

    scheme: str
    host: str
    port: int
    db: int
    username: str | None
    password: str | None
    #: The URL as given, for the client library (which reads its own options).
    url: str

    @property
    def tls(self) -> bool:
        return self.scheme == "rediss"

    @property
    def address(self) -> str:
        """``host:port``, for errors that must say where."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def redacted(self) -> str:
        """The URL with any password replaced by ``***``."""
        user = self.username or ""
        auth = f"{user}:***@" if self.password is not None else (f"{user}@" if user else "")
        return f"{self.scheme}://{auth}{self.address}/{self.db}"


def parse_backplane_url(text: str) -> BackplaneUrl:
    """*text* parsed; ValueError with a one-line reason (never the password)."""
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ValueError("not a URL of the form redis://host:port/db") from None
    if parts.scheme not in SCHEMES:
        given = f"{parts.scheme}://" if parts.scheme else "no scheme"
        raise ValueError(f"{given} is not a backplane: use redis://host:port/db or rediss://")
    if not parts.hostname:
        raise ValueError("it names no host: use redis://host:port/db")
    path = parts.path.strip("/")
    if path and not path.isdigit():
        raise ValueError(f"the database must be a number (redis://host:port/0), not {path!r}")
    if parts.query or parts.fragment:
        raise ValueError("query and fragment are not supported: use redis://host:port/db")
    return BackplaneUrl(
        scheme=parts.scheme,
        host=parts.hostname,
        port=DEFAULT_REDIS_PORT if port is None else port,
        db=int(path) if path else 0,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        url=text,
    )


def check_backplane_url(text: str) -> str:
    """The config's validator: the text, once it parses."""
    parse_backplane_url(text)
    return text


def redact_url(text: str) -> str:
    """*text* with a URL's password hidden, even where it does not parse."""
    return re.sub(r"(://[^/@:]*:)[^/@]*@", r"\1***@", text)
