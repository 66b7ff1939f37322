"""--workers 2 over a real redis-server: N processes on one port serve every
client the same data; and the start against a Redis that cannot be reached
is one line naming host:port, exit non-zero; the password in the URL is
never shown. Needs the Redis backplane (dashboard/redis_backplane.py)."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import socket
import sys

import pytest
import websockets

from tests.support.clients import Message, recv_json
from tests.support.redis_server import RedisServer, free_port, need_redis
from tests.support.servers import stop_process

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        importlib.util.find_spec("dashboard.redis_backplane") is None,
        reason="the Redis backplane (part redis of issue 13) is not on this branch",
    ),
]

SECRET = "s3cret-pw-never-shown"
FEED = "ACME"


def with_password(server: RedisServer) -> str:
    """Require *SECRET* from now on; the URL carrying it."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(f"CONFIG SET requirepass {SECRET}\r\n".encode())
        assert sock.recv(16).startswith(b"+OK")
    return f"redis://:{SECRET}@127.0.0.1:{server.port}/0"


async def start(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dashboard",
        "--port",
        "0",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


class Output:
    """A process's stdout and stderr, read as they come."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.out: list[str] = []
        self.err: list[str] = []
        assert process.stdout is not None and process.stderr is not None
        self.tasks = [
            asyncio.create_task(self._read(process.stdout, self.out)),
            asyncio.create_task(self._read(process.stderr, self.err)),
        ]

    @staticmethod
    async def _read(stream: asyncio.StreamReader, into: list[str]) -> None:
        while line := await stream.readline():
            into.append(line.decode())

    async def wait_for(self, pattern: str, where: list[str], timeout: float = 30) -> re.Match[str]:
        async with asyncio.timeout(timeout):
            while True:
                for line in where:
                    if match := re.search(pattern, line):
                        return match
                await asyncio.sleep(0.05)

    async def done(self) -> str:
        await asyncio.gather(*self.tasks)
        return "".join(self.out) + "".join(self.err)


def points(messages: list[Message]) -> dict[int, tuple]:
    """seq -> (ts, values) of FEED's points."""
    return {
        p["seq"]: (p["ts"], p["values"])
        for m in messages
        if m.get("type") in ("snapshot", "batch")
        for p in m.get("points", [])
        if p["feed"] == FEED
    }


async def read_until_seq(ws, seq: int, timeout: float = 20) -> list[Message]:
    got: list[Message] = []
    async with asyncio.timeout(timeout):
        while max(points(got), default=0) < seq:
            got.append(await recv_json(ws, timeout=timeout))
    return got


async def test_workers_serve_every_client_the_same_data(tmp_path):
    """Clients spread over both workers (the logs say which served each) get
    the identical (seq, ts, values) for the same points; Ctrl-C stops both
    with 1001; the password is in no output."""
    need_redis()
    redis = RedisServer(tmp_path / "redis")
    redis.start()
    try:
        url = with_password(redis)
        process = await start(
            "--workers", "2", "--backplane", url, "--symbols", FEED, "--rate", "20",
            "--log-level", "debug",
        )  # fmt: skip
        output = Output(process)
        try:
            address = (await output.wait_for(r"http://127\.0\.0\.1:\d+", output.out))[0]
            ws_url = address.replace("http", "ws") + "/ws"
            clients = []
            for _ in range(24):  # until both workers serve some
                clients.append(await websockets.connect(ws_url))
                served = {
                    m
                    for line in output.err
                    for m in re.findall(r"\[worker (\d)\].*event=viewer_connected", line)
                }
                if len(clients) >= 4 and served == {"0", "1"}:
                    break
            await output.wait_for(r"\[worker 0\].*viewer_connected", output.err, 10)
            await output.wait_for(r"\[worker 1\].*viewer_connected", output.err, 10)
            hellos = [await recv_json(ws, timeout=10) for ws in clients]
            assert len({h["epoch"] for h in hellos}) == 1
            snapshots = [[await recv_json(ws, timeout=10)] for ws in clients]
            first = max(max(points(got), default=0) for got in snapshots)
            target = first + 40  # 2 s of live points at 20/s
            seen = [
                points(got + await read_until_seq(ws, target))
                for ws, got in zip(clients, snapshots, strict=True)
            ]
            common = set.intersection(*(set(s) for s in seen))
            assert set(range(first + 1, target + 1)) <= common
            for s in seen[1:]:
                assert {q: s[q] for q in common} == {q: seen[0][q] for q in common}
            process.send_signal(2)  # SIGINT, as Ctrl-C
            for ws in clients:
                with pytest.raises(websockets.ConnectionClosed):
                    while True:
                        await recv_json(ws, timeout=10)
                assert ws.close_code == 1001
            async with asyncio.timeout(20):
                assert await process.wait() == 0
            everything = await output.done()
            assert SECRET not in everything
            assert "redis://:***@127.0.0.1" in everything
        finally:
            await stop_process(process)
    finally:
        redis.stop()


@pytest.mark.parametrize("workers", [1, 2])
async def test_unreachable_redis_at_start_is_one_line_naming_it(workers):
    """A closed port: one line on stderr naming host:port, nothing on
    stdout, exit non-zero, within a few seconds; the password nowhere."""
    port = free_port()
    args = ["--backplane", f"redis://:{SECRET}@127.0.0.1:{port}/0"]
    if workers > 1:
        args += ["--workers", str(workers)]
    process = await start(*args)
    async with asyncio.timeout(30):
        out, err = await process.communicate()
    assert process.returncode == 1
    lines = err.decode().splitlines()
    assert len(lines) == 1, err.decode()
    assert f"127.0.0.1:{port}" in lines[0] and "error" in lines[0]
    assert out == b""
    assert SECRET not in err.decode()
