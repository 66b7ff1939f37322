"""Who may connect, applied: the Origin check on every WebSocket handshake,
the viewer token in front of the page and its data, login, logout and the
session behind them.

The decisions are the pure code of dashboard/access.py (origins, the token,
failed-login throttling) and dashboard/sessions.py (session cookies); this
module only reads headers, cookies and the form, and answers. Refusals are
HTTP responses given before a WebSocket is accepted: Quart hands a response
returned by a ``before_websocket`` hook to Hypercorn as the handshake's
rejection (ASGI ``websocket.http.response``), so a refused client never gets
a WebSocket frame. Every decision is logged as one logfmt event; never a
token or a cookie value.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

import orjson
from flask.sansio.app import App
from quart import Blueprint, Response, current_app, request, websocket
from quart.blueprints import BlueprintSetupState
from quart.wrappers.base import BaseRequestWebsocket

from dashboard.access import LoginThrottle, OriginPolicy, authorized, token_matches
from dashboard.limits import LOGIN_ATTEMPTS
from dashboard.logs import client_address, log_event
from dashboard.sessions import LOGGED_OUT, SESSION_COOKIE, SESSION_EXPIRED, Session, SessionBook
from dashboard.web.errors import json_error
from dashboard.web.pages import LoginPage
from dashboard.web.state import Runtime, runtime_of, scope_of

log = logging.getLogger(__name__)

#: Endpoints open without the viewer token. Everything else needs it, so a
#: route added later (or renamed) is protected until listed here.
#: - healthz: load balancers probe it; it tells only counts.
#: - the login form, and the page's static files: they hold no data, and the
#:   login form needs the stylesheet and icon.
#: - logout: a session that has just expired may still be logged out of.
#: - ingest and InfluxDB's write APIs: they have their own token (ingest_token).
PUBLIC_ENDPOINTS = frozenset(
    {
        "api.healthz",
        "pages.favicon",
        "pages.plotly_js",
        "pages.static_file",
        "access.login_form",
        "access.login",
        "access.logout",
        "ingest.push",
        "ingest.ingest_socket",
        "influx.write_v2",
        "influx.write_v1",
    }
)
#: The page: a person opening it without a session goes to the login form.
PAGE_ENDPOINT = "pages.index"
#: Viewer streams (SSE, dashboard/web/sse.py): checked like /ws, Origin included.
STREAM_ENDPOINTS = frozenset({"sse.sse"})
#: A login form is a few dozen bytes; a larger body is not one.
MAX_LOGIN_BYTES = 4096
UNAUTHORIZED = "viewer token required: log in at /login or send Authorization: Bearer <token>"
#: Where a request's scope keeps the session it came with.
SESSION_SCOPE = "livefeed.session"
#: Where a viewer WebSocket's scope keeps a function that waits for the end of
#: its session and returns the close reason (dashboard/web/viewer.py awaits it).
SESSION_END = "livefeed.session_end"


#: Where an app keeps its Access (Quart's ``app.extensions``).
ACCESS_KEY = "livefeed.access"

blueprint = Blueprint("access", __name__)


def _json_error(status: int, message: str, retry_after: int = 0) -> Response:
    return json_error(status, {"error": message}, retry_after)


def _session_of(source: BaseRequestWebsocket) -> Session | None:
    """The session *source* came with (kept by the check), or None."""
    session = scope_of(source).get(SESSION_SCOPE)
    return session if isinstance(session, Session) else None


def session_end_of(source: BaseRequestWebsocket) -> Callable[[], Awaitable[str]] | None:
    """For a viewer WebSocket that came with a session: a function waiting for
    the session's end (expiry or logout) and returning why; else None."""
    end = scope_of(source).get(SESSION_END)
    return end if callable(end) else None


def _see_other(location: str) -> Response:
    return Response("", 303, headers={"Location": location})


def _throttled_message(seconds: int) -> str:
    return f"Too many wrong tokens from your address: try again in {seconds} s."


class SessionWatch:
    """Open viewer WebSockets wait here for their session to end: at its
    expiry, or at once when it is logged out (in any tab)."""

    def __init__(self, book: SessionBook) -> None:
        self.book = book
        self._logouts: dict[str, asyncio.Event] = {}
        self._watchers: Counter[str] = Counter()

    async def ended(self, session: Session) -> str:
        """Wait until *session* ends; why it did (the close reason)."""
        nonce = session.nonce
        event = self._logouts.setdefault(nonce, asyncio.Event())
        self._watchers[nonce] += 1
        try:
            async with asyncio.timeout(self.book.remaining(session)):
                await event.wait()
            return LOGGED_OUT
        except TimeoutError:
            return SESSION_EXPIRED
        finally:
            self._watchers[nonce] -= 1
            if self._watchers[nonce] <= 0:  # the last socket of the session: forget it
                del self._watchers[nonce], self._logouts[nonce]

    def logged_out(self, nonce: str | None) -> None:
        """End the sockets of one session (None: of every session)."""
        for key, event in self._logouts.items():
            if nonce is None or key == nonce:
                event.set()


