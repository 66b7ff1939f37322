"""JSON error answers, the one shape every refusal of the web layer takes."""

from __future__ import annotations

from typing import Any

import orjson
from quart import Response, jsonify
from werkzeug.exceptions import HTTPException


def json_error(status: int, body: dict[str, Any], retry_after: int = 0) -> Response:
    """*body* as JSON with *status*; a 401 names the Bearer scheme it wants,
    and *retry_after* (seconds, when not 0) says when to try again."""
    response = Response(orjson.dumps(body), status, mimetype="application/json")
    if status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    return response


async def http_error_as_json(error: HTTPException) -> tuple[Response, int]:
    """Quart's own refusals (404, 405, 413, ``abort``) as JSON too."""
    return jsonify(error=error.description or error.name), error.code or 500
