"""Command line: ``python -m dashboard`` (also installed as ``livefeed``)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

from dashboard.app import create_app
from dashboard.config import LOG_LEVELS, DashboardConfig
from dashboard.server import bind_socket, serve, url_of

log = logging.getLogger("dashboard")


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


def build_parser() -> argparse.ArgumentParser:
    defaults = DashboardConfig()
    parser = argparse.ArgumentParser(
        prog="python -m dashboard",
        description="Serve the live data feed dashboard.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--host", default=defaults.host, help="address to bind")
    parser.add_argument("--port", type=int, default=defaults.port, help="port (0: any free one)")
    parser.add_argument(
        "--symbols",
        type=_symbols,
        default=defaults.symbols,
        help="comma-separated ticker symbols",
    )
    parser.add_argument(
        "--rate", type=_positive, default=defaults.rate, help="updates per second per symbol"
    )
    parser.add_argument("--seed", type=int, default=None, help="seed for reproducible tickers")
    parser.add_argument(
        "--flush-interval",
        type=_positive,
        default=defaults.flush_interval,
        help="seconds between batches sent to viewers",
    )
    parser.add_argument("--log-level", choices=LOG_LEVELS, default=defaults.log_level)
    return parser


def config_from_args(argv: Sequence[str] | None = None) -> DashboardConfig:
    args = build_parser().parse_args(argv)
    try:
        return DashboardConfig(
            host=args.host,
            port=args.port,
            symbols=args.symbols,
            rate=args.rate,
            seed=args.seed,
            flush_interval=args.flush_interval,
            log_level=args.log_level,
        )
    except ValueError as exc:
        build_parser().error(str(exc))
        raise  # unreachable: error() exits


async def run(config: DashboardConfig) -> None:
    """Serve until SIGINT or SIGTERM, then shut down cleanly."""
    app = create_app(config)
    try:
        sock = bind_socket(config.host, config.port)
    except OSError as exc:
        raise SystemExit(f"cannot listen on {config.host}:{config.port}: {exc.strerror}") from None
    url = url_of(sock)
    shutdown = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, shutdown.set)
    print(f"Dashboard running at {url}  (Ctrl-C to stop)", flush=True)
    await serve(app, sock, shutdown)
    log.info("stopped")


def main(argv: Sequence[str] | None = None) -> int:
    config = config_from_args(argv)
    logging.basicConfig(
        level=config.logging_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    asyncio.run(run(config))
    return 0