@dataclass(frozen=True)
class Refusal:
    status: int  # 401 no or wrong token, 429 too many wrong tokens
    message: str
    retry_after: int = 0


class ViewerGate:
    """The viewer token's checks, with what they share: the session book, the
    failed-login throttle, the metrics."""

    def __init__(self, runtime: Runtime, token: str) -> None:
        self.token = token
        self.book = SessionBook(token, runtime.config.session_max_age)
        self.throttle = LoginThrottle()
        self.watch = SessionWatch(self.book)
        self.metrics = runtime.metrics
        self.violations = runtime.limits.violations

    def check(self, source: BaseRequestWebsocket) -> Refusal | None:
        """None if *source* (a request or a handshake) may see the data; the
        session it came with is kept in its scope."""
        session = self.book.check(source.cookies.get(SESSION_COOKIE))
        if session is not None:
            scope_of(source)[SESSION_SCOPE] = session
            return None
        header = source.headers.get("Authorization")
        if header is None or header.partition(" ")[0].lower() != "bearer":
            return Refusal(401, UNAUTHORIZED)
        # A bearer header is a guess at the token like the login form's:
        # throttled alike, or /api/feeds would be the unthrottled way to guess.
        wait = self.retry_after(source, via="bearer")
        if wait:
            return Refusal(429, f"too many wrong viewer tokens: retry in {wait} s", wait)
        if authorized(header, self.token):
            return None
        self.failed(source, via="bearer")
        return Refusal(401, UNAUTHORIZED)

    def retry_after(self, source: BaseRequestWebsocket, via: str) -> int:
        """0 if *source*'s address may try a token now; else seconds to wait
        (the attempt is counted and logged as throttled)."""
        wait = self.throttle.retry_after(str(source.remote_addr or ""))
        if wait:
            self.violations[LOGIN_ATTEMPTS] += 1
            log_event(
                log,
                logging.INFO,
                "login_throttled",
                client=client_address(source.scope),
                via=via,
                retry_after=wait,
            )
        return wait

    def failed(self, source: BaseRequestWebsocket, via: str) -> None:
        self.throttle.failed(str(source.remote_addr or ""))
        self.metrics.login_failures.inc()
        log_event(
            log,
            logging.INFO,
            "login_refused",
            client=client_address(source.scope),
            via=via,
            reason="wrong_token",
        )

    def log_out(self, session: Session) -> None:
        if not self.book.revoke(session):
            log_event(log, logging.WARNING, "sessions_reset", reason="too_many_logouts")
            self.watch.logged_out(None)
        self.watch.logged_out(session.nonce)


def _set_session_cookie(response: Response, value: str, max_age: int | None) -> None:
    """The session cookie (or its removal, with max_age None and no value).
    HttpOnly: page scripts cannot read it. SameSite=Strict: other sites' pages
    cannot send it. Secure over TLS, never sent in clear; behind a proxy that
    terminates TLS the app sees http and cannot tell (docs/security.md)."""
    secure = request.scheme == "https"
    if max_age is None:
        response.delete_cookie(
            SESSION_COOKIE, path="/", secure=secure, httponly=True, samesite="Strict"
        )
    else:
        response.set_cookie(
            SESSION_COOKIE,
            value,
            max_age=max_age,
            path="/",
            secure=secure,
            httponly=True,
            samesite="Strict",
        )


def _cross_site(
    origins: OriginPolicy, source: BaseRequestWebsocket, action: str = "open this WebSocket"
) -> str | None:
    """Why *source* is refused as another site's, or None."""
    headers = source.headers
    return origins.refusal(headers.get("Origin"), source.scheme, headers.get("Host"), action)


@dataclass(frozen=True)
class Access:
    """One app's origin policy and, with a viewer token, its gate and login page."""

    origins: OriginPolicy
    gate: ViewerGate | None
    page: LoginPage | None

    @classmethod
    def for_runtime(cls, runtime: Runtime) -> Access:
        config = runtime.config
        gate = ViewerGate(runtime, config.viewer_token) if config.viewer_token else None
        page = LoginPage(runtime) if gate else None
        return cls(OriginPolicy(config.allowed_origins), gate, page)


@blueprint.record_once
def _add_access(state: BlueprintSetupState) -> None:
    state.app.extensions[ACCESS_KEY] = Access.for_runtime(runtime_of(state.app))


