"""The page and its files: ``/``, the favicon, ``/static/<version>/...`` and
the vendored plotly.js, all from the app's StaticAssets (dashboard/web/assets.py);
and the login form's page, which dashboard/web/gate.py serves."""

from __future__ import annotations

import html
from pathlib import Path

from quart import Blueprint, Response, abort, current_app, send_file
from werkzeug.security import safe_join

from dashboard.web.assets import find_static_dir
from dashboard.web.state import Runtime, runtime_of
from dashboard.web.static_files import coded_response

IMMUTABLE = "public, max-age=31536000, immutable"
#: Feed titles, units and errors are shown as text (static/js); should one
#: ever reach the DOM as markup anyway, only the page's own script files run:
#: no inline script, no on* handler, no javascript: URL, no plugin. Markup
#: cannot call eval, so 'unsafe-eval' opens nothing to it; Plotly's WebGL
#: traces (regl) compile shaders' glue with Function(), and Playwright's
#: polling predicates are evaluated in the page.
PAGE_CSP = "script-src 'self' 'unsafe-eval'; object-src 'none'; base-uri 'none'"

blueprint = Blueprint("pages", __name__)


def cache_control(requested: str, current: str) -> str:
    """An old page asking for an old version still gets a file, just not one
    it may keep: only the current version is immutable."""
    return IMMUTABLE if requested == current else "no-cache"


@blueprint.get("/")
async def index() -> Response:
    assets = runtime_of(current_app).assets
    response = await coded_response(assets.files, assets.index_file, "no-cache")
    response.headers["Content-Security-Policy"] = PAGE_CSP
    return response


@blueprint.get("/favicon.ico")
async def favicon() -> Response:
    icon = runtime_of(current_app).assets.directory / "favicon.svg"
    return await send_file(icon, mimetype="image/svg+xml")


@blueprint.get("/static/<version>/vendor/plotly.min.js")
async def plotly_js(version: str) -> Response:
    assets = runtime_of(current_app).assets
    content = assets.files.read(assets.plotly_js)
    return await coded_response(assets.files, content, cache_control(version, assets.version))


@blueprint.get("/static/<version>/<path:path>")
async def static_file(version: str, path: str) -> Response:
    assets = runtime_of(current_app).assets
    # safe_join refuses paths that leave the folder (404), as send_from_directory did.
    found = safe_join(str(assets.directory), path)
    if found is None or not Path(found).is_file():
        abort(404)
    content = assets.files.read(Path(found))
    return await coded_response(assets.files, content, cache_control(version, assets.version))


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
