"""The one typed configuration object of the dashboard.

Each field's annotation is its schema (dashboard/schema.py): the type and, in
``Field(...)``, its range. Whatever builds a config, the command line, the
environment, a file or code, gets these checks; __post_init__ adds the rules
that tie fields together.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, BeforeValidator, Field

from dashboard.access import check_allowed_origin, check_tls_files
from dashboard.backplane_url import check_backplane_url
from dashboard.listen_backlog import DEFAULT_LISTEN_BACKLOG, MAX_LISTEN_BACKLOG
from dashboard.schema import check_fields
from dashboard.sessions import MAX_SESSION_AGE
from feeds.base import check_name
from feeds.loader import FeedSpec
from feeds.ticker import DEFAULT_SYMBOLS

LogLevel = Literal["debug", "info", "warning", "error", "critical"]
LOG_LEVELS: tuple[str, ...] = get_args(LogLevel)


def _unique(items: tuple[str, ...]) -> tuple[str, ...]:
    duplicates = sorted({item for item in items if items.count(item) > 1})
    if duplicates:
        raise ValueError(f"{', '.join(duplicates)} given twice")
    return items


def _not_empty(value: object) -> object:
    if value == "":  # Path("") would be the current folder
        raise ValueError("an empty path names no file")
    return value


def check_static_dir(path: Path) -> Path:
    """The page's folder must hold the page: else every visit would get a 500."""
    if not (path / "index.html").is_file():
        raise ValueError("it has no index.html" if path.is_dir() else "no such folder")
    return path


Port = Annotated[int, Field(ge=0, le=65535)]
Backlog = Annotated[int, Field(ge=1, le=MAX_LISTEN_BACKLOG)]
NonEmpty = Annotated[str, Field(min_length=1)]
Positive = Annotated[float, Field(gt=0)]
ZeroOrMore = Annotated[float, Field(ge=0)]  # for rates and timeouts 0 is "off"
Count = Annotated[int, Field(ge=0)]
AtLeastOne = Annotated[int, Field(ge=1)]
SessionAge = Annotated[float, Field(gt=0, le=MAX_SESSION_AGE)]
# Each feed holds up to history_size points and a line in every hello.
FeedCount = Annotated[int, Field(ge=1, le=100_000)]
# A stop's grace: past 5 minutes a service manager has long since sent SIGKILL
# (systemd after 90 s, Kubernetes after 30 s, docker stop after 10 s).
ShutdownGrace = Annotated[float, Field(gt=0, le=300)]
# A token travels in an Authorization header, where only these are safe; an
# empty one would leave the door open while looking set.
Token = Annotated[
    str, Field(pattern=r"^[!-~]+$", description="non-empty printable ASCII without spaces")
]
FeedName = Annotated[
    str,
    Field(description="a feed name"),
    AfterValidator(functools.partial(check_name, what="feed")),
]
Symbols = Annotated[tuple[FeedName, ...], Field(min_length=1), AfterValidator(_unique)]
Origin = Annotated[
    str,
    Field(description="an origin (scheme://host[:port]) or *"),
    AfterValidator(check_allowed_origin),
]
FilePath = Annotated[Path, BeforeValidator(_not_empty)]
#: How viewers may connect: a WebSocket (/ws), Server-Sent Events (/sse).
Transport = Literal["ws", "sse"]
Transports = Annotated[tuple[Transport, ...], Field(min_length=1), AfterValidator(_unique)]


def _network(text: str) -> str:
    """An address or network (``10.0.0.1``, ``10.0.0.0/8``, ``::1``)."""
    ipaddress.ip_network(text, strict=False)  # ValueError names what is wrong
    return text


def _host_name(text: str) -> str:
    if not text or any(c in text for c in "/@ ") or text != text.strip():
        raise ValueError("a host name as the Host header carries it (example.com, 10.0.0.5:8000)")
    return text.lower()


BackplaneURL = Annotated[
    str,
    Field(description="a backplane URL (redis://host:port/db or rediss://...)"),
    AfterValidator(check_backplane_url),
]
ProxyAddress = Annotated[
    str, Field(description="a proxy's IP address or network"), AfterValidator(_network)
]
HostName = Annotated[
    str, Field(description="a host name, with :port or not"), AfterValidator(_host_name)
]
StaticDir = Annotated[
    Path,
    Field(description="a folder holding the page's index.html"),
    BeforeValidator(_not_empty),
    AfterValidator(check_static_dir),
]


