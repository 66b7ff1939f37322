"""A WebSocket over HTTP/2 (RFC 8441's extended CONNECT), as Hypercorn serves
it: the h2 library (Hypercorn's own) for the connection, wsproto for the
frames inside the stream. Cleartext with prior knowledge (h2c), loopback."""

from __future__ import annotations

import asyncio

import h2.config
import h2.connection
import h2.events
import h2.settings
from wsproto.connection import Connection, ConnectionType
from wsproto.events import Ping, TextMessage


async def h2_websocket_messages(host: str, port: int, path: str, count: int) -> list[str]:
    """The first *count* text messages a WebSocket at *path* sends over
    HTTP/2 (pings answered meanwhile); raises on a refused CONNECT."""
    reader, writer = await asyncio.open_connection(host, port)
    connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    frames = Connection(ConnectionType.CLIENT)
    messages: list[str] = []
    stream_id: int | None = None
    connection.initiate_connection()
    try:
        writer.write(connection.data_to_send())
        while len(messages) < count:
            data = await reader.read(65536)
            if not data:
                raise ConnectionError(f"closed after {len(messages)} messages")
            for event in connection.receive_data(data):
                if isinstance(event, h2.events.RemoteSettingsChanged) and stream_id is None:
                    # The server allows extended CONNECT in its first SETTINGS.
                    stream_id = connection.get_next_available_stream_id()
                    connection.send_headers(
                        stream_id,
                        [
                            (":method", "CONNECT"),
                            (":protocol", "websocket"),
                            (":scheme", "http"),
                            (":path", path),
                            (":authority", f"{host}:{port}"),
                            ("sec-websocket-version", "13"),
                        ],
                    )
                elif isinstance(event, h2.events.ResponseReceived):
                    status = dict(event.headers).get(b":status")
                    if status != b"200":
                        raise ConnectionError(f"CONNECT answered {status!r}")
                elif isinstance(event, h2.events.DataReceived) and stream_id is not None:
                    connection.acknowledge_received_data(event.flow_controlled_length, stream_id)
                    frames.receive_data(event.data)
                    for message in frames.events():
                        if isinstance(message, TextMessage):
                            messages.append(message.data)
                        elif isinstance(message, Ping):
                            connection.send_data(stream_id, frames.send(message.response()))
                elif isinstance(event, h2.events.StreamReset | h2.events.StreamEnded):
                    raise ConnectionError(f"stream ended after {len(messages)} messages")
            writer.write(connection.data_to_send())
    finally:
        writer.close()
    return messages[:count]
