"""Run feed sources as supervised, owned tasks publishing into the hub.

Each source runs in its own task: set-up, stream, teardown. A source that
raises is logged with its traceback and restarted after an exponential
backoff; the hub and the other feeds go on untouched. One raising
``FeedFailed`` ends as failed, not restarted. A source yielding faster than
its ``max_rate`` has the excess dropped and counted; ``Skipped`` inputs are
counted too, and a ``BREAK`` marks its next point as starting a new stretch.

Before each run (the first and every restart) a source is offered its last kept
point (``resume_from``): else the run's first point is drawn after a break.

With a shared backplane a feed runs only while this instance holds its lease
(dashboard/leases.py), else shows "standby"; a lost lease cancels the run. A
run taken over continues from the newest point the hub holds (the backplane
filled it from the other instance). While the backplane is down a feed goes
on, "paused", its points held and then published in order (feed_pause.py);
over a remote one points are queued and sent in batches, never awaited.

A source that hangs (awaits forever, or sleeps far past its rate) only holds
its own task; a watchdog marks it "stalled" until points flow again; one that
blocks the loop itself (no await) cannot be contained. A point holding series
the source's ``info`` declares only now (it finds them as it goes) declares them.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from dashboard.announce import grown
from dashboard.backplane import BackplaneDown
from dashboard.feed_pause import PAUSE_BUFFER, FeedPause, Held
from dashboard.hub_runner import HubRunner
from dashboard.leases import Leases, LocalLeases, run_while_held
from dashboard.limits import TokenBucket
from dashboard.logs import log_event
from dashboard.metrics import Metrics
from dashboard.points import PointError, now_ms, split_ts
from dashboard.stalls import StallWatch, stall_after_of
from feeds.base import Break, FeedFailed, FeedSource, KeptPoint, Skipped

log = logging.getLogger(__name__)

#: Seconds between status updates about a feed's dropped and skipped inputs.
DROP_REPORT_INTERVAL = 0.2
#: Characters of a skip's reason shown in the status.
MAX_REASON = 200


@dataclass
class ProducerStatus:
    # idle, running, stalled, restarting, stopped, failed; with a shared
    # backplane also standby (run by another instance) and paused (backplane down)
    state: str = "idle"
    error: str = ""
    restarts: int = 0
    published: int = 0
    dropped: int = 0
    #: Inputs the feed read but left out (it yielded ``Skipped``), and why the
    #: latest one was.
    skipped: int = 0
    skipped_reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_wire(self) -> dict[str, Any]:
        """What viewers are told (``published`` changes on every point: not sent)."""
        return {k: v for k, v in asdict(self).items() if k != "published"}


@dataclass(frozen=True)
class Backoff:
    initial: float = 0.5
    maximum: float = 30.0
    max_restarts: int = 0  # failures in a row before giving up; 0: never

    def delay(self, failures: int) -> float:
        """Seconds before restart number *failures* (1-based), with +-10 % jitter
        so feeds failing together do not retry in lockstep."""
        base: float = min(self.maximum, self.initial * 2.0 ** (failures - 1))
        return base * random.uniform(0.9, 1.1)


def max_rate_bucket(
    max_rate: float | None, clock: Callable[[], float] = time.monotonic
) -> TokenBucket | None:
    """A feed's ``max_rate`` as a token bucket: bursts up to one second's
    worth (at least one point); None: no limit."""
    return TokenBucket(max_rate, max(1.0, max_rate), clock) if max_rate else None


class Producers:
    def __init__(
        self,
        runner: HubRunner,
        sources: Iterable[FeedSource],
        backoff: Backoff | None = None,
        metrics: Metrics | None = None,
        leases: Leases | None = None,
        pause_buffer: int = PAUSE_BUFFER,
    ):
        self.runner = runner
        self.hub = hub = runner.hub
        self.sources = list(sources)
        self.backoff = backoff or Backoff()
        self.metrics = metrics if metrics is not None else hub.metrics
        #: Which feeds this instance runs (all of them, unless shared).
        self.leases: Leases = leases or LocalLeases()
        self.pause_buffer = pause_buffer
        self.status: dict[str, ProducerStatus] = {}
        #: Each feed's stall threshold in seconds (None: never marked stalled).
        self.stall_after: dict[str, float | None] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._watches: dict[str, StallWatch] = {}  # feeds in a run, with a threshold
        self._pauses: dict[str, FeedPause] = {}  # feeds in a run: their points held
        self._watchdog: asyncio.Task[None] | None = None
        #: Each feed's last point published by this process, for its next run.
        self._kept: dict[str, KeptPoint] = {}
        # Throttled status reports (drops, skips): when each feed's last one
        # went out (loop clock), and the one scheduled, if any.
        self._reported_at: dict[str, float] = {}
        self._reports: dict[str, asyncio.TimerHandle] = {}
        for source in self.sources:
            hub.add_feed(source.info)
            self.status[source.info.name] = ProducerStatus()
            self.stall_after[source.info.name] = stall_after_of(source.info)

    def start(self) -> None:
        for source in self.sources:
            name = source.info.name
            run = self._own(source) if self.leases.shared else self._supervise(source)
            self._tasks[name] = asyncio.create_task(run, name=f"feed-{name}")
        thresholds = [t for t in self.stall_after.values() if t is not None]
        if thresholds:
            # A quarter of the shortest threshold: a stall shows within 25 %
            # of it; at most a second, so recovery shows promptly too.
            tick = min(1.0, max(0.01, min(thresholds) / 4))
            self._watchdog = asyncio.create_task(
                self._watch_stalls(tick), name="feed-stall-watchdog"
            )

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        if self._watchdog is not None:
            tasks.append(self._watchdog)
            self._watchdog = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        for handle in self._reports.values():
            handle.cancel()  # the stop just sent every feed's whole status
        self._reports.clear()

    async def _watch_stalls(self, tick: float) -> None:
        """Mark feeds stalled, and running again, as their progress says. Its own
        task: a hung feed holds only its own (one blocking the loop stops this too)."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(tick)  # a sampling period, not a wait for a condition
            now = loop.time()
            for name, watch in self._watches.items():
                if watch.observe(self._progress(name), now):
                    self._set(name, state="stalled" if watch.stalled else "running")

    def _progress(self, name: str) -> int:
        """Points the feed yielded: published, dropped, or held while paused."""
        status, pause = self.status[name], self._pauses.get(name)
        return status.published + status.dropped + (pause.held if pause is not None else 0)

    def _set(self, name: str, **changes: Any) -> None:
        status = self.status[name]
        for key, value in changes.items():
            setattr(status, key, value)
        self.hub.set_status(name, status.to_wire())

    def _report_soon(self, name: str) -> None:
        """Tell viewers about a feed's changed counts at most once per
        DROP_REPORT_INTERVAL: at once if the last report is that old, else when it
        will be. Drops and skips are the hot path of a runaway or a bad file; the
        last count always gets out, even if the feed goes quiet."""
        if name in self._reports:
            return  # one is on its way and will carry this change
        loop = asyncio.get_running_loop()
        wait = self._reported_at.get(name, -math.inf) + DROP_REPORT_INTERVAL - loop.time()
        if wait <= 0:
            self._report(name)
        else:
            self._reports[name] = loop.call_later(wait, self._report, name)

    def _report(self, name: str) -> None:
        self._reports.pop(name, None)
        self._reported_at[name] = asyncio.get_running_loop().time()
        self.hub.set_status(name, self.status[name].to_wire())

    async def _supervise(self, source: FeedSource) -> None:
        name = source.info.name
        failures = 0
        try:
            while True:
                started = time.monotonic()
                try:
                    await self._run_once(source)
                    self._set(name, state="stopped", error="")
                    return
                except FeedFailed as exc:
                    # The feed says going on is pointless: its message is the
                    # whole story (no traceback), and it is not restarted.
                    error = str(exc) or type(exc).__name__
                    log_event(log, logging.ERROR, "feed_failed", feed=name, error=error)
                    self._set(name, state="failed", error=error)
                    return
                except Exception as exc:
                    # A long healthy run forgives earlier failures.
                    if time.monotonic() - started > self.backoff.maximum:
                        failures = 0
                    failures += 1
                    if await self._crashed(name, exc, failures):
                        return
        except asyncio.CancelledError:
            self._set(name, state="stopped")
            raise

    async def _own(self, source: FeedSource) -> None:
        """Run *source* while this instance holds its lease (dashboard/leases.py)."""
        name = source.info.name

        def standby() -> None:
            if self.status[name].state != "standby":
                self._set(name, state="standby")

        def start() -> asyncio.Task[None]:
            return asyncio.create_task(self._supervise(source), name=f"feed-{name}-run")

        def paused() -> bool:  # nothing can be published: no hurry to give the run up
            return not self.hub.backplane.up

        await run_while_held(self.leases, name, start, standby, paused)

    async def _crashed(self, name: str, exc: Exception, failures: int) -> bool:
        """Log and show a crash, then wait out the backoff; True: given up."""
        bad_point = isinstance(exc, PointError)
        error = f"bad point: {exc}" if bad_point else f"{type(exc).__name__}: {exc}"
        gave_up = 0 < self.backoff.max_restarts < failures
        event = "feed_failed" if gave_up else "feed_crashed"
        fields = {"feed": name, "error": error, "failures": failures}
        # The traceback goes with the event: it is what one debugs a feed with.
        # A bad point's would only show the dashboard's checks; its message
        # names the series and the value.
        log_event(log, logging.ERROR, event, exc_info=not bad_point, **fields)
        if gave_up:
            self._set(name, state="failed", error=error)
            return True
        delay = self.backoff.delay(failures)
        restarts = self.status[name].restarts + 1
        self._set(name, state="restarting", error=error, restarts=restarts)
        self.metrics.feed_restarts.labels(feed=name).inc()
        await asyncio.sleep(delay)  # the backoff itself
        log_event(log, logging.INFO, "feed_restarted", feed=name, restarts=restarts)
        return False

    def last_kept(self, name: str) -> KeptPoint | None:
        """The feed's last point: the last it published in this process, or
        the newest its history holds when that is newer (restored from a
        history file, or published by another instance that ran the feed)."""
        kept = self._kept.get(name)
        history = self.hub.histories.get(name)
        point = history.last if history is not None else None
        if point is None or (kept is not None and kept.ts >= point.ts):
            return kept
        return KeptPoint(point.ts, dict(point.values))

    def _resumes(self, source: FeedSource) -> bool:
        """Offer the feed its last kept point; True when it continues from it
        (or there is none), False when its first point must show a break."""
        kept = self.last_kept(source.info.name)
        if kept is None:
            return True
        resume_from = getattr(source, "resume_from", None)
        return resume_from is not None and resume_from(kept) is True

    async def _run_once(self, source: FeedSource) -> None:
        name = source.info.name
        setup = getattr(source, "setup", None)
        teardown = getattr(source, "teardown", None)
        stall_after = self.stall_after.get(name)
        if stall_after is not None:
            # Armed before setup: a setup that hangs is a stall too.
            now = asyncio.get_running_loop().time()
            self._watches[name] = StallWatch(stall_after, now, self._progress(name))
        try:
            gap = not self._resumes(source)
            if setup is not None:
                await setup()
        except BaseException:
            self._watches.pop(name, None)
            raise
        try:
            self._set(name, state="running")
            await self._stream(source, gap)
        finally:
            self._watches.pop(name, None)
            if teardown is not None:
                try:
                    await teardown()
                except Exception:
                    log.exception("feed %s: teardown failed", name)

    async def _stream(self, source: FeedSource, gap: bool) -> None:
        """Publish what the feed yields; *gap*: its first point starts a new stretch."""
        name = source.info.name
        limit = max_rate_bucket(source.info.max_rate)
        status = self.status[name]
        # The last point published, for the next run (a list: the pause's drain sets it too).
        last: list[Any] = []
        pause = self._pause_for(name, last)
        held = self.leases.held
        remote = self.hub.backplane.remote  # publish waits a round trip: queue
        try:
            async for item in source.stream():
                if isinstance(item, Break | Skipped):
                    if isinstance(item, Break):
                        gap = True  # carried by the next point published
                    else:
                        status.skipped += 1
                        status.skipped_reason = str(item.reason)[:MAX_REASON]
                        self._report_soon(name)
                    continue
                if limit is not None and not limit.allow():
                    status.dropped += 1
                    self._report_soon(name)
                    continue
                now = now_ms()  # stamped here, not by the backplane: kept below
                values, ts = split_ts(item, now)
                if info := grown(self.hub.feeds[name], source.info, values):
                    self.hub.grow_feed(info)
                ts = now if ts is None else ts
                if remote and not pause.refused and held(name):
                    pause.send(self.hub.check(name, values), ts, gap)
                elif pause.active or not held(name):  # behind held points; the lease unsure
                    pause.hold(self.hub.check(name, values), ts, gap)
                    if status.state != "paused":
                        self._set(name, state="paused")
                else:
                    try:
                        await self.runner.publish(name, values, ts, gap=gap)
                        status.published += 1
                        last[:] = values, ts
                    except BackplaneDown as exc:
                        pause.hold(self.hub.check(name, values), ts, gap, exc.retry_after)
                        self._set(name, state="paused")
                        log_event(log, logging.WARNING, "feed_paused", feed=name, error=exc)
                gap = False
        finally:
            self._pauses.pop(name, None)
            if lost := await pause.close():
                self._dropped(name, lost)
            if last:
                self._kept[name] = KeptPoint(last[1], dict(last[0]))

    def _pause_for(self, name: str, last: list[Any]) -> FeedPause:
        """The buffer that holds *name*'s points while the backplane is down."""
        status = self.status[name]

        async def publish(batch: Sequence[Held]) -> None:
            points = [(held.values, held.ts) for held in batch]  # checked when held
            await self.hub.backplane.publish_many(name, points, batch[0].gap)

        def published(point: Held) -> None:
            status.published += 1
            last[:] = point.values, point.ts

        def resumed() -> None:
            log_event(log, logging.INFO, "feed_resumed", feed=name)
            self._set(name, state="running")

        pause = FeedPause(
            publish,
            lambda: self.hub.backplane.up and self.leases.held(name),
            published,
            lambda count: self._dropped(name, count),
            resumed,
            size=self.pause_buffer,
        )
        self._pauses[name] = pause
        return pause

    def _dropped(self, name: str, count: int) -> None:
        """Count points lost while the backplane was down."""
        self.status[name].dropped += count
        self.metrics.feed_paused_drops.labels(feed=name).inc(count)
        self._report_soon(name)
