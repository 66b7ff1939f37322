"""The scale-out options on the command line: --backplane, --workers,
--trusted-proxy, --allowed-host; what the server says at start, and the one
line it says when the backplane cannot be reached (the password never shown)."""

import asyncio
import logging
import os
import signal
import socket
import sys

import pytest

from dashboard.backplane import BackplaneUnavailable, MemoryBackplane
from dashboard.web.app import create_app
from dashboard.web.cli import config_from_args, startup_lines
from dashboard.web.server import bind_socket, serve
from tests.support.servers import TEST_CONFIG, start_cli, stop_process
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

SECRET = "hunter2-never-shown"


def test_scale_out_flags_set_their_settings():
    config = config_from_args(
        [
            "--backplane",
            f"redis://:{SECRET}@10.0.0.9:6380/2",
            "--workers",
            "3",
            "--trusted-proxy",
            "127.0.0.1",
            "--trusted-proxy",
            "10.0.0.0/8",
            "--allowed-host",
            "Dash.Example.com",
            "--allowed-host",
            "10.0.0.5:8000",
        ],
        environ={},
    )
    assert config.backplane == f"redis://:{SECRET}@10.0.0.9:6380/2"
    assert config.workers == 3
    assert config.trusted_proxies == ("127.0.0.1", "10.0.0.0/8")
    assert config.allowed_hosts == ("dash.example.com", "10.0.0.5:8000")
    assert SECRET not in repr(config)
    defaults = config_from_args([], environ={})
    assert (defaults.backplane, defaults.workers) == (None, 1)
    assert (defaults.trusted_proxies, defaults.allowed_hosts) == ((), ())


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--workers", "2"], "--workers: workers 2 needs a shared backplane (--backplane"),
        (["--workers", "0"], "--workers must be"),
        (["--backplane", f"http://:{SECRET}@x/0"], "--backplane must be a backplane URL"),
        (["--trusted-proxy", "proxy.example.com"], "--trusted-proxy must be a list"),
        (["--allowed-host", "evil.com/path"], "--allowed-host must be a list"),
    ],
)
def test_wrong_scale_out_flags_are_one_line_exit_2(argv, says, capsys):
    with pytest.raises(SystemExit) as exited:
        config_from_args(argv, environ={})
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1 and SECRET not in err


def test_startup_lines_say_backplane_redacted_and_workers():
    config = config_from_args(
        ["--backplane", f"redis://user:{SECRET}@db.example:6380/1", "--workers", "2"], environ={}
    )
    lines = startup_lines(config, "http://127.0.0.1:8000", ["A"], pids=[11, 12])
    text = "\n".join(lines)
    assert "Backplane: redis://user:***@db.example:6380/1" in lines
    assert "Workers: 2 processes (pids 11, 12)" in lines
    assert SECRET not in text
    alone = startup_lines(config_from_args([], environ={}), "http://x", ["A"])
    assert "Backplane: memory (this process alone; see --backplane)" in alone
    assert "Workers: 1" in alone


class Unreachable(MemoryBackplane):
    async def connect(self) -> None:
        raise BackplaneUnavailable("cannot reach the backplane at 127.0.0.1:1: connection refused")


async def test_serve_raises_unavailable_backplane_without_a_traceback(caplog):
    """serve() gives the caller the backplane's own error (not Hypercorn's
    lifespan failure), and nothing is logged with a traceback: the command
    line says it in one line."""
    caplog.set_level(logging.DEBUG)
    app = create_app(TEST_CONFIG, backplane=Unreachable())
    ready = []
    sock = bind_socket("127.0.0.1", 0)
    with pytest.raises(BackplaneUnavailable, match="127.0.0.1:1"):
        async with asyncio.timeout(10):
            await serve(app, sock, asyncio.Event(), on_ready=lambda: ready.append(1))
    assert not ready
    assert "Traceback" not in caplog.text and not any(r.exc_info for r in caplog.records)


async def workers_line(process: asyncio.subprocess.Process) -> str:
    """The start lines' "Workers:" line (the lines before it may grow)."""
    assert process.stdout is not None
    for _ in range(20):
        line = (await process.stdout.readline()).decode()
        if line.startswith("Workers:"):
            return line
    raise AssertionError("no Workers: line in the first 20 lines")


@pytest.mark.skipif(sys.platform != "linux", reason="signals as on Linux")
async def test_a_worker_that_dies_stops_the_group(redis_server):
    """--workers 2 over a real Redis: one port printed once with both pids; a worker killed while
    serving makes the parent stop the other and exit 1 with a line naming
    it. (Serving the same data and the stop with 1001: tests/e2e/test_workers.py.)"""
    process, _url = await start_cli(
        "--workers", "2", "--backplane", redis_server.url, "--rate", "5"
    )
    try:
        workers = await workers_line(process)
        assert workers.startswith("Workers: 2 processes (pids ")
        pid = int(workers.split("pids ")[1].split(",")[0])
        os.kill(pid, signal.SIGKILL)
        async with asyncio.timeout(20):
            assert await process.wait() == 1
        stderr = (await process.stderr.read()).decode()
        assert f'event=worker_died reason="worker 0 (pid {pid}) exited with signal 9"' in stderr
    finally:
        await stop_process(process)


async def test_workers_of_a_killed_parent_stop(redis_server):
    """SIGKILL to the parent (it cannot stop anyone): its workers notice and
    stop by themselves, leaving the port free."""
    process, url = await start_cli("--workers", "2", "--backplane", redis_server.url, "--rate", "5")
    try:
        workers = await workers_line(process)
        pids = [int(p) for p in workers.split("pids ")[1].rstrip(")\n").split(", ")]
    finally:  # never left serving if the start lines are not as expected
        process.kill()
        await process.wait()

    def gone(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False  # a zombie is gone too, but they are re-parented and reaped

    await wait_until(lambda: all(gone(pid) for pid in pids), timeout=15, what="workers exited")
    with socket.socket() as sock:  # the port is free again
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", int(url.rsplit(":", 1)[1])))
