"""Delivery probes on Hypercorn's WebSocket stream (dashboard/delivery.py).

On viewer streams (every path but the ingest one) a data frame the app sends
is followed, in the same write, by a ping with a payload of the probe's
unless one is unanswered or the last was sent under ``viewer_probe_spacing``
seconds ago (a setting on Hypercorn's config); its pong clears it. The probe
is put in the ASGI scope (``extensions["livefeed.delivery"]``) for the app.
Hypercorn 0.18 internals, like dashboard/web/server.py's, which builds on this.
"""

from __future__ import annotations

import time
from typing import Any

from hypercorn.protocol.events import Data
from hypercorn.protocol.ws_stream import ASGIWebsocketState, WSStream
from wsproto.connection import ConnectionState
from wsproto.events import BytesMessage, Ping, Pong, TextMessage

from dashboard.delivery import DELIVERY_EXTENSION, DeliveryProbe
from dashboard.web.ingest import INGEST_WS_PATH

INGEST_PATH = INGEST_WS_PATH.encode()


class ProbingStream(WSStream):
    # Class defaults: nothing is allocated per connection until it is needed.
    _probe: DeliveryProbe | None = None
    _scope: Any

    # Hypercorn builds the scope and starts the app in one step (the Request
    # branch of handle): the probe goes in as the scope is stored, before
    # the app's task can run.
    @property
    def scope(self) -> Any:
        return self._scope

    @scope.setter
    def scope(self, scope: Any) -> None:
        # Compared undecoded, like the message size limit (dashboard/web/server.py).
        if scope["raw_path"] != INGEST_PATH:
            self._probe = DeliveryProbe(getattr(self.config, "viewer_probe_spacing", 0.0))
            scope["extensions"][DELIVERY_EXTENSION] = self._probe
        self._scope = scope

    async def app_send(self, message: Any) -> None:
        probe = self._probe
        if probe is not None and message is not None and message["type"] == "websocket.send":
            if await self._send_with_probe(message, probe):
                return
        await super().app_send(message)

    async def _send_with_probe(self, message: Any, probe: DeliveryProbe) -> bool:
        """The frame and a probe's ping right behind it, in one write (a write
        costs more than the bytes); False, nothing sent: no probe is due."""
        if self.closed or self.state is not ASGIWebsocketState.CONNECTED:
            return False
        text, data = message.get("text"), message.get("bytes")
        if self.connection.state is not ConnectionState.OPEN or not (
            data is not None or isinstance(text, str)
        ):
            return False  # Hypercorn's own send says why
        payload = probe.start(time.monotonic(), after_frame=True)
        if payload is None:
            return False
        event = BytesMessage(bytes(data)) if data is not None else TextMessage(text)
        frames = self.connection.send(event) + self.connection.send(Ping(payload))
        await self.send(Data(stream_id=self.stream_id, data=frames))
        return True

    def _periodic_ping(self) -> Ping:
        """Hypercorn's interval ping; on a viewer stream it carries the
        unanswered probe's payload (a peer may answer only the latest of
        several pings, RFC 6455 5.5.3) or starts a probe."""
        probe = self._probe
        return Ping(probe.payload(time.monotonic())) if probe is not None else Ping()

    def _note_pong(self, event: object) -> None:
        if isinstance(event, Pong) and self._probe is not None:
            self._probe.answer(bytes(event.payload))
