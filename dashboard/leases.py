"""Who runs a feed: a lease per feed, so each producer runs on one instance.

With one process (the in-memory backplane) every feed is this process's:
:class:`LocalLeases` grants everything. With a shared backplane several
instances configure the same feeds; :class:`RedisLeases` keeps one key per
feed in Redis, ``<prefix>lease:<feed>``, holding the owner's id:

- **take**: ``SET key owner NX PX ttl``, so one instance gets it;
- **renew**: every ``renew_every`` seconds, ``PEXPIRE`` only if the key still
  holds our id (a Lua script: compare and extend in one step);
- **release** on a clean stop: ``DEL`` only if it still holds our id, so the
  next instance takes the feed over at once instead of after the TTL.

An instance that is SIGKILLed stops renewing; its key expires after ``ttl``
and a waiting instance, trying every ``retry_every`` seconds, takes it over:
with the defaults (2 s, 0.5 s, 0.25 s) within ``ttl + retry_every`` = 2.25 s
of the last renewal.

The timing is decided by :class:`LeaseTerm`, pure, with the clock passed in:
a lease counts from when its request was *sent* (Redis starts the TTL when it
receives it, later), and the holder treats it as lost ``margin`` before even
that, so the holder has stopped publishing before any other instance can
take over: a producer publishes only while ``held(feed)``.

Redis gone for longer than the TTL (the backplane down too): the holder's
run is kept, paused (its points held, dashboard/feed_pause.py), and the lease
taken again when Redis answers; still ours or free, the run goes on and
publishes what it held; another instance's, the run ends. Standbys wait
twice as long as the holder between failed requests, so the holder mostly
wins that race.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from dashboard.logs import log_event

log = logging.getLogger(__name__)

#: Defaults: a SIGKILLed holder's feeds are taken over within TTL + RETRY (2.25 s).
LEASE_TTL = 2.0
LEASE_RENEW = 0.5
LEASE_RETRY = 0.25
#: Waiting after a failed Redis request (down, timed out): not hammering it.
LEASE_ERROR_WAIT = 1.0
#: Longest wait for the release on a clean stop (Redis may be down).
RELEASE_TIMEOUT = 1.0

# KEYS[1] the lease, ARGV[1] our id, ARGV[2] the TTL in ms: 1 extended, 0 not ours.
RENEW_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
# KEYS[1] the lease, ARGV[1] our id: 1 deleted, 0 not ours (expired, or taken over).
RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class LeaseError(ValueError):
    """Lease timings that cannot work; the message says which and why."""


@dataclass(frozen=True)
class LeaseTiming:
    """How long a lease lasts and how often it is renewed and tried for."""

    ttl: float = LEASE_TTL
    renew_every: float = LEASE_RENEW
    retry_every: float = LEASE_RETRY
    #: Waiting after a failed Redis request once no term is left to keep.
    error_wait: float = LEASE_ERROR_WAIT

    def __post_init__(self) -> None:
        if min(self.ttl, self.renew_every, self.retry_every, self.error_wait) <= 0:
            raise LeaseError(f"lease times must be above 0 s, not {self}")
        if self.renew_every * 2 > self.ttl:
            # Two chances to renew before the lease could lapse.
            raise LeaseError(
                f"lease renew_every ({self.renew_every:g} s) must be at most half "
                f"the ttl ({self.ttl:g} s)"
            )

    @property
    def margin(self) -> float:
        """How long before its TTL (counted from sending) a holder gives a lease up."""
        return self.ttl / 10

    @property
    def takeover_within(self) -> float:
        """Longest time after the holder's last renewal until another holds it."""
        return self.ttl + self.retry_every


class LeaseTerm:
    """One held lease's timing, pure: when to renew and until when it is ours.

    ``granted(sent_at)`` records a take or renewal that succeeded, *sent_at*
    being when its request left (the clock of the caller, monotonic).
    """

    def __init__(self, timing: LeaseTiming, sent_at: float) -> None:
        self.timing = timing
        self.sent_at = sent_at

    def granted(self, sent_at: float) -> None:
        self.sent_at = max(self.sent_at, sent_at)

    @property
    def renew_at(self) -> float:
        return self.sent_at + self.timing.renew_every

    @property
    def held_until(self) -> float:
        """After this the lease is not ours any more, whatever Redis answers later."""
        return self.sent_at + self.timing.ttl - self.timing.margin

    def held(self, now: float) -> bool:
        return now < self.held_until


