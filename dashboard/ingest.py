"""Push ingest: external programs send points over HTTP or WebSocket."""

from __future__ import annotations

from typing import TYPE_CHECKING

from quart import Blueprint

if TYPE_CHECKING:
    from dashboard.app import Runtime


def ingest_blueprint(runtime: Runtime) -> Blueprint:
    return Blueprint("ingest", __name__)
