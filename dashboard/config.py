"""The one typed configuration object of the dashboard."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from dashboard.access import check_allowed_origin, check_tls_files
from dashboard.sessions import check_session_max_age
from feeds.base import check_name
from feeds.loader import FeedSpec
from feeds.ticker import DEFAULT_SYMBOLS

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


@dataclass(frozen=True)
class DashboardConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "info"

    # Feeds to run; empty: the simulated tickers below.
    feeds: tuple[FeedSpec, ...] = ()
    # Feed supervision: a feed that raises is restarted after a backoff that
    # doubles from restart_backoff up to restart_backoff_max (reset once it has
    # run for restart_backoff_max); after max_restarts failures in a row it is
    # left failed (0: never give up).
    restart_backoff: float = 0.5
    restart_backoff_max: float = 30.0
    max_restarts: int = 0

    # Simulated tickers (when no feeds are configured).
    symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    rate: float = 10.0  # updates per second per symbol
    seed: int | None = None
    drift: float = 0.0  # per hour
    volatility: float = 0.05  # per sqrt(hour)

    # Fan-out.
    flush_interval: float = 0.05  # seconds between batches
    history_size: int = 3000  # points held per feed (5 minutes at 10/s)
    client_max_frames: int = 256  # a viewer's outbox; past it the viewer is closed (1008)
    # A viewer with this many frames unwritten gets no more batches, only the
    # latest point per feed once it has drained half of them (a "conflated"
    # batch); one still behind after slow_client_timeout seconds is closed (1008).
    client_conflate_frames: int = 64
    slow_client_timeout: float = 30.0
    await_subscribe_timeout: float = 5.0  # for /ws?await_subscribe=1
    # permessage-deflate on WebSockets. Off: Hypercorn (wsproto) compresses
    # each shared batch again for every connection (72 % of server CPU at
    # 1,000 viewers) and inflates incoming frames without a cap (a compression
    # bomb). See benchmarks/RESULTS.md and docs/security.md.
    ws_compression: bool = False

    # Push ingest (POST /api/feeds/<feed>/points, WS /api/ingest): off without a token.
    ingest_token: str | None = None
    ingest_create_feeds: bool = True  # pushing to an unknown feed name creates it
    ingest_max_points: int = 100_000  # per request or WebSocket message
    ingest_max_bytes: int = 16 * 2**20  # request body / message size

    # Who may connect (docs/security.md). Browser pages of other origins than
    # the dashboard's own that may open /ws and /api/ingest
    # (scheme://host[:port]; "*": any).
    allowed_origins: tuple[str, ...] = ()
    # When set, the page, /ws and the read API need it: a login at /login
    # (session cookie) or Authorization: Bearer. None: open to all.
    viewer_token: str | None = None
    # Seconds a login lasts (its cookie's Max-Age); past it the page goes to /login.
    session_max_age: float = 43200.0
    # PEM certificate chain and unencrypted key: serve https and wss. Both or neither.
    certfile: Path | None = None
    keyfile: Path | None = None

    # Per-client limits (see dashboard/limits.py); a rate of 0 means no limit.
    # Viewers send tiny messages (subscribe, ping): 64 KiB is generous. Text is
    # counted in characters, as Hypercorn counts it. Over it: close 1009.
    viewer_max_message_bytes: int = 64 * 2**10
    # Messages per second per connection, bursts up to 5 s worth. Over: 1008.
    viewer_max_messages_per_s: float = 20.0
    ingest_max_messages_per_s: float = 1000.0
    # Each subscribe builds a snapshot or replay: 1 per 2 s, bursts of 10.
    viewer_max_subscribes_per_s: float = 0.5
    viewer_subscribe_burst: int = 10
    viewer_max_subscribe_names: int = 1024  # feeds or series one subscribe may list
    # Viewer + ingest WebSockets from one client address (0: no limit); behind a
    # reverse proxy every client has the proxy's address.
    max_connections_per_address: int = 64
    # Dead peers: Hypercorn pings every ws_ping_interval but never checks the
    # pong; a peer that sends nothing (not even a pong) for read_timeout is
    # dropped. 0 turns either off; read_timeout needs pings below it.
    ws_ping_interval: float = 20.0
    read_timeout: float = 60.0

    # The page's folder; None: the one shipped with the package.
    static_dir: Path | None = None

    # SQLite file keeping each feed's last history_size points and the epoch
    # across restarts (viewers then resume with no gap); None: memory only.
    history_db: Path | None = None

    # Shutdown: how long viewers get to receive their close frame (1001).
    shutdown_timeout: float = 5.0

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0-65535, not {self.port}")
        if self.log_level not in LOG_LEVELS:
            raise ValueError(f"log level must be one of {', '.join(LOG_LEVELS)}")
        if not self.symbols:
            raise ValueError("at least one symbol is needed")
        for symbol in self.symbols:
            check_name(symbol, "feed")
        if len(set(self.symbols)) != len(self.symbols):
            raise ValueError(f"duplicate symbols in {', '.join(self.symbols)}")
        for name, value in (
            ("rate", self.rate),
            ("flush_interval", self.flush_interval),
            ("await_subscribe_timeout", self.await_subscribe_timeout),
            ("shutdown_timeout", self.shutdown_timeout),
            ("restart_backoff", self.restart_backoff),
            ("restart_backoff_max", self.restart_backoff_max),
            ("slow_client_timeout", self.slow_client_timeout),
        ):
            if not value > 0:
                raise ValueError(f"{name} must be > 0, not {value}")
        if self.history_size < 1 or self.client_max_frames < 1:
            raise ValueError("history_size and client_max_frames must be >= 1")
        if not 1 <= self.client_conflate_frames <= self.client_max_frames:
            raise ValueError(
                f"client_conflate_frames must be 1-{self.client_max_frames} (client_max_frames)"
            )
        if isinstance(self.allowed_origins, str):
            raise ValueError("allowed_origins must be a list of origins, not one string")
        for origin in self.allowed_origins:
            check_allowed_origin(origin)
        if self.viewer_token is not None and not (
            self.viewer_token and all("!" <= c <= "~" for c in self.viewer_token)
        ):
            # It travels in an Authorization header, where only these are safe.
            raise ValueError("viewer_token must be non-empty printable ASCII without spaces")
        check_session_max_age(self.session_max_age)
        check_tls_files(self.certfile, self.keyfile)
        self._check_limits()

    def _check_limits(self) -> None:
        for name, value in (
            ("viewer_max_messages_per_s", self.viewer_max_messages_per_s),
            ("ingest_max_messages_per_s", self.ingest_max_messages_per_s),
            ("viewer_max_subscribes_per_s", self.viewer_max_subscribes_per_s),
            ("max_connections_per_address", self.max_connections_per_address),
            ("ws_ping_interval", self.ws_ping_interval),
            ("read_timeout", self.read_timeout),
        ):
            if not value >= 0:
                raise ValueError(f"{name} must be >= 0 (0: off), not {value}")
        for name, value in (
            ("viewer_max_message_bytes", self.viewer_max_message_bytes),
            ("viewer_subscribe_burst", self.viewer_subscribe_burst),
            ("viewer_max_subscribe_names", self.viewer_max_subscribe_names),
        ):
            if not value >= 1:
                raise ValueError(f"{name} must be >= 1, not {value}")
        if self.read_timeout and not 0 < self.ws_ping_interval < self.read_timeout:
            # A healthy viewer may send nothing for minutes: only the pongs to
            # pings more frequent than the timeout keep it connected.
            raise ValueError(
                f"read_timeout {self.read_timeout} needs a ws_ping_interval between 0 "
                f"and it, not {self.ws_ping_interval}"
            )

    @property
    def logging_level(self) -> int:
        return getattr(logging, self.log_level.upper())
