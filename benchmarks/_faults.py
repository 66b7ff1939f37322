"""The fault scenarios of benchmarks/scaleout.py: a lease holder SIGKILLed,
Redis stopped and started mid-run.

**Failover** (``--failover K``): a fresh redis-server, two instances running
one ticker feed ``S0`` at ``--rate`` (no seed: a new random start would show
as a jump); the instance whose ``/api/feeds`` says ``running`` holds the
lease. A viewer on the other instance; once it has live points the holder is
SIGKILLed at ``tk``. Measured, per kill:

- ``takeover_s``: from ``tk`` until the viewer receives the first point
  stamped (``ts``) after ``tk``: the first point the new holder made;
- ``hole_s``: that point's ``ts`` minus the last one's before it (what the
  chart shows as the pause; the feed's interval is 1/rate);
- ``gaps``: seqs missing from the viewer's sequence, ``gap_marks``: points
  after ``tk`` marked ``gap`` (both 0 when the series goes on);
- ``price_jump``: |first price after / last price before - 1| over the median
  of that ratio between consecutive points before (about 1: the price went on
  from its last value; a new random start is tens or hundreds).

The killed instance is then started again (it becomes the standby) and the
next kill takes the other one. A takeover not seen within ``TAKEOVER_LIMIT``
seconds is counted as failed (``takeover_s`` infinite).

**Redis restart** (``--restart K``): a fresh redis-server with ``appendonly
yes`` and ``appendfsync always`` (an acknowledged write is on disk), two
instances with the ticker ``S0`` and push ingest on, a viewer on each. A
writer posts one point per request to feed ``push`` (value ``n`` = a counter),
alternating between the instances every ``WRITE_EVERY`` s, and keeps each
``n`` answered 200: the acknowledged points. After ``--steady`` s Redis is
stopped (``--restart-signal``: SIGTERM, or SIGKILL), kept down ``--down`` s,
started again on the same port and folder. Measured, per restart:

- ``acknowledged``, ``refused_503`` (while down), ``other_errors``;
- ``lost``: acknowledged points a viewer never received (worst viewer), and
  those missing from ``/api/feeds/push/history`` of each instance;
- ``duplicates`` and ``gaps`` in every feed's seqs as the viewers saw them;
- ``epoch_changes``: a new epoch means Redis lost its data;
- ``recovery_s``: from Redis's start until both viewers get a ticker point
  stamped after it; ``producer_dropped``: what the ticker dropped while paused;
- ``viewers_closed``: viewers whose connection ended (they should stay).
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import tempfile
import threading
import time
import urllib.error
import urllib.request

from _instances import (
    Instance,
    dashboard_command,
    feeds_of,
    get_json,
    holders,
    start_instance,
    start_instances,
    wait_until_producing,
)
from _measure import stop
from _redis import RedisProcess
from _viewer import Viewer, gaps_and_duplicates

TAKEOVER_LIMIT = 10.0
STEADY = 2.0
WRITE_EVERY = 0.02
TOKEN = "bench-ingest-token"


def the_holder(instances: list[Instance], feed: str, timeout: float = 10.0) -> int:
    """Index of the one instance running *feed*, once exactly one does."""
    deadline = time.monotonic() + timeout
    while True:
        running = [i for i, inst in enumerate(instances) if feed in holders(inst)]
        if len(running) == 1:
            return running[0]
        if time.monotonic() > deadline:
            raise SystemExit(f"{feed} runs on {len(running)} instances, not exactly one")
        time.sleep(0.1)  # polling the API until one instance holds the lease


def one_failover(instances: list[Instance], cmd: list[str], logs) -> dict:
    holder = the_holder(instances, "S0")
    other = 1 - holder
    viewer = Viewer(instances[other].ws_url).start()
    try:
        started = time.time()
        if viewer.wait_for("S0", lambda p: p.received > started + 0.5, 10) is None:
            raise SystemExit("the viewer of the standby instance got no live point in 10 s")
        killed = time.time()
        os.kill(instances[holder].process.pid, signal.SIGKILL)
        instances[holder].process.wait(timeout=10)
        first = viewer.wait_for("S0", lambda p: p.ts >= killed * 1000, TAKEOVER_LIMIT)
        if first is not None:
            time.sleep(0.5)  # a few points after the takeover, for the gap count
    finally:
        viewer.stop()
    points = viewer.of("S0")
    before = [p for p in points if p.ts < killed * 1000]
    after = [p for p in points if p.ts >= killed * 1000]
    gaps, dups = gaps_and_duplicates(points)
    figures = {
        "takeover_s": first.received - killed if first else float("inf"),
        "hole_s": (first.ts - before[-1].ts) / 1000 if first and before else float("nan"),
        "gaps": gaps,
        "duplicates": dups,
        "gap_marks": sum(p.gap for p in after),
        "price_jump": price_jump(before, after),
    }
    instances[holder] = start_instance(cmd, logs)
    return figures


def price_jump(before: list, after: list) -> float:
    prices = [p.values.get("price") for p in before if p.values.get("price")]
    if len(prices) < 3 or not after or not after[0].values.get("price"):
        return float("nan")
    steps = [abs(b / a - 1) for a, b in zip(prices, prices[1:], strict=False)]
    typical = statistics.median(steps) or 1e-9
    return abs(after[0].values["price"] / prices[-1] - 1) / typical


def failover_runs(kills: int, rate: float) -> list[dict]:
    redis = RedisProcess("everysec")
    redis.start()
    logs = tempfile.TemporaryFile(mode="w+")
    cmd = dashboard_command("S0", rate, backplane=redis.url, seed=False)
    instances: list[Instance] = []
    try:
        instances = start_instances(2, cmd, logs)
        wait_until_producing(instances, ["S0"], 30)
        return [one_failover(instances, cmd, logs) for _ in range(kills)]
    except BaseException:
        logs.seek(0)
        print(f"--- failover: stderr of the instances ---\n{logs.read()[-3000:]}")
        raise
    finally:
        stop([i.process for i in instances])
        redis.close()
        logs.close()


class Writer:
    """Posts one point per request to feed ``push``, alternating between instances."""

    def __init__(self, instances: list[Instance]) -> None:
        self.urls = [i.url + "/api/feeds/push/points" for i in instances]
        self.acknowledged: list[tuple[int, float]] = []  # (n, when)
        self.refused = 0
        self.errors = 0
        self.error_kinds: dict[str, int] = {}  # HTTP status or exception name -> count
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            body = json.dumps([{"values": {"n": n}}]).encode()
            request = urllib.request.Request(self.urls[n % len(self.urls)], data=body)
            request.add_header("Authorization", f"Bearer {TOKEN}")
            request.add_header("Content-Type", "application/json")
            try:
                with urllib.request.urlopen(request, timeout=3) as response:
                    if response.status == 200:
                        self.acknowledged.append((n, time.time()))
            except urllib.error.HTTPError as error:
                self.refused += error.code == 503
                self.errors += error.code != 503
                self._count(str(error.code))
            except OSError as error:
                self.errors += 1
                self._count(type(error).__name__)
            self._stop.wait(WRITE_EVERY)

    def _count(self, kind: str) -> None:
        self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1

    def start(self) -> Writer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def one_restart(
    instances: list[Instance], redis: RedisProcess, down: float, sig: int, steady: float
) -> dict:
    # Long: one scenario read top to bottom: steady, Redis away, back, drain, count.
    viewers = [Viewer(i.ws_url).start() for i in instances]
    writer = Writer(instances).start()
    try:
        time.sleep(steady)  # the steady part before the fault: points flow meanwhile
        redis.stop(sig)
        time.sleep(down)  # Redis is away for this long, on purpose
        redis.start()
        back = time.time()
        firsts = [v.wait_for("S0", lambda p: p.ts >= back * 1000, 20) for v in viewers]
        acked_after = wait_for_ack(writer, back, 20)
        time.sleep(1.0)  # a second of writes after the recovery
    finally:
        writer.stop()
    acked = {n for n, _ in writer.acknowledged}
    last = max(acked, default=0)
    drained = [v.wait_for("push", lambda p: p.values.get("n") == last, 5) for v in viewers]
    for v in viewers:
        v.stop()
    lost_viewers = [len(acked - {p.values.get("n") for p in v.of("push")}) for v in viewers]
    missing = [sorted(acked - history_ns(i)) for i in instances]
    counts = [gaps_and_duplicates(v.of(feed)) for v in viewers for feed in ("S0", "push")]
    holder = feeds_of(instances[the_holder(instances, "S0")])["feeds"]["S0"]
    return {
        "acknowledged": len(acked),
        "refused_503": writer.refused,
        "other_errors": writer.errors,
        "lost_viewers": max(lost_viewers),
        "lost_history": max(len(m) for m in missing),
        "missing_from_history": [m[:10] for m in missing],  # the first few n, per instance
        "errors_by_kind": writer.error_kinds,
        "drained": all(d is not None for d in drained),
        "gaps": sum(g for g, _ in counts),
        "duplicates": sum(d for _, d in counts),
        "epoch_changes": sum(len(set(v.epochs)) - 1 for v in viewers),
        "recovery_s": (max(f.received for f in firsts) - back if all(firsts) else float("inf")),
        "ingest_recovery_s": acked_after - back if acked_after else float("inf"),
        "producer_dropped": holder.get("dropped", 0),
        "viewers_closed": sum(v.closed is not None for v in viewers),
    }


def wait_for_ack(writer: Writer, after: float, timeout: float) -> float | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        later = [when for _, when in writer.acknowledged[-50:] if when >= after]
        if later:
            return min(later)
        time.sleep(0.02)  # polling the writer's acknowledgements, within the deadline
    return None


def history_ns(instance: Instance) -> set:
    body = get_json(instance.url + "/api/feeds/push/history?since=0")
    return {p["values"].get("n") for p in body["points"]}


def restart_runs(
    restarts: int, rate: float, down: float, how: str, steady: float = STEADY
) -> list[dict]:
    sig = signal.SIGKILL if how == "kill" else signal.SIGTERM
    results = []
    for _ in range(restarts):
        redis = RedisProcess("always")
        redis.start()
        logs = tempfile.TemporaryFile(mode="w+")
        cmd = dashboard_command("S0", rate, backplane=redis.url, seed=False)
        instances: list[Instance] = []
        try:
            extra = ("--ingest-token", TOKEN)
            instances = start_instances(2, cmd, logs, extra=extra)
            wait_until_producing(instances, ["S0"], 30)
            results.append(one_restart(instances, redis, down, sig, steady))
        except BaseException:
            logs.seek(0)
            print(f"--- restart: stderr of the instances ---\n{logs.read()[-3000:]}")
            raise
        finally:
            stop([i.process for i in instances])
            redis.close()
            logs.close()
    return results
