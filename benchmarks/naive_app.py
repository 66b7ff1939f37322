"""The naive fan-out a tutorial would write, as the baseline for benchmarks/fanout.py.

    python benchmarks/naive_app.py --port 0 --symbols S0,S1,... --rate 10

A tiny Quart app on Hypercorn (its own process, 127.0.0.1 only): one
producer task makes, every ``1/rate`` seconds, one point per symbol, the same
shape as the dashboard's (``feed``, ``seq``, ``ts``, ``values`` with price
and volume), and for every point loops over the connected clients doing
``await websocket.send(json.dumps(point))``. When sending takes longer than
the tick, the producer simply ticks slower: that is the silent drop being
measured. ``GET /api/feeds`` gives ``last_seq`` per feed, as the dashboard's does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import socket
import time

from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart, websocket

app = Quart(__name__)
clients: set = set()
last_seq: dict[str, int] = {}


@app.get("/api/feeds")
async def feeds():
    return {"feeds": [{"name": name, "last_seq": seq} for name, seq in last_seq.items()]}


@app.websocket("/ws")
async def ws():
    ws = websocket._get_current_object()
    clients.add(ws)
    try:
        while True:
            await websocket.receive()
    finally:
        clients.discard(ws)


async def producer(symbols: list[str], rate: float) -> None:
    prices = {s: random.uniform(20, 400) for s in symbols}
    while True:
        for symbol in symbols:
            prices[symbol] *= 1 + random.gauss(0, 0.0005)
            last_seq[symbol] += 1
            point = {
                "feed": symbol,
                "seq": last_seq[symbol],
                "ts": int(time.time() * 1000),
                "values": {"price": round(prices[symbol], 2), "volume": 100 * random.randint(1, 9)},
            }
            for client in list(clients):
                try:
                    await client.send(json.dumps(point))
                except Exception:
                    clients.discard(client)
        await asyncio.sleep(1 / rate)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--symbols", required=True)
    parser.add_argument("--rate", type=float, default=10.0)
    args = parser.parse_args()
    symbols = [s for s in args.symbols.split(",") if s]
    last_seq.update({s: 0 for s in symbols})

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(1024)
    host, port = sock.getsockname()
    config = Config()
    config.bind = [f"fd://{sock.detach()}"]
    config.accesslog = None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"Naive app running at http://{host}:{port}", flush=True)
    task = asyncio.create_task(producer(symbols, args.rate))
    await serve(app, config, shutdown_trigger=stop.wait)
    task.cancel()


if __name__ == "__main__":
    asyncio.run(main())
