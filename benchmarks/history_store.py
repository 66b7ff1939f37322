"""What persisting the history (--history-db) costs, on the event loop and off it.

    python benchmarks/history_store.py [--feeds 8] [--rate 10] [--flush-interval 0.05]
                                       [--keep 3000] [--flushes 2000] [--duration 10]
                                       [--dir DIR]

The hub hands each flush's points (``feeds * rate * flush_interval`` of them)
to ``SqliteHistoryStore.append``, which only queues them; a writer thread
commits what is queued once per ``WRITE_INTERVAL``. On a real file, filled
first to ``--keep`` points per feed (steady state: every write also pays its
share of the trimming), this measures:

1. ``write()`` of one flush's points: what a transaction per flush would
   block the loop for (the design this replaced);
2. ``write()`` of one WRITE_INTERVAL's points: what the writer thread does;
3. the loop side, live for ``--duration`` s at the real flush pace with the
   writer running: the ``append()`` call, and how late the loop wakes for
   each flush compared with the same run without a store (GIL contention);
4. start-up: opening, checking and loading the full file.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from dashboard.protocol import Point
from dashboard.store import WRITE_INTERVAL, SqliteHistoryStore, open_history_store


class Points:
    """Ticker-like points, round robin over the feeds, seqs counting up."""

    def __init__(self, feeds: int) -> None:
        self.feeds = [f"F{i:03d}" for i in range(feeds)]
        self.seqs = dict.fromkeys(self.feeds, 0)
        self.turn = 0

    def make(self, count: int) -> list[Point]:
        now = time.time_ns() // 1_000_000
        points = []
        for _ in range(count):
            feed = self.feeds[self.turn % len(self.feeds)]
            self.turn += 1
            self.seqs[feed] += 1
            seq = self.seqs[feed]
            points.append(Point(feed, seq, now, {"price": 100 + seq * 0.01, "volume": 300}))
        return points


def summary(label: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    p99 = ms[max(0, int(len(ms) * 0.99) - 1)]
    return (
        f"{label:<38} median {statistics.median(ms):7.3f}  mean {statistics.mean(ms):7.3f}  "
        f"p99 {p99:7.3f}  max {ms[-1]:7.3f} ms  (n={len(ms)})"
    )


def timed_writes(store: SqliteHistoryStore, source: Points, size: int, count: int) -> list[float]:
    timings = []
    for _ in range(count):
        points = source.make(size)
        for point in points:
            point.wire  # noqa: B018 - made by the hub's batch already, not the store's cost
        start = time.perf_counter()
        store.write(points)
        timings.append(time.perf_counter() - start)
    return timings


async def paced(
    store: SqliteHistoryStore | None, source: Points, size: int, interval: float, duration: float
) -> tuple[list[float], list[float]]:
    """Flush-paced appends for *duration* s, then close: (append times, wake-up lateness)."""
    loop = asyncio.get_running_loop()
    appends: list[float] = []
    late: list[float] = []
    if store is not None:
        store.start()
    due = loop.time() + interval
    end = loop.time() + duration
    while loop.time() < end:
        await asyncio.sleep(due - loop.time())
        late.append(loop.time() - due)
        points = source.make(size)
        for point in points:
            point.wire  # noqa: B018 - as the hub's batch encoding does
        if store is not None:
            start = time.perf_counter()
            store.append(points)
            appends.append(time.perf_counter() - start)
        due += interval
    if store is not None:
        await store.close()
    return appends, late


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=8)
    parser.add_argument("--rate", type=float, default=10.0, help="points/s per feed")
    parser.add_argument("--flush-interval", type=float, default=0.05)
    parser.add_argument("--keep", type=int, default=3000, help="history_size")
    parser.add_argument("--flushes", type=int, default=2000, help="for the write() timings")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per live phase")
    parser.add_argument("--dir", type=Path, default=None, help="where the file goes")
    args = parser.parse_args()

    per_flush = max(1, round(args.feeds * args.rate * args.flush_interval))
    per_write = max(1, round(args.feeds * args.rate * WRITE_INTERVAL))
    print(
        f"{args.feeds} feeds x {args.rate:g}/s, flush every {args.flush_interval * 1000:g} ms: "
        f"{per_flush} points per flush, {per_write} per write ({WRITE_INTERVAL:g} s); "
        f"keep {args.keep} per feed"
    )
    source = Points(args.feeds)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / "history.db"
        store, _ = open_history_store(path, args.keep)
        for _ in range(args.keep * args.feeds // 1000 + 1):
            store.write(source.make(1000))
        per_flush_writes = timed_writes(store, source, per_flush, args.flushes)
        writes = max(20, args.flushes * per_flush // per_write)
        interval_writes = timed_writes(store, source, per_write, writes)
        store.close_now()
        size = path.stat().st_size

        start = time.perf_counter()
        store, stored = open_history_store(path, args.keep)
        load = time.perf_counter() - start
        _, late_without = asyncio.run(
            paced(None, source, per_flush, args.flush_interval, args.duration)
        )
        appends, late_with = asyncio.run(
            paced(store, source, per_flush, args.flush_interval, args.duration)
        )

    print(summary("write(): one flush (on-loop design)", per_flush_writes))
    print(summary(f"write(): one interval ({per_write} points)", interval_writes))
    flush_share = statistics.mean(interval_writes) * args.flush_interval / WRITE_INTERVAL
    print(f"{'  writer thread, mean per flush':<38} {flush_share * 1000:.3f} ms")
    print(summary("loop: append() per flush", appends))
    print(summary("loop: wake-up lateness, no store", late_without))
    print(summary("loop: wake-up lateness, store writing", late_with))
    held = sum(len(p) for p in stored.points.values())
    print(f"start: open + quick_check + load {held} points: {load * 1000:.0f} ms")
    print(f"file: {size / 1e6:.1f} MB ({size / max(1, held):.0f} bytes per point held)")


if __name__ == "__main__":
    main()
