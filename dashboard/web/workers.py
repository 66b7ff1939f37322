"""``--workers N``: N server processes serving one listening socket.

The parent binds the socket (so a taken port is one error, and port 0 one
port), starts N processes with the spawn method, each handed the socket and
serving it with the same ``serve()`` as a single process (the kernel gives
each accepted connection to one of them), and supervises them:

- a worker says ``ready`` (its feeds) once its core has started and it takes
  connections; the startup lines are printed when all have;
- a worker that cannot start says why in one line (e.g. Redis unreachable):
  the parent prints it once, stops the others and exits with its status;
- SIGINT (Ctrl-C) and SIGTERM to the parent stop every worker with SIGTERM
  (their viewers see 1001); one still running ``shutdown_timeout`` plus
  ``STOP_MARGIN`` later is killed. Workers ignore SIGINT themselves (a
  terminal sends it to the whole group): the parent alone decides;
- a worker that dies while serving stops the group, exit status 1 (a service
  manager restarts it; with Redis a restarted group resumes its viewers);
- a parent killed outright (SIGKILL) leaves its workers orphaned: each
  notices within ``PARENT_CHECK_INTERVAL`` and stops as on SIGTERM.

Why not Hypercorn's own workers (``hypercorn.run.run``): they load the app
from an import path in each process with Hypercorn's default shutdown, so
the dashboard's stop (viewers closed with 1001 within a bounded grace,
dashboard/web/stopping.py), its overrides' settings (callables, not
picklable), the startup lines and the one-line start error would all be lost.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing import get_context
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from dashboard.backplane import BackplaneError
from dashboard.config import DashboardConfig
from dashboard.logs import configure_logging, log_event
from dashboard.store import HistoryStoreError
from dashboard.web.app import create_app
from dashboard.web.server import serve
from dashboard.web.state import runtime_of
from feeds.loader import FeedLoadError

log = logging.getLogger(__name__)

#: How long after the stop's grace a worker may still take before it is killed.
STOP_MARGIN = 5.0
#: How often a worker checks that its parent is still there (seconds).
PARENT_CHECK_INTERVAL = 0.5
#: A worker's messages to the parent.
READY, FAILED = "ready", "failed"


def tell_ready(conn: Connection, feeds: Sequence[str]) -> None:
    conn.send((READY, list(feeds)))


def tell_failed(conn: Connection, message: str, status: int) -> None:
    conn.send((FAILED, message, status))


@dataclass
class Worker:
    index: int
    process: BaseProcess
    conn: Connection | None
    feeds: list[str] | None = None  # set once ready


@dataclass
class Outcome:
    """How the group is doing: what the parent decides from."""

    count: int
    ready: int = 0
    #: The first start error (one line) and its exit status.
    failure: tuple[str, int] | None = None
    #: A worker that exited while the group was serving.
    died: str | None = None
    stopping: bool = False
    exit_codes: dict[int, int] = field(default_factory=dict)

    def status(self) -> int:
        """The parent's exit status once every worker has exited."""
        if self.failure is not None:
            return self.failure[1]
        if self.died is not None:
            return 1
        return 0 if all(code == 0 for code in self.exit_codes.values()) else 1


def exit_note(index: int, pid: int | None, code: int | None) -> str:
    how = f"signal {-code}" if code is not None and code < 0 else f"status {code}"
    return f"worker {index} (pid {pid}) exited with {how}"


