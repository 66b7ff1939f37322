"""The app on a real server: in this process on Hypercorn, or as the command
line's process; and one raw HTTP/1.1 request to either."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import ssl as ssl_module
import sys
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

import websockets
from quart import Quart

from dashboard import DashboardConfig, create_app
from dashboard.assemble import default_sources
from dashboard.hub import Hub
from dashboard.web.server import bind_socket, serve, url_of
from dashboard.web.state import runtime_of
from feeds.base import FeedSource
from tests.support.clients import recv_json
from tests.support.waiting import wait_until

# Fast-moving defaults so tests see many points quickly.
TEST_CONFIG = DashboardConfig(
    port=0,
    rate=40.0,
    seed=1234,
    flush_interval=0.05,
)


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
    def hub(self) -> Hub:
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
        if "ws" not in self.config.transports:  # /ws refuses: ask over HTTP
            try:
                return (await http_request(self.url + "/healthz")).status == 200
            except OSError:
                return False
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


StartServer = Callable[..., Awaitable[LiveServer]]


@contextlib.asynccontextmanager
async def server_factory() -> AsyncIterator[StartServer]:
    """``await start(extra_sources=list, **config_overrides)`` starts a
    LiveServer on TEST_CONFIG; every server started is stopped on exit."""
    servers: list[LiveServer] = []

    async def start(
        extra_sources: Callable[[], list[FeedSource]] = list, **overrides: Any
    ) -> LiveServer:
        server = LiveServer(replace(TEST_CONFIG, **overrides), extra_sources)
        await server.start()
        servers.append(server)
        return server

    try:
        yield start
    finally:
        for server in servers:
            await server.stop()


async def start_cli(
    *args: str,
    cwd: str | None = None,
    python: str = sys.executable,
    env: dict[str, str] | None = None,
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
    assert process.stdout is not None and process.stderr is not None
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
    return await process.wait()  # the code, now that it has exited


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
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


async def get_json(url: str) -> Any:
    """GET *url* with urllib (in a thread) and parse its JSON body."""

    def fetch() -> Any:
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.load(response)

    return await asyncio.to_thread(fetch)


async def start_clis(
    count: int, *args: str, env: dict[str, str] | None = None
) -> list[tuple[asyncio.subprocess.Process, str]]:
    """*count* ``start_cli(*args)`` processes started at once (each takes a
    second or two to import and start); if one fails, the others are stopped."""
    results = await asyncio.gather(
        *(start_cli(*args, env=env) for _ in range(count)), return_exceptions=True
    )
    started = [r for r in results if not isinstance(r, BaseException)]
    failed = [r for r in results if isinstance(r, BaseException)]
    if failed:
        for process, _ in started:
            await stop_process(process)
        raise failed[0]
    return started
