"""Command line: ``python -m dashboard`` (also installed as ``livefeed``).

``python -m dashboard [options]`` serves; ``python -m dashboard feeds`` lists
the feeds that can be loaded by name.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from dashboard.app import create_app
from dashboard.config import LOG_LEVELS, DashboardConfig
from dashboard.config_file import read_config_file
from dashboard.server import bind_socket, serve, url_of
from dashboard.store import HistoryStoreError
from feeds.loader import FeedLoadError, FeedSpec, available

log = logging.getLogger("dashboard")

TOKEN_ENV = "DASHBOARD_INGEST_TOKEN"
VIEWER_TOKEN_ENV = "DASHBOARD_VIEWER_TOKEN"


def _symbols(text: str) -> tuple[str, ...]:
    symbols = tuple(s.strip() for s in text.split(",") if s.strip())
    if not symbols:
        raise argparse.ArgumentTypeError("give at least one symbol, e.g. ACME,GLOBX")
    return symbols


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, not {text}")
    return value


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, not {text}")
    return value


def _count(text: str) -> int:
    value = _non_negative(text)
    if value != int(value):
        raise argparse.ArgumentTypeError(f"must be a whole number, not {text}")
    return int(value)


def build_parser() -> argparse.ArgumentParser:
    defaults = DashboardConfig()
    parser = argparse.ArgumentParser(
        prog="python -m dashboard",
        description="Serve the live data feed dashboard. "
        "`python -m dashboard feeds` lists the feeds that can be loaded by name.",
        epilog=f"Push ingest needs a token: --ingest-token or ${TOKEN_ENV}. "
        "Tokens are better given in the environment: the command line is visible to other users.",
    )
    # Defaults are None so that an option given on the command line can be
    # told apart from one left out, which a --config file may then set.
    add = parser.add_argument
    add("--config", type=Path, help="TOML file with [server] settings and [[feeds]]")
    add("--host", help=f"address to bind (default {defaults.host})")
    add("--port", type=int, help=f"port, 0 for any free one (default {defaults.port})")
    add(
        "--feed",
        nargs="+",
        action="append",
        metavar=("NAME", "KEY=VALUE"),
        help="a feed to run: an installed name or module:object, then its parameters; "
        "repeatable (default: the simulated tickers)",
    )
    add("--symbols", type=_symbols, help="comma-separated ticker symbols (default 8)")
    add("--rate", type=_positive, help=f"ticker updates/s per symbol (default {defaults.rate})")
    add("--seed", type=int, help="seed for reproducible tickers")
    add("--flush-interval", type=_positive, help="seconds between batches (default 0.05)")
    add(
        "--ws-compression",
        action=argparse.BooleanOptionalAction,
        help="accept permessage-deflate on WebSockets (default off: CPU per viewer)",
    )
    add("--ingest-token", help=f"bearer token enabling push ingest (or ${TOKEN_ENV})")
    add(
        "--viewer-token",
        help=f"token the page, /ws and the read API then need; viewers log in at /login "
        f"(or ${VIEWER_TOKEN_ENV}; default: open to all)",
    )
    add(
        "--session-max-age",
        type=_positive,
        metavar="SECONDS",
        help=f"how long a viewer login lasts (default {defaults.session_max_age:g}: 12 h)",
    )
    add(
        "--allow-origin",
        action="append",
        metavar="URL",
        help="an origin besides the dashboard's own whose pages may open its WebSockets, "
        "e.g. https://dash.example.com; repeatable; * allows any",
    )
    add("--certfile", type=Path, help="PEM certificate chain: serve https and wss (with --keyfile)")
    add("--keyfile", type=Path, help="PEM private key of --certfile, unencrypted")
    add(
        "--history-db",
        type=Path,
        metavar="FILE",
        help="SQLite file keeping the history across restarts (default: memory only)",
    )
    add(
        "--max-connections-per-address",
        type=_count,
        metavar="N",
        help="WebSockets one client address may hold, 0 for no limit (default "
        f"{defaults.max_connections_per_address}; behind a reverse proxy all clients share one)",
    )
    add(
        "--ws-ping-interval",
        type=_non_negative,
        metavar="SECONDS",
        help=f"WebSocket ping interval, 0 for none (default {defaults.ws_ping_interval:g})",
    )
    add(
        "--read-timeout",
        type=_non_negative,
        metavar="SECONDS",
        help="drop a connection that sends nothing, not even a pong, for this long; "
        f"0 for never (default {defaults.read_timeout:g})",
    )
    add("--log-level", choices=LOG_LEVELS, help="default info")
    return parser


def config_from_args(argv: Sequence[str] | None = None) -> DashboardConfig:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = read_config_file(args.config) if args.config else {}
        given = {
            "host": args.host,
            "port": args.port,
            "symbols": args.symbols,
            "rate": args.rate,
            "seed": args.seed,
            "flush_interval": args.flush_interval,
            "log_level": args.log_level,
            "ws_compression": args.ws_compression,
            "history_db": args.history_db,
            "ingest_token": args.ingest_token or os.environ.get(TOKEN_ENV) or None,
            "viewer_token": args.viewer_token or os.environ.get(VIEWER_TOKEN_ENV) or None,
            "session_max_age": args.session_max_age,
            "allowed_origins": tuple(args.allow_origin) if args.allow_origin else None,
            "certfile": args.certfile,
            "keyfile": args.keyfile,
            "max_connections_per_address": args.max_connections_per_address,
            "ws_ping_interval": args.ws_ping_interval,
            "read_timeout": args.read_timeout,
        }
        settings.update({k: v for k, v in given.items() if v is not None})
        if args.feed:
            settings["feeds"] = tuple(FeedSpec.parse(words) for words in args.feed)
        return replace(DashboardConfig(), **settings)
    except (ValueError, TypeError, FeedLoadError) as exc:
        parser.error(str(exc))
        raise  # unreachable: error() exits


async def run(config: DashboardConfig) -> None:
    """Serve until SIGINT or SIGTERM, then shut down cleanly."""
    try:
        app = create_app(config)
    except (FeedLoadError, HistoryStoreError) as exc:
        raise SystemExit(f"error: {exc}") from None
    try:
        sock = bind_socket(config.host, config.port)
    except OSError as exc:
        raise SystemExit(f"cannot listen on {config.host}:{config.port}: {exc.strerror}") from None
    url = url_of(sock, tls=config.certfile is not None)
    shutdown = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, shutdown.set)
    feeds = ", ".join(app.extensions["livefeed"].hub.feeds)
    print(f"Dashboard running at {url}  (Ctrl-C to stop)\nFeeds: {feeds}", flush=True)
    await serve(app, sock, shutdown)  # logs event=server_stopped


def list_feeds() -> int:
    found = available()
    if not found:
        print("No feeds installed under the dashboard.feeds entry-point group.")
    width = max((len(a.name) for a in found), default=0)
    for item in found:
        print(f"{item.name:<{width}}  {item.target}  (from {item.origin})")
    print("\nAny module:object naming a @feed function or a Feed subclass works too.")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["feeds"]:
        return list_feeds()
    config = config_from_args(argv)
    logging.basicConfig(
        level=config.logging_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Over TLS browsers speak HTTP/2, whose header decoder (hpack) logs every
    # header at DEBUG, Cookie and Authorization included: no token may reach the log.
    logging.getLogger("hpack").setLevel(max(config.logging_level, logging.INFO))
    asyncio.run(run(config))
    return 0