@dataclass(frozen=True)
class DashboardConfig:
    host: NonEmpty = "127.0.0.1"
    port: Port = 8000
    # Connections the kernel queues before the server accepts them; capped
    # by the kernel at net.core.somaxconn (dashboard/listen_backlog.py).
    listen_backlog: Backlog = DEFAULT_LISTEN_BACKLOG
    log_level: LogLevel = "info"

    # Feeds to run; empty: the simulated tickers below.
    feeds: tuple[FeedSpec, ...] = ()
    # Feed supervision: a feed that raises is restarted after a backoff that
    # doubles from restart_backoff up to restart_backoff_max (reset once it has
    # run for restart_backoff_max); after max_restarts failures in a row it is
    # left failed (0: never give up).
    restart_backoff: Positive = 0.5
    restart_backoff_max: Positive = 30.0
    max_restarts: Count = 0

    # Simulated tickers (when no feeds are configured).
    symbols: Symbols = DEFAULT_SYMBOLS
    rate: Positive = 10.0  # updates per second per symbol
    seed: int | None = None
    drift: float = 0.0  # per hour
    volatility: ZeroOrMore = 0.05  # per sqrt(hour)

    # Fan-out.
    flush_interval: Positive = 0.05  # seconds between batches
    # Points held per feed: an hour at 10/s, served reduced by the history API
    # (?max_points=); memory: see "Memory budget" in README.md.
    history_size: AtLeastOne = 36_000
    # What a new (or resuming) viewer is sent of them at most (never more than
    # a feed holds): 5 minutes at 10/s.
    snapshot_size: AtLeastOne = 3000
    # Points held per feed created over ingest: up to max_feeds of them can be
    # made by whoever holds the ingest token, so each keeps only what viewers
    # are sent (max_feeds x this bounds their memory; README "Memory budget").
    pushed_history_size: AtLeastOne = 3000
    client_max_frames: AtLeastOne = 256  # a viewer's outbox; past it the viewer is closed (1008)
    # A viewer with this many frames unwritten gets no more batches, only the
    # latest point per feed once it has drained half of them (a "conflated"
    # batch); one still behind after slow_client_timeout seconds is closed (1008).
    client_conflate_frames: AtLeastOne = 64
    slow_client_timeout: Positive = 30.0
    # Behind as well: its oldest unwritten frame (or a ping after frames
    # written to it, unanswered: dashboard/delivery.py) waited this many
    # seconds, or its unwritten frames hold this many bytes.
    max_viewer_lag: Positive = 2.0
    max_viewer_bytes: AtLeastOne = 4 * 2**20
    await_subscribe_timeout: Positive = 5.0  # for /ws?await_subscribe=1
    # permessage-deflate on WebSockets. Off: Hypercorn (wsproto) compresses
    # each shared batch again for every connection (72 % of server CPU at
    # 1,000 viewers) and inflates incoming frames without a cap (a compression
    # bomb). See benchmarks/RESULTS.md and docs/security.md.
    ws_compression: bool = False
    # Which viewer transports are served: /ws and /sse (docs/protocol.md,
    # "Server-Sent Events"); one left out answers 404 and the page uses the other.
    transports: Transports = ("ws", "sse")
    # An event stream quiet this long gets a heartbeat, so proxies keep it
    # open; at most 15 s: the page counts 20 s of silence as a dead link.
    sse_heartbeat: Annotated[float, Field(gt=0, le=15)] = 15.0

    # Push ingest (POST /api/feeds/<feed>/points, WS /api/ingest): off without a token.
    ingest_token: Token | None = None
    ingest_create_feeds: bool = True  # pushing to an unknown feed name creates it
    ingest_max_points: AtLeastOne = 100_000  # per request or WebSocket message
    ingest_max_bytes: AtLeastOne = 16 * 2**20  # request body / message size
    # Feeds the hub may hold, configured and pushed-in together: ingest creating
    # one more is refused (409 too_many_feeds), more configured is a start error.
    max_feeds: FeedCount = 1000

    # Who may connect (docs/security.md). Browser pages of other origins than
    # the dashboard's own that may open /ws and /api/ingest
    # (scheme://host[:port]; "*": any).
    allowed_origins: tuple[Origin, ...] = ()
    # When set, the page, /ws and the read API need it: a login at /login
    # (session cookie) or Authorization: Bearer. None: open to all.
    viewer_token: Token | None = None
    # Seconds a login lasts (its cookie's Max-Age); past it the page goes to
    # /login. At most 400 days: browsers cap a cookie's Max-Age there.
    session_max_age: SessionAge = 43200.0
    # PEM certificate chain and unencrypted key: serve https and wss. Both or neither.
    certfile: FilePath | None = None
    keyfile: FilePath | None = None

    # Per-client limits (see dashboard/limits.py); a rate of 0 means no limit.
    # Viewers send tiny messages (subscribe, ping): 64 KiB is generous. Text is
    # counted in characters, as Hypercorn counts it. Over it: close 1009.
    viewer_max_message_bytes: AtLeastOne = 64 * 2**10
    # Messages per second per connection, bursts up to 5 s worth. Over: 1008.
    viewer_max_messages_per_s: ZeroOrMore = 20.0
    ingest_max_messages_per_s: ZeroOrMore = 1000.0
    # Each subscribe builds a snapshot or replay: 1 per 2 s, bursts of 10.
    viewer_max_subscribes_per_s: ZeroOrMore = 0.5
    viewer_subscribe_burst: AtLeastOne = 10
    viewer_max_subscribe_names: AtLeastOne = 1024  # feeds or series one subscribe may list
    # Viewer + ingest WebSockets from one client address (0: no limit); behind a
    # reverse proxy every client has the proxy's address.
    max_connections_per_address: Count = 64
    # Dead peers: Hypercorn pings every ws_ping_interval but never checks the
    # pong; a peer that sends nothing (not even a pong) for read_timeout is
    # dropped. 0 turns either off; read_timeout needs pings below it.
    ws_ping_interval: ZeroOrMore = 20.0
    read_timeout: ZeroOrMore = 60.0

    # The page's folder; None: the one shipped with the package.
    static_dir: StaticDir | None = None

    # SQLite file keeping each feed's last history_size points and the epoch
    # across restarts (viewers then resume with no gap); None: memory only.
    history_db: FilePath | None = None

    # Several instances as one dashboard (README "Scale out"): the shared
    # backplane numbering every feed's points and keeping their history; None:
    # this process alone, in memory.
    backplane: BackplaneURL | None = field(default=None, repr=False)  # may hold a password
    # Server processes sharing the port (Hypercorn's workers); more than one
    # needs a shared backplane.
    workers: Annotated[int, Field(ge=1, le=64)] = 1
    # Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed
    # (addresses or networks); from anyone else those headers are ignored.
    trusted_proxies: tuple[ProxyAddress, ...] = ()
    # Host header values served (DNS rebinding); empty: any.
    allowed_hosts: tuple[HostName, ...] = ()

    # Shutdown: how long viewers get to take their close frame (1001); every
    # connection still open then is aborted, so a stop ends within it
    # (plus the history's last write) whatever the peers do.
    shutdown_timeout: ShutdownGrace = 5.0

    def __post_init__(self) -> None:
        check_fields(self)  # each field against its annotation: type and range
        if self.client_conflate_frames > self.client_max_frames:
            raise ValueError(
                f"client_conflate_frames must be <= client_max_frames ({self.client_max_frames}), "
                f"not {self.client_conflate_frames}"
            )
        check_tls_files(self.certfile, self.keyfile)
        if self.read_timeout and not 0 < self.ws_ping_interval < self.read_timeout:
            # A healthy viewer may send nothing for minutes: only the pongs to
            # pings more frequent than the timeout keep it connected.
            raise ValueError(
                f"read_timeout {self.read_timeout} needs a ws_ping_interval between 0 "
                f"and it, not {self.ws_ping_interval}"
            )

        if self.workers > 1 and self.backplane is None:
            raise ValueError(
                f"workers {self.workers} needs a shared backplane (--backplane "
                "redis://host:port/db): each worker alone would number its own points"
            )
        if self.backplane is not None and self.history_db is not None:
            raise ValueError(
                "history_db is for one instance alone: with a backplane, Redis keeps the "
                "history (leave history_db out)"
            )

    @property
    def logging_level(self) -> int:
        return logging.getLevelNamesMapping()[self.log_level.upper()]
