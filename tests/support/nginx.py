"""A real ``nginx`` for the tests, and the README's nginx configuration.

A site configuration (the ``http``-level blocks a user would drop into
/etc/nginx/conf.d/) runs in a folder of its own, stopped by PID.

The main configuration around the site is written here: pid file, error and
access logs and every temp path inside the folder, so nothing outside it is
touched and nothing needs root. Tests that need nginx skip with a reason where
it is missing, and fail instead when REQUIRE_NGINX=1 (as .ci/run sets).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.waiting import require_env

README = Path(__file__).resolve().parents[2] / "README.md"

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
START_TIMEOUT = 10.0

MAIN_CONF = """\
{user}
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log info;
events {{ worker_connections 1024; }}
http {{
    access_log {folder}/access.log;
    client_body_temp_path {folder}/temp/body;
    proxy_temp_path {folder}/temp/proxy;
    fastcgi_temp_path {folder}/temp/fastcgi;
    uwsgi_temp_path {folder}/temp/uwsgi;
    scgi_temp_path {folder}/temp/scgi;
    include {folder}/site.conf;
}}
"""


def missing_nginx() -> str | None:
    """Why a real nginx cannot run here, or None."""
    if not os.access(NGINX, os.X_OK):
        return f"nginx not found at {NGINX} (apt-get install nginx)"
    return None


def need_nginx() -> None:
    """Skip (fail under REQUIRE_NGINX=1) where nginx is missing."""
    reason = missing_nginx()
    if reason is not None:
        if require_env("REQUIRE_NGINX"):
            pytest.fail(f"REQUIRE_NGINX=1 but {reason}")
        pytest.skip(reason)


def listen_port(site: str) -> int:
    """The port of the site's (first) ``listen`` directive."""
    match = re.search(r"^\s*listen\s+(?:[\d.]+:)?(\d+)", site, re.MULTILINE)
    assert match, f"no listen directive in {site!r}"
    return int(match.group(1))


@dataclass
class Nginx:
    """One nginx (master + one worker) serving *site* from *folder*."""

    folder: Path
    #: The http-level configuration: upstream, map and server blocks.
    site: str
    process: subprocess.Popen[bytes] | None = None

    @property
    def port(self) -> int:
        return listen_port(self.site)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None, "not running"
        return self.process.pid

    def log(self, name: str = "error.log") -> str:
        path = self.folder / name
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self) -> None:
        for temp in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.folder / "temp" / temp).mkdir(parents=True, exist_ok=True)
        (self.folder / "site.conf").write_text(self.site)
        # As root the workers would run as "nobody", who cannot use this folder.
        user = "user root;" if os.geteuid() == 0 else ""
        conf = self.folder / "nginx.conf"
        conf.write_text(MAIN_CONF.format(folder=self.folder, user=user))
        command = [NGINX, "-p", str(self.folder), "-e", str(self.folder / "error.log"),
                   "-c", str(conf), "-g", "daemon off;"]  # fmt: skip
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        while not self._accepting():
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited {self.process.returncode}: {self.log()[-2000:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"nginx did not listen on port {self.port}: {self.log()}")
            time.sleep(0.02)  # polling the port until it listens, within the deadline

    def _accepting(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        """Stop nginx by its PID (SIGQUIT would wait for open WebSockets: SIGTERM)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


#: What the test replaces in the README's block: where nginx listens, and the
#: two instances' addresses.
LISTEN, FIRST, SECOND = "listen 80;", "127.0.0.1:8001", "127.0.0.1:8002"


def readme_nginx_block() -> str:
    """The one ```nginx block of the README's "Scale out" section."""
    section = README.read_text().split("\n## Scale out\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```nginx\n(.*?)```", section, re.DOTALL)
    assert len(blocks) == 1, f"expected one nginx block in Scale out, found {len(blocks)}"
    return str(blocks[0])


def site_for(listen: int, first: int, second: int) -> str:
    """The README's block with its ports replaced, and nothing else."""
    site = readme_nginx_block()
    for old, new in (
        (LISTEN, f"listen 127.0.0.1:{listen};"),
        (FIRST, f"127.0.0.1:{first}"),
        (SECOND, f"127.0.0.1:{second}"),
    ):
        assert site.count(old) == 1, f"{old!r} should appear once in the README's nginx block"
        site = site.replace(old, new)
    return site
