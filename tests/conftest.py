"""Shared test helpers: polling with a deadline, and a real Hypercorn server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import ssl as ssl_module
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

import pytest
import websockets
from quart import Quart

from dashboard import DashboardConfig, create_app
from dashboard.assemble import default_sources
from dashboard.web.server import bind_socket, serve, url_of
from dashboard.web.state import runtime_of
from feeds.base import FeedInfo, FeedSource, Series

# Fast-moving defaults so tests see many points quickly.
TEST_CONFIG = DashboardConfig(
    port=0,
    rate=40.0,
    seed=1234,
    flush_interval=0.05,
)


async def wait_until(
    predicate: Callable[[], bool | Awaitable[bool]], timeout: float = 10.0, what: str = ""
) -> None:
    """Poll *predicate* until it holds; fail with *what* after *timeout* seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = predicate()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        await asyncio.sleep(0.02)


async def recv_json(ws: websockets.ClientConnection, timeout: float = 5.0) -> dict:
    async with asyncio.timeout(timeout):
        return json.loads(await ws.recv())


@dataclass
class LiveServer:
    """The app on real Hypercorn, bound to a free loopback port."""

    config: DashboardConfig
    #: Feeds beside the configured tickers (fresh instances on every start).
    extra_sources: Callable[[], list[FeedSource]] = list
    app: Quart = field(init=False)
    url: str = ""
    port: int = 0
    _task: asyncio.Task[None] | None = None
    _shutdown: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://", 1) + "/ws"

    @property
    def hub(self):
        return runtime_of(self.app).hub

    async def start(self) -> None:
        """Start a fresh app (new hub, new epoch) on this server's port."""
        config = replace(self.config, port=self.port)
        sources = default_sources(config) + self.extra_sources()
        self.app = create_app(config, sources=sources)
        sock = bind_socket("127.0.0.1", self.port)
        self.url = url_of(sock)
        self.port = sock.getsockname()[1]
        self._shutdown = asyncio.Event()
        self._task = asyncio.create_task(serve(self.app, sock, self._shutdown))
        await wait_until(self._accepting, what=f"server at {self.url}")

    async def _accepting(self) -> bool:
        try:
            token = self.config.viewer_token
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            url = self.ws_url + "?await_subscribe=1"
            async with websockets.connect(url, additional_headers=headers) as ws:
                await recv_json(ws)  # hello: lifespan done, hub running
            return True
        except OSError:
            return False

    async def stop(self) -> None:
        if self._task is None:
            return
        self._shutdown.set()
        task, self._task = self._task, None
        async with asyncio.timeout(15):
            await task

    async def restart(self) -> None:
        await self.stop()
        await self.start()


@pytest.fixture
async def start_server() -> AsyncIterator[Callable[..., Awaitable[LiveServer]]]:
    """Factory: ``await start_server(extra_sources=None, **config_overrides)``."""
    servers: list[LiveServer] = []

    async def start(extra_sources=list, **overrides) -> LiveServer:
        server = LiveServer(replace(TEST_CONFIG, **overrides), extra_sources)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


@pytest.fixture
async def server(start_server) -> LiveServer:
    return await start_server()


def require_env(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


class SilentFeed:
    """A feed that is declared but never yields: its panel must cope with no data."""

    info = FeedInfo("QUIET", series=(Series("level", unit="dB"),))

    async def stream(self):
        await asyncio.Event().wait()
        yield {}  # pragma: no cover - never reached


async def start_cli(
    *args: str, cwd: str | None = None, python: str = sys.executable, env: dict | None = None
) -> tuple[asyncio.subprocess.Process, str]:
    """``python -m dashboard --port 0 ARGS`` as a process; returns it and its
    URL (https:// when it serves TLS)."""
    process = await asyncio.create_subprocess_exec(
        python,
        "-m",
        "dashboard",
        "--port",
        "0",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=cwd,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    async with asyncio.timeout(30):
        line = (await process.stdout.readline()).decode()
    match = re.search(r"https?://127\.0\.0\.1:(\d+)", line)
    if not match:
        process.kill()
        stderr = (await process.stderr.read()).decode()
        raise AssertionError(f"no address printed: {line!r}\n{stderr}")
    return process, match.group(0)


async def stop_process(process: asyncio.subprocess.Process) -> int:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(15):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()
    return process.returncode


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


async def http_request(
    url: str,
    method: str = "GET",
    *,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    ssl: ssl_module.SSLContext | None = None,
    source: str | None = None,
) -> HttpResponse:
    """One raw HTTP/1.1 request to *url* (https with *ssl*), read to the end:
    redirects are not followed, so tests see them. A body is sent as given,
    with its Content-Length unless a Transfer-Encoding header is given.
    *source* is the local address to send from (e.g. 127.0.0.2: another client)."""
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    head = [f"{method} {path} HTTP/1.1", f"Host: {parts.netloc}", "Connection: close"]
    head += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body or method == "POST":
        if "transfer-encoding" not in {name.lower() for name in headers or {}}:
            head.append(f"Content-Length: {len(body)}")
    host = parts.hostname or "127.0.0.1"
    reader, writer = await asyncio.open_connection(
        host,
        parts.port,
        ssl=ssl,
        server_hostname=host if ssl else None,
        local_addr=(source, 0) if source else None,
    )
    try:
        writer.write("\r\n".join(head).encode() + b"\r\n\r\n" + body)
        async with asyncio.timeout(10):
            response = await reader.read()  # to the end: Connection: close
    finally:
        writer.close()
        with contextlib.suppress(OSError):  # the server may have closed first
            await writer.wait_closed()
    head_bytes, _, payload = response.partition(b"\r\n\r\n")
    status_line, *header_lines = head_bytes.decode("latin-1").split("\r\n")
    names = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    return HttpResponse(int(status_line.split()[1]), names, payload)
