"""Optional persistence of the history ring buffers, so a restart keeps the charts.

The hub hands every flushed point to a :class:`HistoryStore`; on start
dashboard/assemble.py loads each feed's last points and the epoch back, gives
them to the hub, and has the backplane go on numbering each feed from its
last stored ``seq`` under that same epoch (``backplane.restore(stored)``, part
of every backplane's contract: dashboard/backplane.py). A viewer that was
connected before the restart then resumes with a replay of exactly what it
missed, not a reset.

:class:`SqliteHistoryStore` keeps them in one SQLite file (standard library).
Without a store the history lives in memory only, as before.

Writes happen in a thread, off the event loop, at most once per
``write_interval``: SQLite calls block, and at 200 feeds a transaction per
50 ms flush cost the loop several milliseconds at the median and tens at
checkpoints (benchmarks/history_store.py). The hub only queues a flush's
points (a list append).

Why the guarantees hold:

- A clean shutdown writes everything queued, then marks the file clean; only
  a clean file's epoch is reused, so a viewer's resume never meets a seq it
  holds for a different point.
- A run that did not close the file cleanly (killed, power lost: the last
  second of points may not be on disk) gets a new epoch at the next start;
  the points that are there are still shown, and viewers get a reset
  snapshot instead of a replay.
- The file is locked for one process: two dashboards numbering the same feeds
  under one epoch would hand out the same seqs twice.

When writes fail (a full disk) live data goes on, and the file never holds a
silent hole (dashboard/history_writer.py):

- Points that could not be written stay queued in memory, oldest first, and
  the writer tries again after a capped backoff. Once a write succeeds the
  queue goes to the file in the order it was sent: no hole, and no point is
  stored before an earlier one of its feed. ``failing`` says why meanwhile
  (/healthz, /metrics).
- Past ``max_queued`` points waiting, the queue is dropped (memory stays
  bounded), counted as ``lost``, and saving goes on when it can. The file
  then has a hole in seq that no load bridges (only the points after a feed's
  newest hole are restored), and it is not marked clean at the stop.
- A file not marked clean (killed, points lost, or still failing at the stop)
  gives the next start a new epoch, and ``StoredHistory.complete`` is False:
  the app breaks each restored feed's line before its first new point, so the
  stored points are never drawn as joined to the new ones across points that
  were sent but not stored.
- A start that fails leaves no file behind that it created (a disk already
  full at start fails on the new file's first write).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple, Protocol

from dashboard.backplane import new_epoch
from dashboard.history_writer import RETRY_INITIAL, HistoryWriter
from dashboard.protocol import Point

log = logging.getLogger(__name__)

SCHEMA_VERSION = "1"

#: Seconds between two writes: each write is one transaction with every point
#: queued since the last, so SQLite touches each feed's pages once per write
#: however many flushes it covers. A crash loses at most this much, and a
#: crash starts a new epoch anyway.
WRITE_INTERVAL = 1.0
#: Points waiting for a write (a slow or full disk) beyond which they are
#: dropped: memory stays bounded, and the next start is unclean.
MAX_QUEUED = 100_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS points (
    feed TEXT NOT NULL,
    seq INTEGER NOT NULL,
    point TEXT NOT NULL,  -- the point's JSON, as sent to viewers
    PRIMARY KEY (feed, seq)
) WITHOUT ROWID;
"""


class HistoryStoreError(Exception):
    """The history file cannot be used; the message says which file and why."""


class StoredHistory(NamedTuple):
    epoch: str
    #: Per feed, its last points in seq order, with no gap.
    points: dict[str, list[Point]]
    #: The last run closed the file cleanly: every point it sent is stored, so
    #: new points continue the stored ones. False: a new epoch, and each feed's
    #: line breaks before its first new point.
    complete: bool = True

    @property
    def last_seqs(self) -> dict[str, int]:
        return {feed: points[-1].seq for feed, points in self.points.items() if points}


class HistoryStore(Protocol):
    def load(self) -> StoredHistory:
        """The epoch to run under and the points to start with; called once, first."""

    def start(self) -> None:
        """Begin writing in the background (needs the running loop)."""

    @property
    def failing(self) -> str | None:
        """Why writes fail, while they do (they are being retried); else None."""

    @property
    def queued(self) -> int:
        """Points waiting to be written."""

    @property
    def lost(self) -> int:
        """Points dropped unsaved because too many were waiting."""

    def append(self, points: Sequence[Point]) -> None:
        """Keep one flush's points, in order. Never blocks and never raises: a
        store that cannot write logs it, keeps the points (bounded) and
        retries; live data goes on."""

    async def close(self) -> None:
        """Write everything appended, then release the file."""


