"""The history store's background writer, and what it does while writes fail.

:class:`HistoryWriter` runs a store's blocking ``write`` in a thread, off the
event loop, at most once per ``write_interval``, with every point queued since
the last write (the hub only appends a list). While writes fail (a full disk,
an I/O error) it keeps the points and retries. Its two decisions are free of
I/O, so tests drive them with any clock:

- :class:`WriteRetry` says when to try again: a capped exponential backoff
  from the first failure, reset by a success.
- :class:`UnsavedPoints` keeps the points not written yet, oldest first, so
  that once writes succeed again they go to the file in the order they were
  sent and the file has no hole. Memory is bounded: past ``limit`` points the
  whole queue is dropped and counted as lost (the caller then treats the file
  as unclean: see dashboard/store.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import sqlite3
from collections.abc import Callable, Sequence

from dashboard.protocol import Point

log = logging.getLogger(__name__)

#: Seconds before the first retry, and the most ever waited between two.
RETRY_INITIAL = 0.5
RETRY_MAX = 30.0


def retry_delay(failures: int, initial: float, maximum: float) -> float:
    """Seconds before try number *failures* + 1: doubling, capped at *maximum*.
    No jitter: there is one writer per file, nothing to keep out of lockstep."""
    return min(maximum, initial * 2.0 ** (failures - 1))


class WriteRetry:
    """The writer's failure state: failing or not, why, and when to try again."""

    def __init__(self, initial: float = RETRY_INITIAL, maximum: float = RETRY_MAX) -> None:
        self.initial = initial
        self.maximum = maximum
        self.failures = 0
        #: The last failure's reason while failing; None when writes succeed.
        self.reason: str | None = None
        self._next_try = -math.inf

    @property
    def failing(self) -> bool:
        return self.reason is not None

    def failed(self, reason: str, now: float) -> None:
        self.failures += 1
        self.reason = reason
        self._next_try = now + retry_delay(self.failures, self.initial, self.maximum)

    def succeeded(self) -> None:
        self.failures = 0
        self.reason = None
        self._next_try = -math.inf

    def wait(self, now: float) -> float:
        """Seconds from *now* until the next try is due (0: now)."""
        return max(0.0, self._next_try - now)


class UnsavedPoints:
    """Points handed to the store and not written yet, oldest first, bounded."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        #: Points waiting.
        self.count = 0
        #: Points dropped because more than ``limit`` were waiting, ever.
        self.lost = 0
        self._batches: list[Sequence[Point]] = []

    def add(self, points: Sequence[Point]) -> bool:
        """Queue one flush's points (the list is kept, not copied); False when
        that overflowed the bound and everything waiting was dropped."""
        self._batches.append(points)
        self.count += len(points)
        return self._within_bound()

    def take(self) -> list[Point]:
        """Everything waiting, oldest first; the queue is then empty."""
        batch = [point for points in self._batches for point in points]
        self._batches, self.count = [], 0
        return batch

    def put_back(self, batch: list[Point]) -> bool:
        """Return a batch that could not be written to the front of the queue
        (it is older than anything queued since); False as for :meth:`add`."""
        self._batches.insert(0, batch)
        self.count += len(batch)
        return self._within_bound()

    def _within_bound(self) -> bool:
        if self.count <= self.limit:
            return True
        self.lost += self.count
        self._batches, self.count = [], 0
        return False


class HistoryWriter:
    """Writes queued points with *write* in a thread, in order, retrying on failure.

    *write* saves a list of points in one transaction (all or nothing) and
    raises sqlite3.Error or OSError when the disk refuses; *name* names the
    file in the log.
    """

    def __init__(
        self,
        write: Callable[[list[Point]], None],
        name: str,
        *,
        write_interval: float,
        max_queued: int,
        retry_initial: float = RETRY_INITIAL,
    ) -> None:
        self._write = write
        self._name = name
        self._write_interval = write_interval
        self._unsaved = UnsavedPoints(max_queued)
        self._retry = WriteRetry(initial=retry_initial)
        self._wake = asyncio.Event()
        self._closing = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._writing = 0  # points of the write in progress

    @property
    def queued(self) -> int:
        """Points not written yet: waiting, or in the write in progress."""
        return self._unsaved.count + self._writing

    @property
    def lost(self) -> int:
        return self._unsaved.lost

    @property
    def failing(self) -> str | None:
        return self._retry.reason

    @property
    def complete(self) -> bool:
        """Every point appended is written: none waiting, none lost."""
        return not (self._unsaved.count or self._unsaved.lost or self._retry.failing)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._write_forever(), name="history-writer")

    def append(self, points: Sequence[Point]) -> None:
        if not points:
            return
        if not self._unsaved.add(points):  # the hub hands over its list: no copy
            self._log_lost()
            return
        self._wake.set()

    async def close(self) -> None:
        """Try once more to write everything queued, then stop; never waits
        out a retry delay."""
        if self._task is not None:
            self._closing.set()
            self._wake.set()
            await self._task
            self._task = None
        else:
            await self._write_unsaved()

    async def _write_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            closing = self._closing.is_set()
            # One thread at a time, in order: the next write starts only
            # after this one is committed or rolled back.
            await self._write_unsaved()
            if closing:
                return  # the try made after close() asked: the last one
            # Gather points into fewer, larger transactions, or wait out the
            # retry delay while failing; close() cuts either short.
            pause = self._retry.wait(loop.time()) if self._retry.failing else self._write_interval
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(pause):
                    await self._closing.wait()
            if self._retry.failing:
                self._wake.set()  # retry, even if nothing new came

    async def _write_unsaved(self) -> None:
        """Write everything queued; on failure keep it queued (bounded) and
        schedule a retry."""
        batch = self._unsaved.take()
        if not batch:
            return
        try:
            await self._write_batch(batch)
        finally:
            self._writing = 0

    async def _write_batch(self, batch: list[Point]) -> None:
        self._writing = len(batch)
        try:
            await asyncio.to_thread(self._write, batch)
        except (sqlite3.Error, OSError) as exc:
            # The transaction was rolled back: the whole batch goes back.
            if not self._retry.failing:
                log.error(
                    "%s: write failed: %s; live data goes on, points are kept in memory "
                    "(up to %d) and written when the disk takes them",
                    self._name,
                    exc,
                    self._unsaved.limit,
                )
            self._retry.failed(str(exc), asyncio.get_running_loop().time())
            if not self._unsaved.put_back(batch):
                self._log_lost()
        except Exception:
            # Not the disk (a point that cannot be encoded): retrying the same
            # points cannot help. They are lost, and the file left unclean.
            log.exception("%s: write failed", self._name)
            self._unsaved.lost += len(batch)
        else:
            if self._retry.failing:
                log.warning(
                    "%s: writing again after %d failed tries", self._name, self._retry.failures
                )
                self._retry.succeeded()

    def _log_lost(self) -> None:
        log.error(
            "%s: more than %d points waiting for the disk, not kept: the history file has "
            "a hole here, and the next start takes a new epoch",
            self._name,
            self._unsaved.limit,
        )
