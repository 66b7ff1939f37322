"""The viewer WebSocket: moves frames between a socket and the hub.

Everything the viewer is told comes from the hub as ready-made strings; this
module only reads, writes and closes.
"""

from __future__ import annotations

import asyncio

from quart import websocket

from dashboard.channel import ClientChannel
from dashboard.hub import CLOSE_POLICY, Hub


async def serve_viewer(hub: Hub, *, await_subscribe: bool, subscribe_timeout: float) -> None:
    await websocket.accept()
    client = hub.connect(str(websocket.remote_addr or ""), subscribe=not await_subscribe)
    try:
        async with asyncio.TaskGroup() as tasks:
            helpers = [tasks.create_task(_read(hub, client))]
            if await_subscribe:
                helpers.append(tasks.create_task(_require_subscribe(client, subscribe_timeout)))
            await _write(client)
            for task in helpers:
                task.cancel()
        await websocket.close(client.close_code or 1000, client.close_reason)
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