class SqliteHistoryStore:
    """The last ``keep`` points of every feed in one SQLite file.

    Every ``keep // 4`` points of a feed its older rows are deleted, so the
    file holds at most about ``1.25 * keep`` rows per feed name ever written.
    Rows of feeds that are no longer configured stay (bounded the same way)
    and come back if a feed of that name does (a pushed-in feed is only known
    again once something is pushed to it).
    """

    def __init__(
        self,
        path: Path,
        keep: int,
        *,
        lock_timeout: float = 2.0,
        write_interval: float = WRITE_INTERVAL,
        max_queued: int = MAX_QUEUED,
        retry_initial: float = RETRY_INITIAL,
    ) -> None:
        if keep < 1:
            raise ValueError(f"keep must be >= 1, not {keep}")
        self.path = path
        self.keep = keep
        # How long to wait for a dashboard that still has the file (one
        # being restarted may not have closed it yet).
        self._lock_timeout = lock_timeout
        self._trim_every = max(1, keep // 4)
        self._since_trim: dict[str, int] = {}
        self._loaded = False  # load() marked the file "not closed cleanly"
        self._writer = HistoryWriter(
            self.write,
            f"history db {path}",
            write_interval=write_interval,
            max_queued=max_queued,
            retry_initial=retry_initial,
        )
        self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        _create_private(self.path)
        try:
            # Used by one thread at a time: the loop's before serving, the
            # writer's while serving.
            db = sqlite3.connect(self.path, timeout=self._lock_timeout, check_same_thread=False)
        except sqlite3.Error as exc:
            raise self._error("cannot be opened", exc) from None
        try:
            # Exclusive before WAL: the lock is held for the connection's life
            # (a second dashboard gets "in use") and no -shm file is needed.
            db.execute("PRAGMA locking_mode = EXCLUSIVE")
            mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode != "wal":
                log.warning("history db %s: journal mode %s, not WAL", self.path, mode)
            # Committed transactions survive a process crash; a power loss
            # may take the last ones, and is caught as an unclean close.
            db.execute("PRAGMA synchronous = NORMAL")
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if tables and "meta" not in tables:
                raise HistoryStoreError(
                    f"history db {self.path} is an SQLite file of something else "
                    f"(tables {', '.join(sorted(tables))}): give another file"
                )
            # Takes the write lock at once (kept: exclusive mode).
            db.executescript(f"BEGIN IMMEDIATE;{_SCHEMA}COMMIT;")
            schema = _meta(db).get("schema", SCHEMA_VERSION)
            if schema != SCHEMA_VERSION:
                raise HistoryStoreError(
                    f"history db {self.path} has schema version {schema}, "
                    f"this dashboard reads {SCHEMA_VERSION}"
                )
            check = db.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise HistoryStoreError(f"history db {self.path} is corrupt: {check}")
        except HistoryStoreError:
            db.close()
            raise
        except sqlite3.Error as exc:
            db.close()
            raise self._error("cannot be used", exc) from None
        return db

    def _error(self, what: str, exc: sqlite3.Error) -> HistoryStoreError:
        reason = str(exc)
        if "locked" in reason:
            reason += " (is another dashboard using it?)"
        elif "not a database" in reason or "malformed" in reason:
            reason += " (corrupt: move it away to start with an empty history)"
        return HistoryStoreError(f"history db {self.path} {what}: {reason}")

    def load(self) -> StoredHistory:
        try:
            meta = _meta(self._db)
            epoch = meta.get("epoch")
            complete = epoch is None or meta.get("clean") == "1"
            if not complete:
                log.warning(
                    "history db %s was not closed cleanly: new epoch, viewers reset", self.path
                )
                epoch = None
            points = self._read_points()
            if epoch is None:
                epoch = new_epoch()
            with self._db:
                # "clean" is set again by close() once every write is done;
                # until then a start finding it unset knows this run may have
                # sent points that are not on disk.
                self._db.executemany(
                    "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                    [("schema", SCHEMA_VERSION), ("epoch", epoch), ("clean", "0")],
                )
                # A smaller history_size than last time: trim now.
                self._db.executemany(
                    "DELETE FROM points WHERE feed = ? AND seq < ?",
                    [(feed, held[0].seq) for feed, held in points.items()],
                )
        except sqlite3.Error as exc:
            raise self._error("cannot be read", exc) from None
        self._loaded = True
        return StoredHistory(epoch, points, complete)

    def _read_points(self) -> dict[str, list[Point]]:
        points: dict[str, list[Point]] = {}
        rows = self._db.execute("SELECT feed, point FROM points ORDER BY feed, seq")
        for feed, text in rows:
            try:
                point = Point.from_wire(text)
            except (ValueError, KeyError, TypeError) as exc:
                raise HistoryStoreError(
                    f"history db {self.path}: a stored point of {feed!r} is not valid: {exc}"
                ) from None
            points.setdefault(feed, []).append(point)
        return {feed: _gapless_tail(held, self.keep) for feed, held in points.items()}

    # --- on the event loop ------------------------------------------------

    @property
    def queued(self) -> int:
        """Points waiting for the writer."""
        return self._writer.queued

    @property
    def lost(self) -> int:
        return self._writer.lost

    @property
    def failing(self) -> str | None:
        return self._writer.failing

    def start(self) -> None:
        self._writer.start()

    def append(self, points: Sequence[Point]) -> None:
        self._writer.append(points)

    async def close(self) -> None:
        await self._writer.close()
        await asyncio.to_thread(self.close_now)

    # --- blocking (in the writer thread, or before serving) ----------------

    def write(self, points: Sequence[Point]) -> None:
        """Save *points* (in seq order per feed) in one transaction, trimming
        feeds that are due; raises sqlite3.Error."""
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO points VALUES (?, ?, ?)",
                # Points sent to a viewer already carry their JSON.
                [(p.feed, p.seq, p.wire) for p in points],
            )
            trims = self._due_trims(points)
            if trims:
                self._db.executemany("DELETE FROM points WHERE feed = ? AND seq <= ?", trims)

    def _due_trims(self, points: Sequence[Point]) -> list[tuple[str, int]]:
        since_trim = self._since_trim
        last: dict[str, int] = {}
        for point in points:
            last[point.feed] = point.seq
            since_trim[point.feed] = since_trim.get(point.feed, 0) + 1
        trims = []
        for feed, seq in last.items():
            if since_trim[feed] >= self._trim_every:
                since_trim[feed] = 0
                trims.append((feed, seq - self.keep))
        return trims

    def row_counts(self) -> dict[str, int]:
        """Rows in the file per feed (no other process can read it while open)."""
        return dict(self._db.execute("SELECT feed, count(*) FROM points GROUP BY feed"))

    def close_now(self) -> None:
        """Release the file, marking it clean if every write succeeded.
        Blocking, and for when nothing is being written."""
        db = self._db
        if db is None:
            return
        self._db = None  # type: ignore[assignment]
        try:
            # Every point handed over is on disk: the next start continues it.
            if self._loaded and self._writer.complete:
                with db:
                    db.execute("UPDATE meta SET value = '1' WHERE key = 'clean'")
        except sqlite3.Error:
            log.exception("history db %s: could not mark it closed cleanly", self.path)
        finally:
            db.close()


