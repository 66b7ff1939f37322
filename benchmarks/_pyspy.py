"""``fanout.py --py-spy FILE``: record the project server with py-spy over one
window, then summarise where its time went.

    python benchmarks/_pyspy.py FILE      # summarise a raw recording again

The recording is py-spy's raw (collapsed stacks) format with idle samples
(``--idle``), taken ``--nonblocking`` so the server is not paused; a thread
waiting for a CPU it shares with the load generators counts as active, so
shares are of the server's wall time, not of its CPU time. The summary gives
the idle share, the top functions by own time, and the inclusive share of the
parts of the send path (GROUPS): a sample counts once per group whose marker
is in any of its frames.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

#: (label, marker): a sample is in the group when any frame contains the marker.
GROUPS: list[tuple[str, str]] = [
    ("dashboard/web/viewer.py", "dashboard/web/viewer.py"),
    ("dashboard/web/framework.py", "dashboard/web/framework.py"),
    ("hub flush (Hub.flush)", "Hub.flush "),
    ("Quart", "quart/"),
    ("Hypercorn", "hypercorn/"),
    ("wsproto", "wsproto/"),
    ("transport.write", "_SelectorSocketTransport.write "),
    ("reading frames (TCPServer._read_data)", "TCPServer._read_data "),
    ("delivery probes (dashboard/web/probing.py)", "dashboard/web/probing.py"),
    ("json / orjson encoding", "dumps"),
]
IDLE_MARKERS = ("EpollSelector.select", "select.epoll.poll")


def py_spy() -> str | None:
    """The py-spy next to this interpreter, else on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


class Recording:
    """A py-spy recording of *pid* for *duration* s, written to *path*."""

    def __init__(self, pid: int, duration: float, path: str, rate: int = 100) -> None:
        found = py_spy()
        if found is None:
            raise SystemExit("--py-spy needs py-spy: .venv/bin/pip install py-spy")
        self.path = path
        cmd = [found, "record", "--pid", str(pid), "--duration", str(max(1, round(duration)))]
        cmd += ["--rate", str(rate), "--format", "raw", "--idle", "--nonblocking", "-o", path]
        self.process = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )

    def finish(self, timeout: float = 30.0) -> str:
        """Wait for py-spy to write the file; the summary (or why there is none)."""
        try:
            _, err = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()
            return f"py-spy did not finish within {timeout:.0f} s"
        if self.process.returncode != 0 or not Path(self.path).exists():
            return f"py-spy failed ({self.process.returncode}): {err.strip()[-500:]}"
        return summarize(self.path)


def _frames(line: str) -> tuple[list[str], int]:
    stack, _, count = line.rstrip("\n").rpartition(" ")
    return stack.split(";"), int(count)


def summarize(path: str, top: int = 15) -> str:
    """Idle share, top own-time functions and GROUPS' inclusive shares."""
    own: Counter[str] = Counter()
    groups: Counter[str] = Counter()
    total = idle = 0
    with open(path) as lines:
        for line in lines:
            if not line.strip():
                continue
            frames, count = _frames(line)
            total += count
            if any(marker in frames[-1] for marker in IDLE_MARKERS):
                idle += count
                continue
            own[frames[-1]] += count
            for label, marker in GROUPS:
                if any(marker in frame for frame in frames):
                    groups[label] += count
    active = total - idle
    if not active:
        return f"py-spy: {total} samples, none active"
    out = [
        f"py-spy {path}: {total} samples, idle (waiting in select) {100 * idle / total:.1f} %;"
        " shares below are of the active samples",
        "top own time:",
    ]
    out += [f"  {100 * n / active:5.1f} %  {name}" for name, n in own.most_common(top)]
    out.append("inclusive:")
    out += [f"  {100 * groups[label] / active:5.1f} %  {label}" for label, _ in GROUPS]
    return "\n".join(out)


if __name__ == "__main__":
    print(summarize(sys.argv[1]))