def supervise(
    count: int,
    target: Callable[..., None],
    args: tuple[Any, ...],
    *,
    stop_timeout: float,
    on_ready: Callable[[list[str], list[int]], None],
    on_failure: Callable[[str], None],
) -> int:
    """Run *count* processes of ``target(*args, index, conn)`` until a signal
    or a failure; the exit status for the parent."""
    # Long: one loop over the group's events (messages, exits, signals), in order.
    ctx = get_context("spawn")
    waker_read, waker_write = socket.socketpair()
    waker_read.setblocking(False)
    waker_write.setblocking(False)
    outcome = Outcome(count)

    def on_signal(_signum: int, _frame: object) -> None:
        outcome.stopping = True

    old_term = signal.signal(signal.SIGTERM, on_signal)  # a handler is not inherited
    old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)  # ignoring it is
    old_wakeup = signal.set_wakeup_fd(waker_write.fileno())
    workers: list[Worker] = []
    try:
        for index in range(count):
            receive, send = ctx.Pipe(duplex=False)
            process = ctx.Process(
                target=target, args=(*args, index, send), name=f"livefeed-worker-{index}"
            )
            process.start()
            send.close()
            workers.append(Worker(index, process, receive))
        signal.signal(signal.SIGINT, on_signal)
        deadline: float | None = None
        while any(w.process.exitcode is None for w in workers):
            if outcome.stopping and deadline is None:
                deadline = time.monotonic() + stop_timeout + STOP_MARGIN
                for worker in workers:
                    if worker.process.exitcode is None and worker.process.pid is not None:
                        os.kill(worker.process.pid, signal.SIGTERM)
            if deadline is not None and time.monotonic() > deadline:
                for worker in workers:
                    if worker.process.exitcode is None:
                        log_event(log, logging.WARNING, "worker_killed", worker=worker.index)
                        worker.process.kill()
                deadline = float("inf")
            waiting: list[Any] = [waker_read]
            waiting += [w.conn for w in workers if w.conn is not None]
            waiting += [w.process.sentinel for w in workers if w.process.exitcode is None]
            timeout = None if deadline is None else max(0.0, min(deadline - time.monotonic(), 1))
            for ready in wait(waiting, timeout):
                if ready is waker_read:
                    while True:
                        try:
                            waker_read.recv(64)
                        except BlockingIOError:
                            break
            for worker in workers:
                _read_messages(worker, outcome, on_ready, on_failure, workers)
                _note_exit(worker, outcome, on_failure)
    finally:
        signal.set_wakeup_fd(old_wakeup)
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
        for worker in workers:
            if worker.process.exitcode is None:
                worker.process.kill()
            worker.process.join()
        waker_read.close()
        waker_write.close()
    return outcome.status()


def _read_messages(
    worker: Worker,
    outcome: Outcome,
    on_ready: Callable[[list[str], list[int]], None],
    on_failure: Callable[[str], None],
    workers: list[Worker],
) -> None:
    conn = worker.conn
    while conn is not None and conn.poll():
        try:
            message = conn.recv()
        except (EOFError, OSError):
            conn.close()
            worker.conn = conn = None
            break
        if message[0] == READY:
            worker.feeds = message[1]
            outcome.ready += 1
            if outcome.ready == outcome.count and not outcome.stopping:
                pids = [w.process.pid or 0 for w in workers]
                on_ready(workers[0].feeds or [], pids)
        elif message[0] == FAILED and outcome.failure is None:
            outcome.failure = (message[1], message[2])
            on_failure(message[1])
            outcome.stopping = True


def _note_exit(worker: Worker, outcome: Outcome, on_failure: Callable[[str], None]) -> None:
    code = worker.process.exitcode
    if code is None or worker.index in outcome.exit_codes:
        return
    outcome.exit_codes[worker.index] = code
    if outcome.stopping:
        return
    note = exit_note(worker.index, worker.process.pid, code)
    if outcome.ready < outcome.count:  # while starting, and it said nothing
        outcome.failure = (f"{note} while starting", code if code > 0 else 1)
        on_failure(outcome.failure[0])
    else:
        outcome.died = note
        log_event(log, logging.ERROR, "worker_died", reason=note, action="stopping all")
    outcome.stopping = True


# --- in each worker ------------------------------------------------------------------


def worker_process(config: DashboardConfig, sock: socket.socket, index: int, conn: Any) -> None:
    """One of ``--workers``: serve *sock* until SIGTERM; tell the parent over
    *conn* when ready, or why it cannot start (it prints that once)."""
    configure_logging(config.logging_level, worker=index)
    try:
        asyncio.run(serve_worker(config, sock, conn))
    except BackplaneError as exc:
        tell_failed(conn, str(exc), 1)
        raise SystemExit(1) from None
    except (FeedLoadError, HistoryStoreError) as exc:
        tell_failed(conn, str(exc), 2 if isinstance(exc, FeedLoadError) else 1)
        raise SystemExit(2 if isinstance(exc, FeedLoadError) else 1) from None


async def serve_worker(config: DashboardConfig, sock: socket.socket, conn: Any) -> None:
    app = create_app(config)
    shutdown = asyncio.Event()
    # SIGINT is ignored (inherited): the parent stops the workers with SIGTERM.
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, shutdown.set)
    feeds = list(runtime_of(app).hub.feeds)
    orphaned = asyncio.create_task(_stop_when_orphaned(os.getppid(), shutdown))
    try:
        await serve(app, sock, shutdown, on_ready=lambda: tell_ready(conn, feeds))
    finally:
        orphaned.cancel()


async def _stop_when_orphaned(parent: int, shutdown: asyncio.Event) -> None:
    """A parent that was killed (SIGKILL: it could not stop us) leaves the
    worker re-parented: it stops as if told to, rather than hold the port
    and its feeds' leases with no one to stop it."""
    while os.getppid() == parent:
        await asyncio.sleep(PARENT_CHECK_INTERVAL)
    log_event(log, logging.WARNING, "worker_orphaned", parent=parent, action="stopping")
    shutdown.set()
