"""Hypercorn's connection (its asyncio ``TCPServer``), overridden: part of
dashboard/web/framework.py's overrides (the same versions, pins and canary,
tests/codebase/test_framework_pins.py), kept apart for size.

Written for Hypercorn 0.18. Each override says what it changes.
"""

from __future__ import annotations

import asyncio
import contextvars

from hypercorn.asyncio.tcp_server import TCPServer

from dashboard.web.server_config import ServerConfig

#: How long a closed socket may wait for a peer to take its unsent bytes.
CLOSE_FLUSH_TIMEOUT = 2.0
#: The connection whose task runs: Hypercorn 0.18 builds a connection's
#: streams in its task (TrackedTCPServer.run, which sets this).
CONNECTION: contextvars.ContextVar[TrackedTCPServer] = contextvars.ContextVar("connection")


class TrackedTCPServer(TCPServer):
    """Hypercorn 0.18's connection, registered while it runs (a stop can abort
    it: dashboard/web/stopping.py), giving up on a peer that does not read."""

    # Override (Hypercorn 0.18 run): registered in the config's
    # ``open_connections``, set for its streams to find (CONNECTION);
    # a cancel ends the connection instead of raising.
    async def run(self) -> None:
        config = self.config
        connections = config.open_connections if isinstance(config, ServerConfig) else None
        if connections is not None:
            connections.add(self)
        CONNECTION.set(self)
        try:
            await super().run()
        except asyncio.CancelledError:
            # Only a stop cancels a connection (Hypercorn past graceful_timeout,
            # asyncio.run's last sweep). Not re-raised: Python 3.11 logs a
            # cancelled connection task as "Exception in callback", traceback and all.
            self.abort()
        finally:
            if connections is not None:
                connections.discard(self)

    def abort(self) -> None:
        """Drop the transport, unsent bytes and all (Hypercorn 0.18's ``writer``)."""
        self.writer.transport.abort()

    # Override (Hypercorn 0.18 _close): asyncio's graceful close waits until every
    # byte written is sent, which a peer that stopped reading (a frozen tab, a
    # hostile client) never allows. Aborted after CLOSE_FLUSH_TIMEOUT.
    async def _close(self) -> None:
        loop = asyncio.get_running_loop()
        abort = loop.call_later(CLOSE_FLUSH_TIMEOUT, self.abort)
        try:
            await super()._close()
        finally:
            abort.cancel()
