"""Who may connect, applied: the Origin check on every WebSocket handshake,
the viewer token in front of the page and its data, and the login form.

The decisions are the pure functions of dashboard/access.py; this module only
reads headers, cookies and the form, and answers. Refusals are HTTP
responses given before a WebSocket is accepted: Quart hands a response
returned by a ``before_websocket`` hook to Hypercorn as the handshake's
rejection (ASGI ``websocket.http.response``), so a refused client never gets
a WebSocket frame.
"""

from __future__ import annotations

import html
import logging
from typing import TYPE_CHECKING, Any

import orjson
from quart import Blueprint, Response, request, websocket

from dashboard.access import (
    SESSION_COOKIE,
    OriginPolicy,
    session_valid,
    session_value,
    token_matches,
)
from dashboard.assets import find_static_dir
from dashboard.ingest import authorized

if TYPE_CHECKING:
    from dashboard.app import Runtime

log = logging.getLogger(__name__)

#: Endpoints open without the viewer token. Everything else needs it, so a
#: route added later (or renamed) is protected until listed here.
#: - healthz: load balancers probe it; it tells only counts.
#: - the login form, and the page's static files: they hold no data, and the
#:   login form needs the stylesheet and icon.
#: - ingest: it has its own token (ingest_token).
PUBLIC_ENDPOINTS = frozenset(
    {
        "healthz",
        "favicon",
        "plotly_js",
        "static_file",
        "access.login_form",
        "access.login",
        "ingest.push",
        "ingest.ingest_socket",
    }
)
#: A login form is a few dozen bytes; a larger body is not one.
MAX_LOGIN_BYTES = 4096
UNAUTHORIZED = "viewer token required: log in at /login or send Authorization: Bearer <token>"


def _json_error(status: int, message: str) -> Response:
    response = Response(orjson.dumps({"error": message}), status, mimetype="application/json")
    if status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


def _peer(source: Any) -> str:
    """The client address of a request or WebSocket, for the log."""
    return str(source.remote_addr or "?")


def _see_other(location: str) -> Response:
    return Response("", 303, headers={"Location": location})


class LoginPage:
    """static/login.html with the page's asset prefix and a message filled in."""

    def __init__(self, runtime: Runtime) -> None:
        path = runtime.assets.directory / "login.html"
        if not path.is_file():  # a custom static_dir without one: use the shipped form
            path = find_static_dir() / "login.html"
        self.template = path.read_text(encoding="utf-8").replace(
            "{{STATIC}}", runtime.assets.prefix
        )

    def render(self, message: str = "", status: int = 200) -> Response:
        page = self.template.replace("{{MESSAGE}}", html.escape(message))
        response = Response(page, status, mimetype="text/html")
        response.headers["Cache-Control"] = "no-store"
        return response


def access_blueprint(runtime: Runtime) -> Blueprint:
    config = runtime.config
    token = config.viewer_token
    origins = OriginPolicy(config.allowed_origins)
    blueprint = Blueprint("access", __name__)
    login_page = LoginPage(runtime) if token else None

    def is_viewer(authorization: str | None, cookie: str | None) -> bool:
        if token is None:
            return True
        return authorized(authorization, token) or session_valid(cookie, token)

    @blueprint.before_app_websocket
    async def check_handshake() -> Response | None:
        headers = websocket.headers
        refusal = origins.refusal(headers.get("Origin"), websocket.scheme, headers.get("Host"))
        if refusal is not None:
            log.info("refused WebSocket %s from %s: %s", websocket.path, _peer(websocket), refusal)
            return _json_error(403, refusal)
        if websocket.endpoint in PUBLIC_ENDPOINTS or is_viewer(
            headers.get("Authorization"), websocket.cookies.get(SESSION_COOKIE)
        ):
            return None
        log.info("refused WebSocket %s from %s: no viewer token", websocket.path, _peer(websocket))
        return _json_error(401, UNAUTHORIZED)

    @blueprint.before_app_request
    async def check_viewer() -> Response | None:
        if request.endpoint in PUBLIC_ENDPOINTS or is_viewer(
            request.headers.get("Authorization"), request.cookies.get(SESSION_COOKIE)
        ):
            return None
        if request.endpoint == "index":  # a person opening the page: to the login form
            return _see_other("/login")
        return _json_error(401, UNAUTHORIZED)

    @blueprint.get("/login")
    async def login_form() -> Response:
        if login_page is None or is_viewer(None, request.cookies.get(SESSION_COOKIE)):
            return _see_other("/")  # nothing to log in to, or logged in already
        return login_page.render()

    @blueprint.post("/login")
    async def login() -> Response:
        if token is None or login_page is None:
            return _see_other("/")
        # Browsers send a form with its length; requiring it bounds the read.
        length = request.content_length
        if length is None or length > MAX_LOGIN_BYTES:
            return login_page.render("That is not a login form.", 413 if length else 411)
        given = (await request.form).get("token", "")
        if not token_matches(given, token):
            log.info("viewer login refused from %s: wrong token", _peer(request))
            return login_page.render("Wrong token. Try again.", 401)
        log.info("viewer logged in from %s", _peer(request))
        response = _see_other("/")
        response.set_cookie(
            SESSION_COOKIE,
            session_value(token),
            path="/",
            httponly=True,  # page scripts cannot read it
            samesite="Strict",  # other sites' pages cannot send it
            # Over TLS, never sent in clear. Behind a proxy that terminates
            # TLS the app sees http and cannot tell (docs/security.md).
            secure=request.scheme == "https",
        )
        return response

    return blueprint
