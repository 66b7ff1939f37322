"""The hub's settings in one value, built once from the dashboard's config.

The hub (dashboard/hub.py) and its runner (dashboard/hub_runner.py) read
them; ``HubSettings.from_config`` is the one place that knows which config
fields they are, so a new hub setting is added here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dashboard.channel import MAX_BYTES, MAX_LAG_S

if TYPE_CHECKING:
    from dashboard.config import DashboardConfig


@dataclass(frozen=True)
class HubSettings:
    """How the hub batches, what it keeps, and how far a viewer may fall behind."""

    #: Seconds between two batches (at most one flush per interval).
    flush_interval: float = 0.05
    #: Seconds an idle hub waits after a first point for the rest of its burst
    #: (dashboard/flush_timing.py). Not a config setting.
    coalesce: float = 0.002
    #: Points held per configured feed.
    history_size: int = 3000
    #: Points a new or resuming viewer is sent at most; None: all it holds.
    snapshot_size: int | None = None
    #: Points held per feed created over ingest; None: ``history_size``.
    pushed_history_size: int | None = None
    #: A viewer's outbox; past it the viewer is closed (1008).
    client_max_frames: int = 256
    #: Frames unwritten from which a viewer gets conflated batches; None: half
    #: its outbox (dashboard/channel.py).
    client_conflate_frames: int | None = None
    #: Seconds a viewer may stay behind before it is closed (1008).
    slow_client_timeout: float = 30.0
    #: Seconds its oldest unwritten frame may wait before it counts as behind.
    max_viewer_lag: float = MAX_LAG_S
    #: Bytes its unwritten frames may hold before it counts as behind.
    max_viewer_bytes: int = MAX_BYTES
    #: Points taken but not flushed that force a flush at once: memory stays
    #: bounded when producers outrun the interval. Not a config setting.
    max_pending_points: int = 50_000

    def __post_init__(self) -> None:
        if not self.flush_interval > 0:
            raise ValueError(f"flush_interval must be > 0, not {self.flush_interval}")

    @property
    def pushed_history(self) -> int:
        """Points held per feed created over ingest."""
        return self.pushed_history_size or self.history_size

    @classmethod
    def from_config(cls, config: DashboardConfig) -> HubSettings:
        """The hub settings *config* sets; the others keep their defaults."""
        return cls(
            flush_interval=config.flush_interval,
            history_size=config.history_size,
            snapshot_size=config.snapshot_size,
            pushed_history_size=config.pushed_history_size,
            client_max_frames=config.client_max_frames,
            client_conflate_frames=config.client_conflate_frames,
            slow_client_timeout=config.slow_client_timeout,
            max_viewer_lag=config.max_viewer_lag,
            max_viewer_bytes=config.max_viewer_bytes,
        )


#: Settings with no config field: tuned in code, left at their defaults.
NOT_CONFIGURED = frozenset({"coalesce", "max_pending_points"})