class Leases(Protocol):
    """Takes, keeps and gives back per-feed leases (see the module's docstring),
    and knows the term of each it holds."""

    timing: LeaseTiming
    #: False: every lease is granted at once and never lost (one process).
    shared: bool
    #: The clock its terms are counted on (monotonic seconds).
    clock: Callable[[], float]

    def term(self, name: str) -> LeaseTerm | None:
        """The term of *name*'s lease as last granted, or None when not ours."""

    def held(self, name: str) -> bool:
        """Whether *name*'s lease is surely ours now: publish only then."""

    async def take(self, name: str) -> bool:
        """True when this instance holds *name*'s lease now (taken, or ours already)."""

    async def renew(self, name: str) -> bool:
        """Extend our lease; False when it is not ours any more."""

    async def release(self, name: str) -> None:
        """Give our lease up (nothing if it is not ours)."""


class LocalLeases:
    """Every feed is this process's: the default, with the in-memory backplane."""

    shared = False

    def __init__(self) -> None:
        self.timing = LeaseTiming()
        self.clock = time.monotonic

    def term(self, name: str) -> LeaseTerm | None:
        return None

    def held(self, name: str) -> bool:
        return True

    async def take(self, name: str) -> bool:
        return True

    async def renew(self, name: str) -> bool:
        return True

    async def release(self, name: str) -> None:
        pass


def owner_id() -> str:
    """This process's name in a lease: host, pid and a random part (a pid is reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class RedisLeases:
    """Leases in Redis through *client* (a ``redis.asyncio.Redis``), keys under *prefix*.

    Each granted take or renewal extends the lease's :class:`LeaseTerm`,
    counted from when the request was sent on *clock*; a "not ours" ends it.
    Redis errors (down, timed out) propagate from ``take`` and ``renew`` and
    leave the term as it was: it runs out by itself.
    """

    shared = True

    def __init__(
        self,
        client: Any,
        prefix: str,
        owner: str | None = None,
        timing: LeaseTiming | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.owner = owner or owner_id()
        self.timing = timing or LeaseTiming()
        self.clock = clock
        self._ttl_ms = max(1, round(self.timing.ttl * 1000))
        self._renew = client.register_script(RENEW_SCRIPT)
        self._release = client.register_script(RELEASE_SCRIPT)
        self._terms: dict[str, LeaseTerm] = {}

    def key(self, name: str) -> str:
        return f"{self.prefix}lease:{name}"

    def term(self, name: str) -> LeaseTerm | None:
        return self._terms.get(name)

    def held(self, name: str) -> bool:
        term = self._terms.get(name)
        return term is not None and term.held(self.clock())

    def _answered(self, name: str, sent_at: float, ours: bool) -> bool:
        if not ours:
            self._terms.pop(name, None)
        elif (term := self._terms.get(name)) is not None:
            term.granted(sent_at)
        else:
            self._terms[name] = LeaseTerm(self.timing, sent_at)
        return ours

    async def take(self, name: str) -> bool:
        sent_at = self.clock()
        key = self.key(name)
        if await _request(self.client.set(key, self.owner, nx=True, px=self._ttl_ms)):
            return self._answered(name, sent_at, True)
        # Ours already (we held it across a Redis outage shorter than the TTL): extend it.
        return await self.renew(name)

    async def renew(self, name: str) -> bool:
        sent_at = self.clock()
        answer = await _request(self._renew(keys=[self.key(name)], args=[self.owner, self._ttl_ms]))
        return self._answered(name, sent_at, bool(answer))

    async def release(self, name: str) -> None:
        self._terms.pop(name, None)  # not ours from now on, whatever Redis answers
        await _request(self._release(keys=[self.key(name)], args=[self.owner]))

    async def holder(self, name: str) -> str | None:
        """Who holds *name*'s lease now (for status and tests), or None."""
        value = await self.client.get(self.key(name))
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)


async def _request(call: Awaitable[Any]) -> Any:
    """Await one Redis request in a task of its own. Cancelled (a stop, or a
    caller's timeout), the caller goes on at once and the request is
    cancelled behind it: redis-py cleans up a connection cancelled mid-reply
    with awaits of its own (disconnect, returning it to the pool), and a
    stop must not wait on those (the suite saw Producers.stop() hang)."""
    task = asyncio.ensure_future(call)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        task.cancel()
        # Its outcome is nobody's now: seen, so asyncio does not log it.
        task.add_done_callback(lambda done: done.cancelled() or done.exception())
        raise