def _create_private(path: Path) -> None:
    """Create *path* readable by its owner only, unless it exists: it holds
    the feed data, and SQLite gives its WAL file the same permissions."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except OSError as exc:
        raise HistoryStoreError(f"history db {path} cannot be created: {exc.strerror}") from None


def _meta(db: sqlite3.Connection) -> dict[str, str]:
    return dict(db.execute("SELECT key, value FROM meta"))


def _gapless_tail(points: Sequence[Point], keep: int) -> list[Point]:
    """The last *keep* points, cut at the newest gap in seq (the history's
    resume arithmetic needs consecutive seqs; the writer never leaves gaps)."""
    tail = list(points[-keep:])
    for i in range(len(tail) - 1, 0, -1):
        if tail[i - 1].seq != tail[i].seq - 1:
            return tail[i:]
    return tail


#: The files SQLite may make beside the database (WAL mode, rollback journal).
SIDE_FILES = ("-wal", "-shm", "-journal")


def open_history_store(path: Path, keep: int) -> tuple[SqliteHistoryStore, StoredHistory]:
    """Open *path* and load it; the store is closed again if loading fails,
    and the files this call created are removed (a full disk at start would
    otherwise leave an empty file behind)."""
    files = [Path(f"{path}{end}") for end in ("", *SIDE_FILES)]
    absent = [file for file in files if not file.exists()]
    try:
        store = SqliteHistoryStore(path, keep)
        try:
            return store, store.load()
        except BaseException:
            store.close_now()
            raise
    except BaseException:
        for created in absent:
            with contextlib.suppress(FileNotFoundError):
                created.unlink()
        raise
