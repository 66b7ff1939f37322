"""A real ``redis-server`` for the tests: a free loopback port, a folder of its
own, stopped by PID.

Tests that need one skip with a reason where ``redis-server`` is missing, and
fail instead when REQUIRE_REDIS=1 (as .ci/run sets). ``stop()`` and
``start()`` again keep the port and the folder, so a test can take Redis
away mid-run and bring it back (with ``appendonly`` the data survives).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.waiting import require_env

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
START_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def missing_redis() -> str | None:
    """Why a real Redis cannot run here, or None."""
    if not os.access(REDIS_SERVER, os.X_OK):
        return f"redis-server not found at {REDIS_SERVER} (apt-get install redis-server)"
    return None


def need_redis() -> None:
    """Skip (fail under REQUIRE_REDIS=1) where redis-server is missing."""
    reason = missing_redis()
    if reason is not None:
        if require_env("REQUIRE_REDIS"):
            pytest.fail(f"REQUIRE_REDIS=1 but {reason}")
        pytest.skip(reason)


@dataclass
class RedisServer:
    """One redis-server process in *folder*, on *port* (0: a free one at first start)."""

    folder: Path
    port: int = 0
    appendonly: bool = True
    #: Extra ``redis-server`` arguments (``["--requirepass", "x"]``).
    args: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int:
        assert self.process is not None, "not running"
        return self.process.pid

    def start(self) -> None:
        if self.port == 0:
            self.port = free_port()
        self.folder.mkdir(parents=True, exist_ok=True)
        command = [
            REDIS_SERVER,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.folder),
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            # Every write on disk before the answer: what "acknowledged" means
            # in the tests that restart Redis (README "Scale out").
            "--appendfsync", "always",
            "--daemonize", "no",
            "--logfile", str(self.folder / "redis.log"),
            *self.args,
        ]  # fmt: skip
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        while not self._answers():
            if self.process.poll() is not None:
                log = (self.folder / "redis.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"redis-server exited {self.process.returncode}: {log}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not answer on port {self.port}")
            time.sleep(0.02)  # polling the port until it answers, within the deadline

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the server by its PID (SIGTERM: it writes the append-only file first)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, sig)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
