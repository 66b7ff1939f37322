"""Behind a reverse proxy: who the client really is, which scheme it used,
and which ``Host`` values are served, as pure code.

A request's peer is the proxy when one is in front; the client's address
and scheme come in ``X-Forwarded-For`` and ``X-Forwarded-Proto``. Anyone
can send those headers, so they are believed only from a peer in
``trusted_proxies`` (``--trusted-proxy``), and of ``X-Forwarded-For`` only
the hops those proxies added: the list is read from the right, skipping
trusted proxies, and the first address that is not one is the client (the
"rightmost untrusted hop"; what a client put on the left itself is never
reached). An entry that is not an address ends the walk: the hop that
wrote it is taken as the client, as nothing beyond it can be believed.

``allowed_hosts`` (``--allowed-host``) refuses requests addressed to other
names: a DNS-rebinding page, whose own name resolves to the dashboard's
address, sends its own name as ``Host``.

No web framework here: dashboard/web/front.py applies these to each request.
See docs/security.md.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: X-Forwarded-Proto values believed, and the scheme each gives HTTP and WebSocket scopes.
FORWARDED_SCHEMES = {"http": ("http", "ws"), "https": ("https", "wss")}


def parse_address(text: str) -> IPAddress | None:
    """An IP address from a forwarded hop or a peer: ``1.2.3.4``, ``::1``,
    ``[::1]``, ``1.2.3.4:5678``, ``[::1]:80``; None for anything else."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # IPv4 with a port (IPv6 has two colons or more)
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text.partition("%")[0])  # no IPv6 zone
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # ::ffff:10.0.0.1 is 10.0.0.1 (a dual-stack socket's peer)
    return address


class TrustedProxies:
    """The networks whose forwarded headers are believed; empty: nobody's."""

    def __init__(self, networks: Iterable[str] = ()) -> None:
        self.networks: tuple[IPNetwork, ...] = tuple(
            ipaddress.ip_network(text, strict=False) for text in networks
        )

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, address: IPAddress | None) -> bool:
        return address is not None and any(
            address.version == net.version and address in net for net in self.networks
        )


def forwarded_hops(headers: Sequence[str]) -> list[str]:
    """The X-Forwarded-For hops of every such header, in order (several
    headers are one list, as HTTP joins them)."""
    return [hop.strip() for header in headers for hop in header.split(",") if hop.strip()]


def client_of(peer: str, forwarded_for: Sequence[str], trusted: TrustedProxies) -> str:
    """The client's address: *peer* unless it is a trusted proxy, then the
    rightmost X-Forwarded-For hop that is not one (the leftmost hop if all
    are; *peer* if a trusted proxy sent none). An entry that is not an
    address stops the walk at the trusted hop that added it."""
    current = peer
    if not trusted.trusts(parse_address(peer)):
        return peer
    for hop in reversed(forwarded_hops(forwarded_for)):
        address = parse_address(hop)
        if address is None:
            return current  # a hop we trust wrote something that is no address
        current = str(address)
        if not trusted.trusts(address):
            return current
    return current


def scheme_of(
    peer: str, scheme: str, forwarded_proto: Sequence[str], trusted: TrustedProxies
) -> str:
    """The scheme the client used: *scheme* (``http``, ``https``, ``ws``,
    ``wss``) as the connection has it, or, from a trusted proxy, the one its
    X-Forwarded-Proto names (the last value: the proxy nearest to us; ws and
    wss for WebSockets). A value that is neither http nor https is ignored."""
    if not forwarded_proto or not trusted.trusts(parse_address(peer)):
        return scheme
    last = forwarded_hops(forwarded_proto)[-1:] or [""]
    given = FORWARDED_SCHEMES.get(last[0].lower())
    if given is None:
        return scheme
    return given[1] if scheme in ("ws", "wss") else given[0]


# --- Host ------------------------------------------------------------------------------


def split_host(header: str) -> tuple[str, str | None]:
    """A Host header as (host lower-case, without a trailing dot; port or None).
    ``[::1]:8000`` -> ("[::1]", "8000")."""
    text = header.strip().lower()
    if text.startswith("["):
        host, _, rest = text.partition("]")
        host += "]"
        port = rest[1:] if rest.startswith(":") else None
    else:
        host, colon, port_text = text.rpartition(":")
        if not colon:
            host, port_text = text, ""
        port = port_text if colon else None
    return host.rstrip("."), port


@dataclass(frozen=True)
class HostPolicy:
    """Which ``Host`` values are served. An entry with a port allows that
    host on that port; one without, the host on any port. Empty: any host."""

    allowed: tuple[str, ...] = ()

    def allows(self, header: str | None) -> bool:
        if not self.allowed:
            return True
        if not header:
            return False  # HTTP/1.0 without Host: not addressed to a listed name
        host, port = split_host(header)
        for entry in self.allowed:
            want_host, want_port = split_host(entry)
            if want_host == host and (want_port is None or want_port == port):
                return True
        return False

    def refusal(self, header: str | None) -> str | None:
        """None if a request with this ``Host`` is served, else why not."""
        if self.allows(header):
            return None
        if not header:
            return "a Host header is required (see --allowed-host)"
        shown = header if len(header) <= 80 else header[:77] + "..."
        return f"host {shown!r} is not served here (see --allowed-host)"
