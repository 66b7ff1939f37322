"""The SQLite history store on a real file: round trip, trimming, epochs, bad files."""

import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing

import pytest

from dashboard.assemble import assemble
from dashboard.backplane import BackplaneError, MemoryBackplane, Position
from dashboard.config import DashboardConfig
from dashboard.hub import Hub
from dashboard.hub_settings import HubSettings
from dashboard.protocol import Point
from dashboard.store import (
    HistoryStoreError,
    SqliteHistoryStore,
    StoredHistory,
    _gapless_tail,
    open_history_store,
)
from feeds import feed
from feeds.base import FeedInfo, Series
from tests.support.hubs import points
from tests.support.waiting import wait_until


def sql(path, query: str) -> list[tuple]:
    """Run *query* on a closed store's file with a plain connection."""
    with closing(sqlite3.connect(path)) as db, db:
        return db.execute(query).fetchall()


async def test_round_trip_keeps_points_and_epoch(tmp_path):
    """Points appended over several flushes (written by the background writer)
    come back, per feed in seq order, with the epoch of the first run."""
    path = tmp_path / "h.db"
    store, first = open_history_store(path, keep=100)
    assert first.points == {}
    store.start()
    store.append(points("A", range(1, 4)) + points("B", range(1, 3)))
    store.append(points("A", range(4, 6)))
    await store.close()
    store, again = open_history_store(path, keep=100)
    store.close_now()
    assert again.epoch == first.epoch
    assert again.points == {"A": points("A", range(1, 6)), "B": points("B", range(1, 3))}
    assert again.last_seqs == {"A": 5, "B": 2}
    # Loaded points carry the exact JSON they were sent as.
    assert again.points["A"][0].wire == points("A", range(1, 2))[0].wire


async def test_a_points_gap_flag_survives_a_restart(tmp_path):
    """A point drawn after a break is still drawn so once loaded back: the
    flag travels in the kept JSON, and points without it stay unflagged."""
    path = tmp_path / "h.db"
    store, _ = open_history_store(path, keep=100)
    store.start()
    flagged = [
        Point("A", 1, 1_700_000_000_001, {"v": 1}),
        Point("A", 2, 1_700_000_000_002, {"v": 2}, gap=True),
    ]
    store.append(flagged)
    await store.close()
    store, again = open_history_store(path, keep=100)
    store.close_now()
    assert again.points == {"A": flagged}
    assert [p.gap for p in again.points["A"]] == [False, True]
    assert '"gap"' not in again.points["A"][0].wire


def test_file_stays_bounded_and_load_gives_the_last_points(tmp_path):
    """Old rows are trimmed as points arrive: about keep rows per feed, never
    more than keep * 1.25 plus one flush; a load gives exactly the last keep."""
    path = tmp_path / "h.db"
    store, _ = open_history_store(path, keep=40)
    most = 0
    for start in range(1, 1000, 7):
        store.write(points("A", range(start, start + 7)))
        most = max(most, store.row_counts()["A"])
    store.close_now()
    assert 40 <= most <= 40 + 10 + 7
    store, stored = open_history_store(path, keep=40)
    store.close_now()
    last = start + 6
    assert [p.seq for p in stored.points["A"]] == list(range(last - 39, last + 1))


def test_smaller_history_size_trims_on_load(tmp_path):
    """Reopened with a smaller keep, the file and the load hold only that many."""
    path = tmp_path / "h.db"
    store, _ = open_history_store(path, keep=50)
    store.write(points("A", range(1, 51)))
    store.close_now()
    store, stored = open_history_store(path, keep=10)
    store.close_now()
    assert [p.seq for p in stored.points["A"]] == list(range(41, 51))
    assert sql(path, "SELECT count(*) FROM points") == [(10,)]


def test_unclean_close_gives_a_new_epoch_but_keeps_points(tmp_path):
    """A process that dies without closing the store: the next load keeps its
    committed points but takes a new epoch (its last commits might be lost)."""
    path = tmp_path / "h.db"
    store, first = open_history_store(path, keep=100)
    store.close_now()
    crash = textwrap.dedent(
        f"""
        import os
        from dashboard.protocol import Point
        from dashboard.store import open_history_store
        store, _ = open_history_store({str(path)!r}, keep=100)
        store.write([Point("A", s, 1000 + s, {{"price": 1.5}}) for s in range(1, 4)])
        os._exit(0)  # no close(): as if killed
        """
    )
    subprocess.run([sys.executable, "-c", crash], check=True, timeout=30)
    store, after = open_history_store(path, keep=100)
    store.close_now()
    assert after.epoch != first.epoch
    assert [p.seq for p in after.points["A"]] == [1, 2, 3]


