"""The history store on a disk that fills and frees again, with SQLite's own
"database or disk is full" (``PRAGMA max_page_count``), and the pure backoff."""

from dashboard.backplane import MemoryBackplane
from dashboard.history_writer import WriteRetry, retry_delay
from dashboard.store import SqliteHistoryStore, open_history_store
from tests.support.hubs import points
from tests.support.waiting import wait_until


def fill_disk(store: SqliteHistoryStore) -> None:
    """Let the file grow no further: SQLite itself then answers SQLITE_FULL."""
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages}")


def free_disk(store: SqliteHistoryStore) -> None:
    store._db.execute("PRAGMA max_page_count = 1073741823")


def test_retry_delay_doubles_up_to_its_cap():
    assert [retry_delay(n, 0.5, 4.0) for n in range(1, 7)] == [0.5, 1, 2, 4, 4, 4]


def test_write_retry_says_when_to_try_again_by_the_clock_it_is_given():
    retry = WriteRetry(initial=1.0, maximum=8.0)
    assert not retry.failing and retry.wait(100.0) == 0
    retry.failed("database or disk is full", now=100.0)
    assert retry.failing and retry.reason == "database or disk is full"
    assert retry.wait(100.0) == 1.0 and retry.wait(100.25) == 0.75 and retry.wait(101.5) == 0
    for now in (101.0, 103.0, 107.0, 115.0):
        retry.failed("still full", now)
    assert retry.wait(115.0) == 8.0  # capped, however long it fails
    retry.succeeded()
    assert not retry.failing and retry.reason is None and retry.wait(115.0) == 0


async def test_a_full_disk_keeps_points_in_order_and_writes_them_when_space_returns(tmp_path):
    """Points that cannot be written stay queued; the store says it is failing
    and why; once space returns they are written in order with no hole, the
    store is healthy again, and the file is closed cleanly (same epoch)."""
    path = tmp_path / "h.db"
    store = SqliteHistoryStore(path, keep=10_000, write_interval=0.01, retry_initial=0.01)
    first = store.load()
    store.start()
    store.append(points("A", range(1, 11)))
    await wait_until(lambda: store.queued == 0, what="the first write")
    fill_disk(store)
    for start in range(11, 1011, 100):
        store.append(points("A", range(start, start + 100)))
    await wait_until(lambda: store.failing is not None, what="the store to fail")
    assert "database or disk is full" in store.failing
    assert store.queued == 1000 and store.lost == 0
    free_disk(store)
    await wait_until(lambda: store.failing is None, what="writes to resume")
    await wait_until(lambda: store.queued == 0, what="the queue to be written")
    await store.close()
    store, again = open_history_store(path, keep=10_000)
    store.close_now()
    assert again.epoch == first.epoch and again.complete
    assert [p.seq for p in again.points["A"]] == list(range(1, 1011))


async def test_past_the_memory_bound_points_are_lost_and_a_restart_never_bridges_the_hole(
    tmp_path, caplog
):
    """More points than max_queued waiting: they are dropped (memory bounded)
    and counted; saving resumes when space returns, but the file is left
    unclean: the next start takes a new epoch, restores only the points after
    the hole, and breaks each restored feed's line before its first new point."""
    path = tmp_path / "h.db"
    store = SqliteHistoryStore(
        path, keep=10_000, write_interval=0.01, retry_initial=0.01, max_queued=250
    )
    first = store.load()
    store.start()
    store.append(points("A", range(1, 11)))
    await wait_until(lambda: store.queued == 0, what="the first write")
    fill_disk(store)
    for start in range(11, 411, 100):
        store.append(points("A", range(start, start + 100)))
    await wait_until(lambda: store.lost > 0, what="the queue to overflow")
    assert "not kept" in caplog.text
    free_disk(store)
    store.append(points("A", range(411, 421)))
    await wait_until(lambda: store.failing is None and store.queued == 0, what="writes again")
    await store.close()
    store, again = open_history_store(path, keep=10_000)
    store.close_now()
    assert again.epoch != first.epoch and not again.complete
    seqs = [p.seq for p in again.points["A"]]
    assert seqs[-1] == 420 and seqs == list(range(seqs[0], 421)) and seqs[0] > 11
    # The restarted run numbers on, its first point drawn after a break.
    backplane = MemoryBackplane()
    backplane.restore(again)
    await backplane.publish("A", {"price": 1.0})
    await backplane.publish("A", {"price": 2.0})
    stream = backplane.points()
    new = [await anext(stream), await anext(stream)]
    assert [(p.seq, p.gap) for p in new] == [(421, True), (422, False)]


async def test_a_disk_still_full_at_the_stop_leaves_the_file_unclean(tmp_path):
    """close() makes one last try; when it fails too the file is not marked
    clean and the stop still ends."""
    path = tmp_path / "h.db"
    store = SqliteHistoryStore(path, keep=1000, write_interval=0.01, retry_initial=30)
    first = store.load()
    store.start()
    store.append(points("A", range(1, 6)))
    await wait_until(lambda: store.queued == 0, what="the first write")
    fill_disk(store)
    store.append(points("A", range(6, 400)))
    await wait_until(lambda: store.failing is not None, what="the store to fail")
    await store.close()  # does not wait out the 30 s retry delay
    store, again = open_history_store(path, keep=1000)
    store.close_now()
    assert again.epoch != first.epoch and not again.complete
    assert [p.seq for p in again.points["A"]] == [1, 2, 3, 4, 5]
