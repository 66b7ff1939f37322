"""The live data feed dashboard.

The package's modules are its core: points, the protocol, the hub's fan-out,
history, the backplane, the store, producers and the rules of access and
ingest, none of which loads a web framework. ``dashboard.web`` adapts them to
Quart and Hypercorn. ``create_app`` is imported lazily (PEP 562), so that
``import dashboard.protocol`` does not load the web stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dashboard.config import DashboardConfig
    from dashboard.web.app import create_app

__all__ = ["DashboardConfig", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from dashboard.web.app import create_app

        return create_app
    if name == "DashboardConfig":
        from dashboard.config import DashboardConfig

        return DashboardConfig
    raise AttributeError(f"module 'dashboard' has no attribute {name!r}")