async def test_close_writes_everything_still_queued(tmp_path):
    """Points queued between two writes are written by close(), in one go."""
    path = tmp_path / "h.db"
    store = SqliteHistoryStore(path, keep=100, write_interval=3600)  # writes an hour apart
    store.load()
    store.start()
    store.append(points("A", range(1, 4)))
    await wait_until(lambda: store.row_counts().get("A") == 3, what="the first write")
    store.append(points("A", range(4, 6)))
    store.append(points("A", range(6, 8)))
    await store.close()
    store, stored = open_history_store(path, keep=100)
    store.close_now()
    assert [p.seq for p in stored.points["A"]] == list(range(1, 8))


async def test_a_failed_write_never_raises_and_the_next_start_takes_a_new_epoch(tmp_path, caplog):
    """A write that fails for another reason than the disk is logged, its
    points are lost (retrying cannot help), live data goes on (append
    returns), later points are written, and the file is not marked clean."""
    path = tmp_path / "h.db"
    store, first = open_history_store(path, keep=100)
    store.start()
    unencodable = Point("A", 1, 1000, {"price": object()})  # its JSON cannot be made
    store.append([unencodable])
    await wait_until(lambda: "write failed" in caplog.text, what="the failed write")
    assert store.lost == 1 and store.failing is None
    store.append(points("A", range(2, 4)))
    await store.close()
    store, after = open_history_store(path, keep=100)
    store.close_now()
    assert after.epoch != first.epoch and not after.complete
    assert [p.seq for p in after.points["A"]] == [2, 3]


async def test_a_stuck_disk_drops_the_queue_past_its_bound_and_leaves_the_file_unclean(
    tmp_path, caplog
):
    """Past max_queued points waiting for the writer, the queue is dropped
    (memory stays bounded) and counted; later points are queued again and
    written, but the file is left unclean: the next start takes a new epoch."""
    path = tmp_path / "h.db"
    store = SqliteHistoryStore(path, keep=100, max_queued=5)
    first = store.load()
    # No writer started: as if every write hung.
    store.append(points("A", range(1, 4)))
    store.append(points("A", range(4, 7)))
    assert store.queued == 0 and store.lost == 6 and "not kept" in caplog.text
    store.append(points("A", range(7, 9)))
    assert store.queued == 2
    await store.close()
    store, after = open_history_store(path, keep=100)
    store.close_now()
    assert after.epoch != first.epoch and not after.complete
    assert [p.seq for p in after.points["A"]] == [7, 8]


def test_corrupt_file_is_a_clear_error(tmp_path):
    """A file that is not a database gives HistoryStoreError naming it and saying so."""
    path = tmp_path / "h.db"
    path.write_bytes(b"definitely not sqlite " * 500)
    with pytest.raises(HistoryStoreError, match=r"h\.db .*not a database.*corrupt"):
        open_history_store(path, keep=10)


def test_unusable_paths_are_a_clear_error(tmp_path):
    """A folder, or a file in a folder that does not exist, gives HistoryStoreError
    naming the path and the reason."""
    with pytest.raises(HistoryStoreError, match=f"{tmp_path} cannot be opened: unable to open"):
        open_history_store(tmp_path, keep=10)
    missing = tmp_path / "no" / "h.db"
    with pytest.raises(HistoryStoreError, match="cannot be created: No such file or directory"):
        open_history_store(missing, keep=10)


def test_damaged_rows_are_a_clear_error(tmp_path):
    """A stored point that is not valid JSON gives HistoryStoreError, not a traceback."""
    path = tmp_path / "h.db"
    store, _ = open_history_store(path, keep=10)
    store.write(points("A", range(1, 3)))
    store.close_now()
    sql(path, "UPDATE points SET point = '{broken' WHERE seq = 2")
    with pytest.raises(HistoryStoreError, match="stored point of 'A' is not valid"):
        open_history_store(path, keep=10)


def test_sqlite_file_of_something_else_is_refused(tmp_path):
    """Pointing at another program's SQLite file is refused, and the file is untouched."""
    path = tmp_path / "other.db"
    sql(path, "CREATE TABLE invoices (id INTEGER)")
    with pytest.raises(HistoryStoreError, match="something else.*invoices"):
        open_history_store(path, keep=10)
    assert sql(path, "SELECT name FROM sqlite_master") == [("invoices",)]


def test_a_second_dashboard_on_the_same_file_is_refused(tmp_path):
    """The file is locked for as long as a store has it open."""
    path = tmp_path / "h.db"
    store, _ = open_history_store(path, keep=10)
    try:
        with pytest.raises(HistoryStoreError, match="locked.*another dashboard"):
            SqliteHistoryStore(path, keep=10, lock_timeout=0)
    finally:
        store.close_now()
    open_history_store(path, keep=10)[0].close_now()  # free again once closed


