"""Who may connect: Origin checks, the viewer and ingest tokens, failed-login
throttling and TLS files, as pure code (sessions: dashboard/sessions.py).

No web framework here: config.py validates settings with these functions and
dashboard/web/gate.py applies them to requests. See docs/security.md.
"""

from __future__ import annotations

import hmac
import math
import ssl
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from dashboard.limits import TokenBucket

#: An allowed_origins entry that lets any origin open the WebSockets.
ANY_ORIGIN = "*"
DEFAULT_PORTS = {"http": 80, "https": 443}
#: A WebSocket handshake's scope scheme, as the origin a browser sees.
HTTP_SCHEME_OF = {"ws": "http", "wss": "https", "http": "http", "https": "https"}


# --- Origin ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Origin:
    """A web origin, normalised: lower-case scheme and host, explicit port."""

    scheme: str
    host: str  # IPv6 addresses without brackets
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = DEFAULT_PORTS[self.scheme] == self.port
        return f"{self.scheme}://{host}" if default else f"{self.scheme}://{host}:{self.port}"


def parse_origin(text: str) -> Origin | None:
    """``scheme://host[:port]`` (http or https) as an Origin; None for anything
    else: "null" (sandboxed frames, file: pages), paths, user info, bad ports."""
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError:  # a port out of range or not a number, a bad IPv6 literal
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    if parts.username is not None or parts.path or parts.query or parts.fragment:
        return None
    if "?" in text or "#" in text:  # empty query or fragment: still not an origin
        return None
    return Origin(scheme, parts.hostname.lower(), DEFAULT_PORTS[scheme] if port is None else port)


def own_origin(scheme: str, host_header: str | None) -> Origin | None:
    """The origin a request was addressed to: its scheme (ws -> http, wss ->
    https) and its ``Host`` header (``:authority`` in HTTP/2, which Hypercorn
    passes on as ``host``)."""
    http_scheme = HTTP_SCHEME_OF.get(scheme.lower())
    if http_scheme is None or not host_header:
        return None
    return parse_origin(f"{http_scheme}://{host_header}")


def check_allowed_origin(value: str) -> str:
    """A valid allowed_origins entry, or ValueError saying what one looks like."""
    if value == ANY_ORIGIN or parse_origin(value) is not None:
        return value
    raise ValueError(
        f"allowed origin {value!r} is not an origin: give scheme://host[:port] "
        f"with http or https and no path (e.g. https://dash.example.com), or {ANY_ORIGIN!r}"
    )


class OriginPolicy:
    """Which browser pages may open the dashboard's WebSockets.

    By default only pages of the dashboard's own origin; ``allowed`` adds
    others, or every origin with ``"*"``.
    """

    def __init__(self, allowed: Iterable[str] = ()) -> None:
        allowed = [check_allowed_origin(value) for value in allowed]
        self.any = ANY_ORIGIN in allowed
        self.allowed = frozenset(parse_origin(value) for value in allowed if value != ANY_ORIGIN)

    def refusal(
        self,
        origin_header: str | None,
        scheme: str,
        host_header: str | None,
        action: str = "open this WebSocket",
    ) -> str | None:
        """None if a handshake (or a login form) with this ``Origin`` may go
        on, else why not: the origin "may not <action>"."""
        if origin_header is None:
            # No Origin header: not a browser (browsers always send one on a
            # WebSocket handshake). Cross-site WebSocket hijacking rides on a
            # victim's browser and its cookies; a program that is not a
            # browser can send any Origin it likes, so refusing it would stop
            # no attacker, only the websockets library, curl and the like.
            return None
        if self.any:
            return None
        origin = parse_origin(origin_header)
        if origin is not None and (
            origin == own_origin(scheme, host_header) or origin in self.allowed
        ):
            return None
        shown = origin_header if len(origin_header) <= 80 else origin_header[:77] + "..."
        return f"origin {shown!r} may not {action} (see --allow-origin)"


