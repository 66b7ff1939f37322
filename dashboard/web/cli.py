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
import socket
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NoReturn

from quart import Quart

from dashboard.backplane import BackplaneError
from dashboard.backplane_url import parse_backplane_url
from dashboard.config import LOG_LEVELS, DashboardConfig
from dashboard.config_file import ConfigFile, read_config_file
from dashboard.listen_backlog import backlog_warning, kernel_backlog_cap
from dashboard.logs import configure_logging
from dashboard.schema import SettingError
from dashboard.settings import Given, build_config, env_name, from_environment, setting_names
from dashboard.store import HistoryStoreError
from dashboard.web.app import create_app
from dashboard.web.server import bind_socket, serve, url_of
from dashboard.web.state import runtime_of
from dashboard.web.workers import supervise, worker_process
from feeds.loader import FeedLoadError, FeedSpec, available, check_unique, parameters, resolve

log = logging.getLogger("dashboard")

TOKEN_ENV = env_name("ingest_token")
VIEWER_TOKEN_ENV = env_name("viewer_token")
#: Options whose name is not the setting's (--allow-origin sets allowed_origins).
FLAGS = {
    "allowed_origins": "--allow-origin",
    "trusted_proxies": "--trusted-proxy",
    "allowed_hosts": "--allowed-host",
}


def program_name() -> str:
    """``livefeed`` when run as the installed script, ``python -m dashboard`` as a module."""
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return "python -m dashboard" if name in ("", "__main__.py", "-c") else name


