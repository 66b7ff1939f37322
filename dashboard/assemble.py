"""The core put together from the settings: feeds, backplane, hub, producers, store.

``assemble(config)`` builds what a dashboard runs, with no web framework;
``dashboard.web.app`` adds the routes around it. ``Core.running()`` starts
and stops the parts in the one order that loses nothing: the store before
the hub (whose flushes it saves), producers last; on the way out producers
stop first, viewers are told (1001), the hub's last flush is still saved,
and the store writes what is queued before it closes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from dashboard.announce import too_many_configured
from dashboard.backplane import Backplane, MemoryBackplane
from dashboard.backplane_url import parse_backplane_url
from dashboard.config import DashboardConfig
from dashboard.health import HealthCollector
from dashboard.hub import Hub
from dashboard.hub_runner import HubRunner
from dashboard.hub_settings import HubSettings
from dashboard.leases import leases_for
from dashboard.limits import Limits, limits_from_config
from dashboard.metrics import Metrics
from dashboard.producers import Backoff, Producers
from dashboard.store import HistoryStore, open_history_store
from feeds.base import FeedSource
from feeds.loader import FeedLoadError, FeedSpec
from feeds.loader import load as load_feed

#: What runs when no feed is configured; loaded like any other feed.
DEFAULT_FEED = "feeds.ticker:tickers"


def default_sources(config: DashboardConfig) -> list[FeedSource]:
    """The configured feeds, or the simulated tickers; raises FeedLoadError."""
    specs = config.feeds or (
        FeedSpec(
            DEFAULT_FEED,
            {
                "symbols": config.symbols,
                "rate": config.rate,
                "seed": config.seed,
                "drift": config.drift,
                "volatility": config.volatility,
            },
        ),
    )
    sources = [source for spec in specs for source in load_feed(spec)]
    names = [s.info.name for s in sources]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise FeedLoadError(f"two feeds are named {', '.join(duplicates)}: rename one (name=...)")
    return sources


@dataclass
class Core:
    """One dashboard's running parts, before any web framework."""

    config: DashboardConfig
    #: Drives the hub (``runner.hub``): publish, the flush timer, start/stop.
    runner: HubRunner
    producers: Producers
    #: This dashboard's Prometheus registry and metric objects (GET /metrics).
    metrics: Metrics
    #: Per-client limits, and the count of their violations by reason.
    limits: Limits
    #: Where the history is kept across restarts (--history-db); None: memory only.
    store: HistoryStore | None = None

    @property
    def hub(self) -> Hub:
        return self.runner.hub

    def feed_states(self) -> list[str]:
        return [status.state for status in self.producers.status.values()]

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        store, runner, producers = self.store, self.runner, self.producers
        if store is not None:
            store.start()
        await runner.start()
        producers.start()
        try:
            yield
        finally:
            try:
                await producers.stop()
                runner.hub.close_all()
                await runner.stop()  # the hub's last flush is still saved
            finally:
                if store is not None:
                    await store.close()  # writes what is queued first


def open_backplane(config: DashboardConfig) -> Backplane:
    """The backplane the settings name: by the URL's scheme (``redis://``,
    ``rediss://``: Redis Streams), the in-memory one when none is set.
    Nothing is reached yet: ``connect()`` (at start) does that."""
    if config.backplane is None:
        return MemoryBackplane()
    url = parse_backplane_url(config.backplane)
    # Imported here: the embedded default never loads the Redis client.
    from dashboard.redis_backplane import RedisBackplane

    return RedisBackplane(url, history_size=config.history_size)


def assemble(
    config: DashboardConfig,
    *,
    sources: Iterable[FeedSource] | None = None,
    backplane: Backplane | None = None,
) -> Core:
    """The core for *config*; raises FeedLoadError or HistoryStoreError (a
    one-line message) for settings it cannot run with. Everything that can
    fail on bad settings is checked first, the history file (locked) last."""
    metrics = Metrics()  # a registry of this app's own, not the process-global one
    sources = list(default_sources(config) if sources is None else sources)
    if too_many := too_many_configured(len(sources), config.max_feeds):
        raise FeedLoadError(too_many)
    backplane = backplane or open_backplane(config)
    store = stored = None
    if config.history_db is not None:
        # Raises HistoryStoreError (clear message) for a file that cannot be used.
        store, stored = open_history_store(config.history_db, config.history_size)
        try:
            # Each feed numbered on from its last kept seq (after an unclean
            # stop, a new epoch and its first new point drawn after a break).
            backplane.restore(stored)
        except BaseException:
            store.close_now()  # the file is not left locked
            raise
    limits = limits_from_config(config)
    metrics.limit_violations = limits.violations  # read at scrape time
    hub = Hub(
        backplane, HubSettings.from_config(config), store=store, metrics=metrics, limits=limits
    )
    metrics.feeds.set_function(lambda: len(hub.feeds))
    metrics.max_feeds.set(config.max_feeds)
    if stored is not None:
        hub.restore(stored.points)
    runner = HubRunner(hub)
    backoff = Backoff(config.restart_backoff, config.restart_backoff_max, config.max_restarts)
    # Each feed runs on one instance: leases in the Redis a shared backplane uses.
    producers = Producers(runner, sources, backoff, metrics, leases=leases_for(backplane))
    core = Core(config, runner, producers, metrics, limits, store=store)
    metrics.registry.register(HealthCollector(core.feed_states, store))
    return core
