"""--listen-backlog reaches listen(): the kernel's own view of the listening
socket (ss, whose Send-Q of a listening socket is its backlog) follows the
setting, and a setting above net.core.somaxconn is capped and said so."""

import re
import shutil
import subprocess
import sys

import pytest

from dashboard.listen_backlog import DEFAULT_LISTEN_BACKLOG, MAX_LISTEN_BACKLOG, kernel_backlog_cap
from tests.support.servers import start_cli, stop_process

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("ss") is None, reason="needs ss (iproute2)"),
]

SOMAXCONN = kernel_backlog_cap()


def kernel_backlog(url: str) -> int:
    """The backlog of the socket listening at *url*, as the kernel reports it."""
    port = url.rsplit(":", 1)[1]
    out = subprocess.run(
        ["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True
    ).stdout
    [line] = out.strip().splitlines()
    return int(line.split()[2])  # State Recv-Q Send-Q Local Peer


async def serve_and_read_backlog(*args: str) -> tuple[int, str]:
    """Start the CLI with *args*, read its socket's backlog, stop; and stderr."""
    process, url = await start_cli("--symbols", "ACME", *args)
    try:
        backlog = kernel_backlog(url)
    finally:
        assert await stop_process(process) == 0
    return backlog, (await process.stderr.read()).decode()


@pytest.mark.skipif(SOMAXCONN is None, reason="needs /proc/sys/net/core/somaxconn")
async def test_the_listen_backlog_follows_the_setting():
    """The default (4096, or the kernel's cap if lower), and a setting of 123."""
    backlog, stderr = await serve_and_read_backlog()
    assert backlog == min(DEFAULT_LISTEN_BACKLOG, SOMAXCONN)
    assert ("somaxconn" in stderr) == (DEFAULT_LISTEN_BACKLOG > SOMAXCONN)
    backlog, stderr = await serve_and_read_backlog("--listen-backlog", "123")
    assert backlog == 123 and "somaxconn" not in stderr


@pytest.mark.skipif(
    SOMAXCONN is None or SOMAXCONN >= MAX_LISTEN_BACKLOG, reason="somaxconn is not below the max"
)
async def test_a_backlog_above_somaxconn_is_capped_with_a_one_line_warning():
    wanted = SOMAXCONN + 1
    backlog, stderr = await serve_and_read_backlog("--listen-backlog", str(wanted))
    assert backlog == SOMAXCONN
    [warning] = [line for line in stderr.splitlines() if "somaxconn" in line]
    assert re.search(
        f"WARNING .*listen_backlog {wanted} is above net.core.somaxconn {SOMAXCONN}: the kernel "
        f"queues at most {SOMAXCONN} connections",
        warning,
    )


@pytest.mark.parametrize("given", ["0", "70000", "many"])
def test_a_wrong_listen_backlog_is_a_one_line_error(given):
    result = subprocess.run(
        [sys.executable, "-m", "dashboard", "--listen-backlog", given],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stderr.strip().endswith(
        f'error: --listen-backlog must be an integer 1-65535, not "{given}"'
    ), result.stderr