class OneLineParser(argparse.ArgumentParser):
    """Errors are one line (no usage block above them), exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    # Long: flat, one add() per option, read top to bottom as --help is.
    defaults = DashboardConfig()
    parser = OneLineParser(
        prog=program_name(),
        description="Serve the live data feed dashboard. "
        "`%(prog)s feeds` lists the feeds that can be loaded by name, with their parameters.",
        epilog="Every setting can also be given in the environment as DASHBOARD_<SETTING> "
        f"(e.g. {env_name('history_size')}=600) or in a --config file's [server] table; the "
        "command line wins over the environment, which wins over the file. Tokens are better "
        "given in the environment: the command line is visible to other users.",
    )
    # Options are read as text (and None when left out, so that one given can
    # be told apart from one a --config file or the environment may set): the
    # config's schema parses and checks them, as it does every other source.
    add = parser.add_argument
    add("--config", type=Path, help="TOML file with [server] settings and [[feeds]]")
    add("--host", help=f"address to bind (default {defaults.host})")
    add("--port", help=f"port, 0 for any free one (default {defaults.port})")
    add(
        "--listen-backlog",
        metavar="N",
        help="connections queued before they are accepted; the kernel caps it at "
        f"net.core.somaxconn (default {defaults.listen_backlog})",
    )
    add(
        "--feed",
        nargs="+",
        action="append",
        metavar=("NAME", "KEY=VALUE"),
        help="a feed to run: an installed name or module:object, then its parameters; "
        "repeatable (default: the simulated tickers)",
    )
    ticker = "the simulated tickers (alone, or the ticker feed among --feed)"
    add("--symbols", help=f"comma-separated symbols of {ticker} (default 8)")
    add("--rate", help=f"updates/s per symbol of {ticker} (default {defaults.rate:g})")
    add("--seed", help=f"seed for reproducible prices of {ticker}")
    add("--flush-interval", help=f"seconds between batches (default {defaults.flush_interval})")
    add(
        "--ws-compression",
        action=argparse.BooleanOptionalAction,
        help="accept permessage-deflate on WebSockets (default off: CPU per viewer)",
    )
    add(
        "--transports",
        metavar="ws,sse",
        help="how viewers may connect: ws (WebSocket /ws), sse (Server-Sent Events /sse, "
        "for networks that block WebSockets); default both",
    )
    add("--ingest-token", help=f"bearer token enabling push ingest (or ${TOKEN_ENV})")
    add(
        "--max-feeds",
        metavar="N",
        help="feeds the dashboard may hold, configured and created by ingest together "
        f"(default {defaults.max_feeds})",
    )
    add(
        "--viewer-token",
        help=f"token the page, /ws and the read API then need; viewers log in at /login "
        f"(or ${VIEWER_TOKEN_ENV}; default: open to all)",
    )
    add(
        "--session-max-age",
        metavar="SECONDS",
        help=f"how long a viewer login lasts (default {defaults.session_max_age:g}: 12 h)",
    )
    add(
        "--allow-origin",
        dest="allowed_origins",
        action="append",
        metavar="URL",
        help="an origin besides the dashboard's own whose pages may open its WebSockets, "
        "e.g. https://dash.example.com; repeatable; * allows any",
    )
    add("--certfile", help="PEM certificate chain: serve https and wss (with --keyfile)")
    add("--keyfile", help="PEM private key of --certfile, unencrypted")
    add(
        "--history-db",
        metavar="FILE",
        help="SQLite file keeping the history across restarts (default: memory only)",
    )
    add(
        "--max-connections-per-address",
        metavar="N",
        help="WebSockets one client address may hold, 0 for no limit (default "
        f"{defaults.max_connections_per_address}; behind a reverse proxy all clients share one "
        "unless it is a --trusted-proxy)",
    )
    add(
        "--ws-ping-interval",
        metavar="SECONDS",
        help=f"WebSocket ping interval, 0 for none (default {defaults.ws_ping_interval:g})",
    )
    add(
        "--read-timeout",
        metavar="SECONDS",
        help="drop a connection that sends nothing, not even a pong, for this long; "
        f"0 for never (default {defaults.read_timeout:g})",
    )
    add(
        "--max-viewer-lag",
        metavar="SECONDS",
        help="a viewer whose oldest unread data is this old gets only the latest point per "
        f"feed until it catches up (default {defaults.max_viewer_lag:g})",
    )
    add(
        "--shutdown-timeout",
        metavar="SECONDS",
        help="on SIGTERM/SIGINT, how long viewers get to take their close frame; "
        f"what is still open then is cut (default {defaults.shutdown_timeout:g}, at most 300)",
    )
    add(
        "--backplane",
        metavar="URL",
        help="share feeds, numbering and history with other instances over Redis: "
        "redis://[:password@]host:port/db or rediss:// (TLS); default: this process alone, "
        "in memory (README: Scale out)",
    )
    add(
        "--workers",
        metavar="N",
        help="server processes sharing the port (needs --backplane; default 1)",
    )
    add(
        "--trusted-proxy",
        dest="trusted_proxies",
        action="append",
        metavar="ADDR",
        help="a reverse proxy (IP address or network) whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed; repeatable; from anyone else they are ignored",
    )
    add(
        "--allowed-host",
        dest="allowed_hosts",
        action="append",
        metavar="HOST",
        help="a Host header value served (name or address, with :port or not); "
        "repeatable; others get 400 (DNS rebinding); default: any",
    )
    add("--log-level", metavar="{" + ",".join(LOG_LEVELS) + "}", help="default info")
    return parser


def from_command_line(args: argparse.Namespace) -> dict[str, Given]:
    """The settings given as options: text for the schema to parse."""
    found = {}
    for name in setting_names():
        value = getattr(args, name, None)
        if value is not None:
            flag = FLAGS.get(name, "--" + name.replace("_", "-"))
            found[name] = Given(value, flag, typed=isinstance(value, bool))
    return found


def config_from_args(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> DashboardConfig:
    """The config from the command line, the environment (default os.environ)
    and a --config file; a wrong setting exits 2 with one line on stderr."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        file = read_config_file(args.config) if args.config else ConfigFile({}, ())
        sources = [
            file.settings,
            from_environment(os.environ if environ is None else environ),
            from_command_line(args),
        ]
        feeds = tuple(FeedSpec.parse(words) for words in args.feed) if args.feed else file.feeds
        return build_config(sources, feeds)
    except (SettingError, FeedLoadError) as exc:
        parser.error(str(exc))


