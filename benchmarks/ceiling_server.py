"""The ceiling for benchmarks/fanout.py: a bare ``websockets`` server, no app.

    python benchmarks/ceiling_server.py --port 0 --symbols S0,S1 --frame-rate 20 --points 5

Every ``1/frame-rate`` seconds it builds one batch frame shaped like the
dashboard's (``{"type": "batch", "points": [...]}`` holding ``--points``
points, round-robin over the symbols, each with ``feed``, ``seq``, ``ts``
and price/volume values), encodes it once and sends it to every connection
with ``websockets.broadcast()``. Compression follows the dashboard's: off
unless ``--compression`` (then permessage-deflate when the client offers it,
the library's default), so both servers send the same bytes. ``GET /api/feeds`` gives
``last_seq`` per feed, as the dashboard's does. Binds 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import time
from http import HTTPStatus

import orjson
from websockets.asyncio.server import broadcast, serve

connections: set = set()
last_seq: dict[str, int] = {}


def process_request(connection, request):
    if request.path == "/api/feeds":
        body = {"feeds": [{"name": n, "last_seq": s} for n, s in last_seq.items()]}
        return connection.respond(HTTPStatus.OK, orjson.dumps(body).decode())
    return None


async def handler(ws) -> None:
    connections.add(ws)
    try:
        await ws.wait_closed()
    finally:
        connections.discard(ws)


async def produce(symbols: list[str], frame_rate: float, points_per_frame: int) -> None:
    loop = asyncio.get_running_loop()
    period = 1.0 / frame_rate
    prices = {s: random.uniform(20, 400) for s in symbols}
    turn = 0
    next_at = loop.time()
    while True:
        points = []
        ts = int(time.time() * 1000)
        for _ in range(points_per_frame):
            symbol = symbols[turn % len(symbols)]
            turn += 1
            prices[symbol] *= 1 + random.gauss(0, 0.0005)
            last_seq[symbol] += 1
            values = {"price": round(prices[symbol], 2), "volume": 100 * random.randint(1, 9)}
            points.append({"feed": symbol, "seq": last_seq[symbol], "ts": ts, "values": values})
        message = orjson.dumps({"type": "batch", "points": points}).decode()
        broadcast(connections, message)
        next_at += period
        delay = next_at - loop.time()
        if delay < -period:
            next_at = loop.time()  # fell behind: do not burst
        await asyncio.sleep(max(0.0, delay))


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--symbols", required=True)
    parser.add_argument("--frame-rate", type=float, required=True, help="frames/s per client")
    parser.add_argument("--points", type=int, required=True, help="points per frame")
    parser.add_argument("--compression", action="store_true", help="accept permessage-deflate")
    args = parser.parse_args()
    symbols = [s for s in args.symbols.split(",") if s]
    last_seq.update({s: 0 for s in symbols})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with serve(
        handler,
        "127.0.0.1",
        args.port,
        process_request=process_request,
        ping_interval=None,
        compression="deflate" if args.compression else None,
        max_size=2**20,
        backlog=1024,
    ) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"Ceiling server running at http://127.0.0.1:{port}", flush=True)
        task = asyncio.create_task(produce(symbols, args.frame_rate, max(1, args.points)))
        await stop.wait()
        task.cancel()


if __name__ == "__main__":
    asyncio.run(main())
