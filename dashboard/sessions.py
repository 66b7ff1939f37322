"""Viewer sessions as pure code: signed cookie values that expire, and logouts.

A session cookie's value is ``<issued_ms>.<nonce>.<mac>``: when it was issued
(milliseconds on the book's clock), 128 random bits, and an HMAC-SHA256 of
both. The MAC key is derived from the viewer token and a secret drawn when the
process starts, so:

- the value holds nothing of the token, and differs on every login and on
  every server: one stolen value is worth one session, for at most
  ``max_age`` seconds;
- logging out revokes the nonce here, in memory, until the session would have
  expired anyway. The record is complete because it lives exactly as long as
  the key: a restart draws a new key, which ends every session (the page then
  goes to /login). A key that outlived the process (derived from the token
  alone) would let a restart forget every logout while the cookies it revoked
  still verified.

Nothing here reads a request or a clock of its own: the gate
(dashboard/web/gate.py) passes cookie values in, and a clock at construction.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import math
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

#: The viewer's session cookie.
SESSION_COOKIE = "livefeed_session"
#: Browsers cap a cookie's lifetime at 400 days (RFC 6265bis); a longer
#: session would outlive its own cookie.
MAX_SESSION_AGE = 400 * 86400.0
#: Logouts remembered at once. A revocation is kept until its session would
#: have expired (12 h by default): 10,000 logouts in that time is far beyond
#: any team's, and holds about 2 MB. Past it every session is ended instead
#: (a new key), never a revocation forgotten.
MAX_REVOKED = 10_000
SESSION_EXPIRED = "session expired"
LOGGED_OUT = "logged out"

_VALUE = re.compile(r"(\d{1,16})\.([A-Za-z0-9_-]{22})\.([0-9a-f]{64})")
_KEY_LABEL = b"livefeed viewer session v2\x00"


def check_session_max_age(value: float) -> float:
    """A valid session lifetime in seconds, or ValueError saying what one is."""
    if not 0 < value <= MAX_SESSION_AGE:
        raise ValueError(
            f"session_max_age must be > 0 and at most {MAX_SESSION_AGE:.0f} seconds "
            f"(400 days, browsers' cookie limit), not {value}"
        )
    return value


@dataclass(frozen=True)
class Session:
    """A valid session: its nonce, and when it ends (seconds on the book's clock)."""

    nonce: str
    expires: float


def session_key(token: str, secret: bytes) -> bytes:
    """The MAC key of this process's sessions for *token*."""
    return hmac.new(secret, _KEY_LABEL + token.encode(), hashlib.sha256).digest()


def _mac(key: bytes, issued_ms: int, nonce: str) -> str:
    return hmac.new(key, f"{issued_ms}.{nonce}".encode(), hashlib.sha256).hexdigest()


def encode_session(key: bytes, issued_ms: int, nonce: str) -> str:
    """The cookie value of the session *nonce* issued at *issued_ms*."""
    return f"{issued_ms}.{nonce}.{_mac(key, issued_ms, nonce)}"


def decode_session(value: str | None, key: bytes, now: float, max_age: float) -> Session | None:
    """The session *value* stands for if it was made with *key* and has not
    expired at *now*; None otherwise. The MAC is compared in constant time."""
    match = _VALUE.fullmatch(value or "")
    if match is None:
        return None
    issued_text, nonce, mac = match.groups()
    issued_ms = int(issued_text)
    if not hmac.compare_digest(mac, _mac(key, issued_ms, nonce)):
        return None
    expires = issued_ms / 1000 + max_age
    return Session(nonce, expires) if now < expires else None


class Revocations:
    """Nonces logged out, each kept until its session's expiry, at most *capacity*."""

    def __init__(self, capacity: int = MAX_REVOKED) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, not {capacity}")
        self.capacity = capacity
        self._nonces: set[str] = set()
        self._by_expiry: list[tuple[float, str]] = []  # a heap: the next to expire first

    def __contains__(self, nonce: str) -> bool:
        return nonce in self._nonces

    def __len__(self) -> int:
        return len(self._nonces)

    def add(self, session: Session, now: float) -> bool:
        """Revoke *session*; False (and nothing added) when the record is full
        of sessions that have not expired yet."""
        while self._by_expiry and self._by_expiry[0][0] <= now:
            self._nonces.discard(heapq.heappop(self._by_expiry)[1])
        if session.nonce in self._nonces:
            return True
        if len(self._nonces) >= self.capacity:
            return False
        self._nonces.add(session.nonce)
        heapq.heappush(self._by_expiry, (session.expires, session.nonce))
        return True


class SessionBook:
    """The sessions of one process: issued at login, checked on every request,
    revoked at logout. *clock* is wall-clock seconds (``time.time``)."""

    def __init__(
        self,
        token: str,
        max_age: float,
        *,
        clock: Callable[[], float] = time.time,
        max_revoked: int = MAX_REVOKED,
    ) -> None:
        self.token = token
        self.max_age = check_session_max_age(max_age)
        self._clock = clock
        self._key = session_key(token, secrets.token_bytes(32))
        self._revoked = Revocations(max_revoked)

    @property
    def cookie_max_age(self) -> int:
        """The cookie's Max-Age: whole seconds, never shorter than the session."""
        return math.ceil(self.max_age)

    def issue(self) -> tuple[str, Session]:
        """A new session: its cookie value, and the session."""
        issued_ms = int(self._clock() * 1000)
        nonce = secrets.token_urlsafe(16)  # 128 bits, 22 characters of [A-Za-z0-9_-]
        value = encode_session(self._key, issued_ms, nonce)
        return value, Session(nonce, issued_ms / 1000 + self.max_age)

    def check(self, value: str | None) -> Session | None:
        """The live session *value* stands for: signed here, not expired, not logged out."""
        session = decode_session(value, self._key, self._clock(), self.max_age)
        if session is None or session.nonce in self._revoked:
            return None
        return session

    def remaining(self, session: Session) -> float:
        """Seconds until *session* expires (0 when it has)."""
        return max(0.0, session.expires - self._clock())

    def revoke(self, session: Session) -> bool:
        """End *session* for good. True if only it ended; False if the record
        of logouts was full, so every session was ended instead (a new key)."""
        if self._revoked.add(session, self._clock()):
            return True
        self._key = session_key(self.token, secrets.token_bytes(32))
        self._revoked = Revocations(self._revoked.capacity)
        return False
