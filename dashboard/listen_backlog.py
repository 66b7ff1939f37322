"""The listen backlog: connections the kernel completes and queues for the
server before it accepts them. A burst of connections larger than the queue
leaves the excess half-open (their SYNs are dropped and retried for seconds):
2,000 at once against the old fixed 1,024 left 433 hanging.

Linux silently caps the backlog at ``net.core.somaxconn``; the server says so
in one line at start when the setting is above it.
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_LISTEN_BACKLOG = 4096
#: somaxconn's own default since Linux 5.4 is 4096; nothing needs more than this.
MAX_LISTEN_BACKLOG = 65535
SOMAXCONN = Path("/proc/sys/net/core/somaxconn")


def kernel_backlog_cap(path: Path = SOMAXCONN) -> int | None:
    """``net.core.somaxconn``, or None where it cannot be read (not Linux)."""
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def backlog_warning(backlog: int, cap: int | None) -> str | None:
    """The one line to log when the kernel will cap *backlog*; else None."""
    if cap is None or backlog <= cap:
        return None
    return (
        f"listen_backlog {backlog} is above net.core.somaxconn {cap}: the kernel queues at "
        f"most {cap} connections (raise it: sysctl -w net.core.somaxconn={backlog})"
    )
