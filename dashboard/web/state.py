"""What the routes share, typed and in one place: ``runtime_of(app)``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any, cast

from flask.sansio.app import App
from quart.wrappers.base import BaseRequestWebsocket

from dashboard.assemble import Core
from dashboard.config import DashboardConfig
from dashboard.frames import WireFrames
from dashboard.hub import Hub
from dashboard.hub_runner import HubRunner
from dashboard.limits import Limits
from dashboard.metrics import Metrics
from dashboard.producers import Producers
from dashboard.store import HistoryStore
from dashboard.web.assets import StaticAssets

#: Where an app keeps its Runtime (Quart's ``app.extensions``).
RUNTIME_KEY = "livefeed"


@dataclass
class Runtime:
    """One app's core and the web parts around it."""

    core: Core
    assets: StaticAssets
    started: float = field(default_factory=time.monotonic)
    #: Set when the server begins to shut down, so long-lived sockets that are
    #: not viewers (ingest) can close with 1001 instead of being cut off.
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    #: Frames built once per batch for every viewer on the fast send path.
    wire_frames: WireFrames = field(default_factory=WireFrames)

    @property
    def config(self) -> DashboardConfig:
        return self.core.config

    @property
    def hub(self) -> Hub:
        return self.core.hub

    @property
    def runner(self) -> HubRunner:
        return self.core.runner

    @property
    def producers(self) -> Producers:
        return self.core.producers

    @property
    def metrics(self) -> Metrics:
        return self.core.metrics

    @property
    def limits(self) -> Limits:
        return self.core.limits

    @property
    def store(self) -> HistoryStore | None:
        return self.core.store


def runtime_of(app: App) -> Runtime:
    """The Runtime ``create_app`` made for *app* (a Quart app; typed as its
    base class, which is what a blueprint's setup state holds)."""
    runtime = app.extensions.get(RUNTIME_KEY)
    if not isinstance(runtime, Runtime):
        raise LookupError("not an app made by dashboard.create_app: no livefeed runtime")
    return runtime


def scope_of(source: BaseRequestWebsocket) -> MutableMapping[str, Any]:
    """*source*'s ASGI scope, as the dict it is (typed as a closed TypedDict):
    the routes keep what they learn about a connection in it."""
    return cast("MutableMapping[str, Any]", source.scope)