def leases_for(backplane: object, timing: LeaseTiming | None = None) -> Leases:
    """The leases that go with *backplane*: in the Redis it shares (its
    ``client``, a ``redis.asyncio.Redis``, and its key ``prefix``), else
    :class:`LocalLeases` (one process: every feed is its own)."""
    client = getattr(backplane, "client", None)
    if client is None:
        return LocalLeases()
    return RedisLeases(client, str(getattr(backplane, "prefix", "livefeed:")), timing=timing)


async def hold_while(
    leases: Leases,
    name: str,
    run: asyncio.Future[Any],
    paused: Callable[[], bool] = lambda: False,
) -> bool:
    """Keep *name*'s lease (taken already) while *run* goes on; True when it
    is lost, False when *run* ended.

    Renewed every ``renew_every``; a failed request (Redis down or slow) is
    retried every ``retry_every``, never waiting past the term's end for an
    answer. A term that runs out is lost, unless *paused()* (the backplane is
    down: the run cannot publish, points wait) - then the lease is taken
    again as soon as Redis answers (ours still, or free: the run goes on), or
    lost if another instance has it.
    """
    clock, timing = leases.clock, leases.timing
    failing = False
    while (term := leases.term(name)) is not None:
        now = clock()
        if not failing:
            next_try = term.renew_at
        elif term.held(now):
            next_try = min(now + timing.retry_every, term.held_until)
        else:  # Redis still away after the term: not hammering it
            next_try = now + timing.error_wait
        done, _ = await asyncio.wait({run}, timeout=max(0.0, next_try - now))
        if done:
            return False
        sent_at = clock()
        held = term.held(sent_at)
        try:
            if held:
                async with asyncio.timeout(term.held_until - sent_at):
                    await leases.renew(name)
            else:
                async with asyncio.timeout(timing.retry_every):
                    await leases.take(name)
            failing = False
        except Exception:  # Redis down or slow: the term goes on running out
            failing = True
            if not held and not paused():
                return True
    return True  # Redis said it is not ours


async def run_while_held(
    leases: Leases,
    name: str,
    start: Callable[[], asyncio.Future[None]],
    standby: Callable[[], None],
    paused: Callable[[], bool] = lambda: False,
) -> None:
    """Run what *start* starts only while this instance holds *name*'s lease.

    Until the lease is ours, *standby* is called and the lease tried for
    every ``retry_every`` seconds; a lease lost cancels the run (then
    *standby*, and trying again). A run that ends keeps the lease (no other
    instance starts the feed again). Cancelled (a stop): the run is cancelled
    first, then the lease released, so the next instance takes over at once.
    """
    run: asyncio.Future[None] | None = None
    failing = False  # logged once per spell of failed requests
    try:
        while True:
            try:
                ours = await leases.take(name)
                wait, failing = leases.timing.retry_every, False
            except Exception as exc:  # Redis down: the feed cannot be ours now
                # Twice the holder's wait: when Redis is back, a holder whose
                # run is paused mostly gets its lease (and held points) back first.
                ours, wait = False, 2 * leases.timing.error_wait
                if not failing:
                    log_event(log, logging.WARNING, "feed_lease_error", feed=name, error=exc)
                failing = True
            if not ours:
                standby()
                await asyncio.sleep(wait)  # the retry period itself
                continue
            log_event(log, logging.INFO, "feed_lease_taken", feed=name)
            run = start()
            if not await hold_while(leases, name, run, paused):
                run = asyncio.get_running_loop().create_future()  # ended: kept held
                await hold_while(leases, name, run, paused)
            log_event(log, logging.WARNING, "feed_lease_lost", feed=name)
            run.cancel()
            await asyncio.gather(run, return_exceptions=True)
            run = None
            standby()
    except asyncio.CancelledError:
        if run is not None:
            run.cancel()
            await asyncio.gather(run, return_exceptions=True)
        if run is not None or leases.term(name) is not None:  # a standby has none to give
            await _release(leases, name)
        raise


async def _release(leases: Leases, name: str) -> None:
    """Give a lease back, waiting at most RELEASE_TIMEOUT (Redis may be down:
    then it expires by itself)."""
    try:
        async with asyncio.timeout(RELEASE_TIMEOUT):
            await leases.release(name)
    except Exception as exc:
        log_event(log, logging.WARNING, "feed_lease_not_released", feed=name, error=exc)
