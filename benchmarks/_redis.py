"""A redis-server for the scale-out benchmarks (benchmarks/scaleout.py): a free
loopback port, a temporary folder of its own, stopped by PID; its CPU (psutil
on its pid) and what ``INFO`` says about its memory and commands.

``stop()`` then ``start()`` keeps the port and the folder, so a run can take
Redis away mid-run and bring it back (with ``appendonly yes`` the data
survives; ``appendfsync always`` makes every acknowledged write durable).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import redis

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
START_TIMEOUT = 10.0
FSYNC_CHOICES = ("always", "everysec", "no", "off")  # off: no append-only file at all


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def missing() -> str | None:
    """Why no redis-server can run here, or None."""
    if not os.access(REDIS_SERVER, os.X_OK):
        return f"redis-server not found at {REDIS_SERVER} (apt-get install redis-server)"
    return None


class RedisProcess:
    """One redis-server; *fsync* is ``always``/``everysec``/``no`` (append-only
    file on, that fsync policy) or ``off`` (no append-only file)."""

    def __init__(self, fsync: str = "everysec") -> None:
        if fsync not in FSYNC_CHOICES:
            raise ValueError(f"fsync {fsync!r}: one of {', '.join(FSYNC_CHOICES)}")
        self.fsync = fsync
        self.folder = Path(tempfile.mkdtemp(prefix="livefeed-bench-redis-"))
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int:
        assert self.process is not None, "redis-server is not running"
        return self.process.pid

    def start(self) -> None:
        command = [
            REDIS_SERVER,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.folder),
            "--save", "",
            "--appendonly", "no" if self.fsync == "off" else "yes",
            "--appendfsync", "everysec" if self.fsync == "off" else self.fsync,
            "--daemonize", "no",
            "--logfile", str(self.folder / "redis.log"),
        ]  # fmt: skip
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        while not self.answers():
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited {self.process.returncode}: {self.log()}")
            if time.monotonic() > deadline:
                self.stop(signal.SIGKILL)
                raise RuntimeError(f"redis-server did not answer on port {self.port}")
            time.sleep(0.02)  # polling the port until it answers, within the deadline

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def log(self) -> str:
        path = self.folder / "redis.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop by PID (SIGTERM: it finishes the append-only file first; SIGKILL: it cannot)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, sig)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def close(self) -> None:
        """Stop it and remove its folder."""
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def cpu_seconds(self) -> float:
        times = psutil.Process(self.pid).cpu_times()
        return float(times.user + times.system)

    def keys(self) -> int:
        """How many keys it holds (0: nothing was ever written to it)."""
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)
        try:
            return int(client.dbsize())
        finally:
            client.close()

    def info(self) -> dict[str, Any]:
        """``INFO`` (server, memory, stats...), plus ``calls``: commands run so far, by name."""
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)
        try:
            info = dict(client.info())
            stats = client.info("commandstats")
        finally:
            client.close()
        info["calls"] = {k.removeprefix("cmdstat_"): v["calls"] for k, v in stats.items()}
        return info


def memory_figures(info: dict[str, Any]) -> dict[str, float]:
    """Redis's own memory, in MB, from ``INFO``: what its data uses, its RSS, its peak."""
    mb = 1024 * 1024
    return {
        "used_mb": info.get("used_memory", float("nan")) / mb,
        "rss_mb": info.get("used_memory_rss", float("nan")) / mb,
        "peak_mb": info.get("used_memory_peak", float("nan")) / mb,
    }
