"""The first thing every request and WebSocket handshake meets: the allowed
``Host`` check and, from trusted proxies, the forwarded client and scheme.

An ASGI middleware around the whole app, so it runs before routing, before
every hook and before a WebSocket reaches Quart (dashboard/proxies.py
decides; this module reads the scope and answers):

- From a peer in ``trusted_proxies`` the scope's ``client`` becomes the
  forwarded client's address (the port stays that of the proxy's connection,
  which still tells connections apart in the logs) and its ``scheme`` the
  forwarded one. Everything downstream reads them: the per-address
  connection limit and login throttle (``remote_addr``), the logs
  (``client_address``), the Origin check and the session cookie's ``Secure``
  flag (``scheme``). The proxy's own address is kept under ``PEER``.
- With ``allowed_hosts`` set, a request whose ``Host`` is not listed gets
  400 and a one-line JSON error, a handshake the same as its HTTP answer.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable

from dashboard.logs import client_address, log_event
from dashboard.proxies import HostPolicy, TrustedProxies, client_of, scheme_of

log = logging.getLogger(__name__)

#: An ASGI scope, as the dict it is (Hypercorn's TypedDicts are one per kind).
Scope = dict[str, Any]
#: The ASGI app wrapped (Quart's ``asgi_app``).
ASGIApp = Callable[[Any, ASGIReceiveCallable, ASGISendCallable], Awaitable[None]]

#: Where the scope keeps the connection's own peer once a proxy's client replaced it.
PEER = "livefeed.peer"


def _header_values(scope: Scope, name: bytes) -> list[str]:
    headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
    return [value.decode("latin-1") for key, value in headers if key.lower() == name]


class FrontDoor:
    """ASGI middleware: see the module's docstring."""

    def __init__(
        self, app: ASGIApp, trusted_proxies: tuple[str, ...], allowed_hosts: tuple[str, ...]
    ) -> None:
        self.app = app
        self.trusted = TrustedProxies(trusted_proxies)
        self.hosts = HostPolicy(allowed_hosts)

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if self.trusted:
            scope = self._forwarded(scope)
        if self.hosts.allowed:
            host = _header_values(scope, b"host")
            refusal = self.hosts.refusal(host[0] if host else None)
            if refusal is not None:
                log_event(
                    log,
                    logging.INFO,
                    "host_refused",
                    client=client_address(scope),
                    path=scope.get("path", ""),
                    reason=refusal,
                )
                await _refuse(kind, send, refusal)
                return
        await self.app(scope, receive, send)

    def _forwarded(self, scope: Scope) -> Scope:
        peer = scope.get("client")
        if not peer:
            return scope
        host, port = peer[0], peer[1]
        client = client_of(host, _header_values(scope, b"x-forwarded-for"), self.trusted)
        scheme = scheme_of(
            host, scope["scheme"], _header_values(scope, b"x-forwarded-proto"), self.trusted
        )
        if client == host and scheme == scope["scheme"]:
            return scope
        return {**scope, "client": (client, port), "scheme": scheme, PEER: peer}


async def _refuse(kind: str, send: ASGISendCallable, message: str) -> None:
    """400 with ``{"error": message}``: as the HTTP answer, or as a WebSocket
    handshake's (ASGI's websocket.http.response, which Hypercorn supports)."""
    body = orjson.dumps({"error": message})
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    prefix = "http" if kind == "http" else "websocket.http"
    start: dict[str, Any] = {"type": f"{prefix}.response.start", "status": 400, "headers": headers}
    await send(start)  # type: ignore[arg-type]
    await send({"type": f"{prefix}.response.body", "body": body})  # type: ignore[arg-type]


def front_door(app: ASGIApp, trusted: tuple[str, ...], hosts: tuple[str, ...]) -> Any:
    """*app* behind a FrontDoor, or *app* itself when neither setting is given."""
    return FrontDoor(app, trusted, hosts) if trusted or hosts else app
