"""The typed Hypercorn config the dashboard serves with: Hypercorn's settings
and those its overrides (dashboard/web/framework.py) read. A misspelt setting
is an error (mypy's, and AttributeError when set)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from hypercorn.config import Config

from dashboard.web.stopping import Connections


class ServerConfig(Config):
    """Hypercorn's config and the settings the overrides below read. Their
    defaults leave Hypercorn's behaviour as it is; ``serve()`` sets them."""

    #: Message size for every path but ingest's (Hypercorn's own
    #: ``websocket_max_message_size`` is then the ingest limit); None: one limit.
    viewer_max_message_size: int | None = None
    #: Least seconds between two delivery probes (dashboard/web/probing.py).
    viewer_probe_spacing: float = 0.0
    #: Counts a refusal: ``(reason, client address)``, e.g. ``Limits.count``.
    count_violation: Callable[[str, str], None] | None = None
    #: Accept permessage-deflate when the client offers it (Hypercorn always does).
    websocket_compression: bool = True
    #: The open connections a stop aborts at its deadline (dashboard/web/stopping.py).
    open_connections: Connections | None = None

    if not TYPE_CHECKING:  # mypy checks names statically; this checks them when run

        def __setattr__(self, name: str, value: object) -> None:
            # Hypercorn declares each setting on the class, some by annotation only.
            declared = (vars(c).get("__annotations__", {}) for c in type(self).__mro__)
            if not (hasattr(type(self), name) or any(name in names for names in declared)):
                raise AttributeError(f"{type(self).__name__} has no setting {name!r}")
            super().__setattr__(name, value)
