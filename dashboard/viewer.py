"""The viewer WebSocket: moves frames between a socket and the hub.

Everything the viewer is told comes from the hub as ready-made strings; this
module only reads, writes and closes.
"""

from __future__ import annotations

import asyncio
import logging

from quart import websocket

from dashboard.channel import ClientChannel
from dashboard.hub import CLOSE_POLICY, Hub

log = logging.getLogger(__name__)

#: How long a close frame may wait behind data a stalled peer is not reading.
CLOSE_TIMEOUT = 2.0


async def serve_viewer(hub: Hub, *, await_subscribe: bool, subscribe_timeout: float) -> None:
    await websocket.accept()
    client = hub.connect(str(websocket.remote_addr or ""), subscribe=not await_subscribe)
    try:
        async with asyncio.TaskGroup() as tasks:
            helpers = [tasks.create_task(_read(hub, client))]
            if await_subscribe:
                helpers.append(tasks.create_task(_require_subscribe(client, subscribe_timeout)))
            writer = tasks.create_task(_write(client))
            # A write blocked on a peer that stopped reading (TCP window full)
            # never returns by itself: when the hub gives up on this client,
            # the write is cancelled so the connection can be closed.
            client.on_discard(writer.cancel)
            await asyncio.wait([writer])  # ends when written out, or cancelled
            for task in helpers:
                task.cancel()
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await websocket.close(client.close_code or 1000, client.close_reason)
        except TimeoutError:
            # The close frame is queued behind unread data; the peer gets it
            # if it ever reads. Nothing more is written, so memory stays bounded.
            log.info("close frame to %s not flushed: peer not reading", client.address)
    finally:
        hub.disconnect(client)


async def _read(hub: Hub, client: ClientChannel) -> None:
    while True:
        hub.receive(client, await websocket.receive())


async def _write(client: ClientChannel) -> None:
    while (frame := await client.next_frame()) is not None:
        await websocket.send(frame)


async def _require_subscribe(client: ClientChannel, timeout: float) -> None:
    await asyncio.sleep(timeout)  # a deadline, not a wait for a condition
    if client.subscription is None:
        client.close(CLOSE_POLICY, "no subscribe message in time")