def test_file_is_private_and_in_wal_mode(tmp_path):
    """A new file is readable by its owner only and uses WAL; closing removes the WAL."""
    path = tmp_path / "h.db"
    store, _ = open_history_store(path, keep=10)
    store.write(points("A", range(1, 3)))
    assert path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "h.db-wal").stat().st_mode & 0o777 == 0o600
    store.close_now()
    assert not (tmp_path / "h.db-wal").exists()
    assert sql(path, "PRAGMA journal_mode") == [("wal",)]


def test_gapless_tail_cuts_at_the_newest_gap():
    """Only consecutive seqs are restored (resume arithmetic needs them)."""
    held = points("A", range(1, 5)) + points("A", range(8, 11))
    assert [p.seq for p in _gapless_tail(held, keep=100)] == [8, 9, 10]
    assert [p.seq for p in _gapless_tail(held, keep=2)] == [9, 10]


async def test_backplane_numbers_on_under_the_stored_epoch():
    """Restored from a kept history, the in-memory backplane continues its
    epoch and each feed's seqs; publish says where each point landed."""
    backplane = MemoryBackplane()
    backplane.restore(StoredHistory("abc123", {"A": points("A", range(40, 42))}))
    assert backplane.epoch == "abc123"
    assert await backplane.publish("A", {"price": 1.0}) == Position(42, "abc123")
    assert await backplane.publish("B", {"price": 1.0}) == Position(1, "abc123")
    stream = backplane.points()
    first = [await anext(stream), await anext(stream)]
    assert [(p.feed, p.seq, p.gap) for p in first] == [("A", 42, False), ("B", 1, False)]
    assert MemoryBackplane().epoch != MemoryBackplane().epoch


async def test_backplane_restored_after_publishing_refuses():
    """Numbers already handed out would be handed out again: restore comes first."""
    backplane = MemoryBackplane()
    await backplane.publish("A", {"price": 1.0})
    with pytest.raises(BackplaneError, match="before the first publish"):
        backplane.restore(StoredHistory("abc123", {"A": points("A", range(1, 3))}))


def test_hub_restores_points_when_their_feed_is_added():
    """A feed added again gets its stored points; one whose series changed starts
    empty; stored points of feeds never added are not shown."""
    hub = Hub(MemoryBackplane(), HubSettings(flush_interval=3600))
    hub.restore(
        {
            "A": points("A", range(5, 9)),
            "B": points("B", range(1, 3)),
            "GONE": points("GONE", range(1, 3)),
        }
    )
    hub.add_feed(FeedInfo("A", series=(Series("price"), Series("volume"))))
    hub.add_feed(FeedInfo("B", series=(Series("temperature"),)))
    assert [p.seq for p in hub.histories["A"].recent()] == [5, 6, 7, 8]
    assert len(hub.histories["B"]) == 0
    assert "GONE" not in hub.histories


@pytest.mark.parametrize("clean", [True, False])
async def test_a_passed_in_backplane_continues_the_history_file(tmp_path, clean):
    """history_db works with any backplane: one passed to assemble() numbers on
    under the kept epoch from each feed's last kept seq, the hub shows the kept
    points, and after an unclean stop the first new point is drawn after a break."""
    path = tmp_path / "h.db"
    store, first = open_history_store(path, keep=100)
    store.write(points("A", range(1, 6)))
    if clean:
        store.close_now()
    else:
        store._db.close()  # as if killed: the file is never marked clean
        store._db = None

    @feed("A", series=["price", "volume"])
    async def quiet():
        yield {"price": 1.0, "volume": 1}

    backplane = MemoryBackplane()
    core = assemble(DashboardConfig(history_db=path), sources=[quiet.create()], backplane=backplane)
    try:
        assert core.hub.backplane is backplane
        epoch = backplane.epoch
        assert (epoch == first.epoch) is clean
        assert [p.seq for p in core.hub.histories["A"].recent()] == [1, 2, 3, 4, 5]
        assert await backplane.publish("A", {"price": 6.25, "volume": 6}) == Position(6, epoch)
        assert (await anext(backplane.points())).gap is not clean
    finally:
        core.store.close_now()


def test_a_backplane_that_cannot_continue_the_file_leaves_it_unlocked(tmp_path):
    """A backplane refusing the kept numbering stops the start with its
    message, and the history file is released for the next try."""

    class Running(MemoryBackplane):
        def restore(self, kept):
            raise BackplaneError(f"already numbering under another epoch, not {kept.epoch}")

    path = tmp_path / "h.db"
    store, _ = open_history_store(path, keep=10)
    store.write(points("A", range(1, 3)))
    store.close_now()
    with pytest.raises(BackplaneError, match="another epoch"):
        assemble(DashboardConfig(history_db=path), sources=[], backplane=Running())
    store, again = open_history_store(path, keep=10)  # not "in use"
    store.close_now()
    assert [p.seq for p in again.points["A"]] == [1, 2]