def access_of(app: App) -> Access:
    """The Access registering this blueprint made for *app*."""
    access = app.extensions[ACCESS_KEY]
    assert isinstance(access, Access)
    return access


# --- the Origin and viewer checks, before every WebSocket and request ------------------


@blueprint.before_app_websocket
async def check_handshake() -> Response | None:
    access = access_of(current_app)
    gate = access.gate
    refusal = _cross_site(access.origins, websocket)
    if refusal is None and gate is not None and websocket.endpoint not in PUBLIC_ENDPOINTS:
        refused = gate.check(websocket)
        if refused is None:
            session = _session_of(websocket)
            if session is not None:
                scope_of(websocket)[SESSION_END] = partial(gate.watch.ended, session)
            return None
        status, refusal, wait = refused.status, refused.message, refused.retry_after
    elif refusal is not None:
        status, wait = 403, 0
    else:
        return None
    log_event(
        log,
        logging.INFO,
        "websocket_refused",
        client=client_address(websocket.scope),
        path=websocket.path,
        status=status,
        reason=refusal,
    )
    return _json_error(status, refusal, wait)


@blueprint.before_app_request
async def check_viewer() -> Response | None:
    access = access_of(current_app)
    gate = access.gate
    stream = request.endpoint in STREAM_ENDPOINTS
    if stream and (refusal := _cross_site(access.origins, request, "open this event stream")):
        where = client_address(request.scope)
        log_event(log, logging.INFO, "stream_refused", client=where, status=403, reason=refusal)
        return _json_error(403, refusal)
    if gate is None or request.endpoint in PUBLIC_ENDPOINTS:
        return None
    refused = gate.check(request)
    if refused is None:
        session = _session_of(request)
        if stream and session is not None:
            scope_of(request)[SESSION_END] = partial(gate.watch.ended, session)
        return None
    if request.endpoint == PAGE_ENDPOINT and refused.status == 401:
        return _see_other("/login")  # a person opening the page: to the login form
    return _json_error(refused.status, refused.message, refused.retry_after)


# --- GET and POST /login, POST /logout, GET /api/session -------------------------------


@blueprint.get("/login")
async def login_form() -> Response:
    access = access_of(current_app)
    gate, page = access.gate, access.page
    if page is None or gate is None or gate.book.check(request.cookies.get(SESSION_COOKIE)):
        return _see_other("/")  # nothing to log in to, or logged in already
    return page.render()


@blueprint.post("/login")
async def login() -> Response:
    access = access_of(current_app)
    gate, page = access.gate, access.page
    if gate is None or page is None:
        return _see_other("/")
    client = client_address(request.scope)
    if _cross_site(access.origins, request) is not None:  # another site's page posting a token
        log_event(log, logging.INFO, "login_refused", client=client, reason="origin")
        return page.render("This form was sent from another site.", 403)
    wait = gate.retry_after(request, via="form")
    if wait:  # not even read: the right token is refused too until the wait is over
        response = page.render(_throttled_message(wait), 429)
        response.headers["Retry-After"] = str(wait)
        return response
    # Browsers send a form with its length; requiring it bounds the read.
    length = request.content_length
    if length is None or length > MAX_LOGIN_BYTES:
        return page.render("That is not a login form.", 413 if length else 411)
    given = (await request.form).get("token", "")
    if not token_matches(given, gate.token):
        gate.failed(request, via="form")
        return page.render("Wrong token. Try again.", 401)
    value, _session = gate.book.issue()
    log_event(log, logging.INFO, "login", client=client, expires_in=gate.book.max_age)
    response = _see_other("/")
    _set_session_cookie(response, value, gate.book.cookie_max_age)
    return response


@blueprint.post("/logout")
async def logout() -> Response:
    access = access_of(current_app)
    gate = access.gate
    if gate is None:
        return _see_other("/")
    client = client_address(request.scope)
    refusal = _cross_site(access.origins, request, "log viewers out")
    if refusal is not None:
        log_event(log, logging.INFO, "logout_refused", client=client, reason="origin")
        return _json_error(403, refusal)
    session = gate.book.check(request.cookies.get(SESSION_COOKIE))
    if session is not None:
        gate.log_out(session)
    log_event(log, logging.INFO, "logout", client=client, had_session=session is not None)
    response = _see_other("/login")
    _set_session_cookie(response, "", None)
    return response


@blueprint.get("/api/session")
async def session_info() -> Response:
    """Whether this dashboard needs a login, and when this page's session
    ends (ms since the epoch; null with a bearer header). Without a live
    session the viewer check answers 401 before this runs."""
    session = _session_of(request)
    expires = None if session is None else round(session.expires * 1000)
    body = {"login": access_of(current_app).gate is not None, "expires": expires}
    response = Response(orjson.dumps(body), mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response