def startup_lines(
    config: DashboardConfig, url: str, feeds: Sequence[str], pids: Sequence[int] = ()
) -> list[str]:
    """What the server says it is doing: where, which feeds, over what, and who may come in."""
    if "*" in config.allowed_origins:
        origins = "any (*)"
    else:
        origins = ", ".join(["the page's own", *config.allowed_origins])
    if config.backplane is None:
        backplane = "memory (this process alone; see --backplane)"
    else:  # the password, if any, never shown
        backplane = parse_backplane_url(config.backplane).redacted
    lines = [
        f"Dashboard running at {url}  (Ctrl-C to stop)",
        f"Feeds: {', '.join(feeds)}",
        "Login: on (viewer token)"
        if config.viewer_token
        else "Login: off, anyone who reaches the address sees the data (see --viewer-token)",
        f"Origins allowed to open the WebSockets: {origins}",
        f"Ingest: {'on (ingest token)' if config.ingest_token else 'off'}",
        f"Viewer transports: {', '.join(config.transports)}",
        f"Backplane: {backplane}",
        f"Workers: {config.workers}"
        + (f" processes (pids {', '.join(map(str, pids))})" if len(pids) > 1 else ""),
    ]
    if config.trusted_proxies:
        lines.append(f"Trusted proxies (X-Forwarded-*): {', '.join(config.trusted_proxies)}")
    if config.allowed_hosts:
        lines.append(f"Hosts served: {', '.join(config.allowed_hosts)} (others get 400)")
    return lines


def fail(message: str, status: int = 1) -> NoReturn:
    """One line on stderr, then exit: 2 for a wrong setting, 1 for the rest."""
    print(f"{program_name()}: error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(status)


def build_app(config: DashboardConfig) -> Quart:
    """The app for *config*, or one line on stderr and exit."""
    try:
        return create_app(config)
    except FeedLoadError as exc:
        # A feed that cannot be found or built is a wrong setting like any
        # other (its name or parameters): exit status 2, as for the rest.
        fail(str(exc), 2)
    except HistoryStoreError as exc:  # the file, not the setting: 1, like a taken port
        fail(str(exc))


def listen(config: DashboardConfig) -> socket.socket:
    try:
        sock = bind_socket(config.host, config.port, config.listen_backlog)
    except OSError as exc:
        raise SystemExit(f"cannot listen on {config.host}:{config.port}: {exc.strerror}") from None
    capped = backlog_warning(config.listen_backlog, kernel_backlog_cap())
    if capped:
        log.warning(capped)
    return sock


async def run(config: DashboardConfig) -> None:
    """Serve until SIGINT or SIGTERM, then shut down cleanly."""
    app = build_app(config)
    sock = listen(config)
    url = url_of(sock, tls=config.certfile is not None)
    shutdown = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, shutdown.set)
    feeds = list(runtime_of(app).hub.feeds)

    def say_started() -> None:
        print("\n".join(startup_lines(config, url, feeds)), flush=True)

    try:
        await serve(app, sock, shutdown, on_ready=say_started)  # logs event=server_stopped
    except BackplaneError as exc:  # e.g. Redis unreachable: where, in one line
        fail(str(exc))


def run_workers(config: DashboardConfig) -> int:
    """``--workers N``: N processes serving one socket (dashboard/web/workers.py)."""
    sock = listen(config)
    url = url_of(sock, tls=config.certfile is not None)

    def say_started(feeds: list[str], pids: list[int]) -> None:
        print("\n".join(startup_lines(config, url, feeds, pids)), flush=True)

    def say_failed(message: str) -> None:
        print(f"{program_name()}: error: {message}", file=sys.stderr, flush=True)

    try:
        return supervise(
            config.workers,
            worker_process,
            (config, sock),
            stop_timeout=config.shutdown_timeout,
            on_ready=say_started,
            on_failure=say_failed,
        )
    finally:
        sock.close()


def list_feeds() -> int:
    """Print the installed feeds with where they come from and their parameters."""
    found = available()
    try:
        check_unique(found)
    except FeedLoadError as exc:
        print(f"{program_name()}: error: {exc}", file=sys.stderr)
        return 2
    if not found:
        print("No feeds installed under the dashboard.feeds entry-point group.")
    width = max((len(a.name) for a in found), default=0)
    for item in found:
        print(f"{item.name:<{width}}  {item.target}  (from {item.origin})")
        try:
            takes = parameters(resolve(item.name)[0])
        except FeedLoadError as exc:
            takes = [f"cannot load: {exc}"]
        for line in takes or ["(no parameters)"]:
            print(f"    {line}")
    print(
        "\nParameters go after the name: --feed NAME key=value ..., or as keys of a [[feeds]] "
        "table.\nAny module:object naming a @feed function or a Feed subclass works too."
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["feeds"]:
        return list_feeds()
    config = config_from_args(argv)
    configure_logging(config.logging_level)
    if config.workers > 1:
        return run_workers(config)
    asyncio.run(run(config))
    return 0