# --- viewer token and failed logins ----------------------------------------------------------


def token_matches(given: str, token: str) -> bool:
    """*given* is the viewer token; constant time in the token's contents."""
    return bool(token) and hmac.compare_digest(given.encode(), token.encode())


def authorized(header: str | None, token: str) -> bool:
    """True if the ``Authorization`` header carries ``Bearer <token>``
    (the ingest token's check, and the viewer token's sent as a header)."""
    scheme, _, given = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return False
    try:  # Quart decodes headers as latin-1: encoding back gives the bytes sent.
        sent = given.strip().encode("latin-1")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(sent, token.encode())


# Failed viewer-token attempts per client address: 5 at once (a person
# mistyping), then one more every 10 s. A guesser gets 8,640 tries a day per
# address, nothing against a random token of 20+ characters (the docs ask for
# 32 bytes), and a person who mistyped five times waits 10 s, not minutes.
LOGIN_FAILURE_BURST = 5
LOGIN_FAILURE_REFILL_S = 10.0
#: Addresses whose failures are remembered: a bucket is about 300 bytes, so
#: 10,000 hold about 3 MB whatever the number of addresses trying; the one
#: unused longest is forgotten first.
LOGIN_THROTTLE_ADDRESSES = 10_000


class LoginThrottle:
    """Failed attempts at the viewer token, per client address: a token bucket
    each, taken from by a failure only. While an address's bucket is empty its
    attempts are refused unchecked, the right token included; other addresses
    are not affected."""

    def __init__(
        self,
        *,
        burst: int = LOGIN_FAILURE_BURST,
        refill_s: float = LOGIN_FAILURE_REFILL_S,
        max_addresses: int = LOGIN_THROTTLE_ADDRESSES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if burst < 1 or not refill_s > 0 or max_addresses < 1:
            raise ValueError("a login throttle needs burst >= 1, refill_s > 0, max_addresses >= 1")
        self.burst, self.refill_s, self.max_addresses = burst, refill_s, max_addresses
        self._clock = clock
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def retry_after(self, address: str) -> int:
        """0 if an attempt from *address* may be checked now, else the whole
        seconds (at least 1) until one may: a ``Retry-After`` value."""
        bucket = self._buckets.get(address)
        if bucket is None:
            return 0
        if bucket.available() >= bucket.capacity:
            del self._buckets[address]  # refilled: the same as never having failed
            return 0
        return math.ceil(bucket.wait())

    def failed(self, address: str) -> None:
        """Count one wrong token from *address*."""
        bucket = self._buckets.get(address)
        if bucket is None:
            if len(self._buckets) >= self.max_addresses:
                self._buckets.popitem(last=False)
            bucket = TokenBucket(1 / self.refill_s, self.burst, self._clock)
            self._buckets[address] = bucket
        else:
            self._buckets.move_to_end(address)
        bucket.allow()


# --- TLS -------------------------------------------------------------------------------


def _no_password() -> bytes:
    # Without a callback OpenSSL would prompt on the terminal for an encrypted
    # key; an empty password makes it fail with an error instead.
    return b""


def check_tls_files(certfile: Path | str | None, keyfile: Path | str | None) -> None:
    """Raise ValueError unless both are None or both name a usable PEM pair."""
    if (certfile is None) != (keyfile is None):
        raise ValueError("certfile and keyfile go together: give both (https) or neither (http)")
    if certfile is None or keyfile is None:
        return
    for name, path in (("certfile", certfile), ("keyfile", keyfile)):
        if not Path(path).is_file():
            raise ValueError(f"{name} {str(path)!r} does not exist or is not a file")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(certfile, keyfile, password=_no_password)
    except (ssl.SSLError, OSError) as exc:
        raise ValueError(
            f"cannot serve TLS with certfile {str(certfile)!r} and keyfile {str(keyfile)!r}: "
            f"{exc} (both must be PEM, the key unencrypted and matching the certificate)"
        ) from None
