"""Per-feed leases: the timing (pure), and taking, renewing and releasing them
in a real redis-server."""

from __future__ import annotations

import asyncio
import os
import time
from types import SimpleNamespace

import pytest
import redis.asyncio as redis

from dashboard.backplane import MemoryBackplane
from dashboard.leases import (
    LeaseError,
    LeaseTerm,
    LeaseTiming,
    LocalLeases,
    RedisLeases,
    hold_while,
    leases_for,
)
from tests.support.waiting import wait_until

FAST = LeaseTiming(ttl=0.4, renew_every=0.1, retry_every=0.05, error_wait=0.1)


def test_default_timing_takes_a_dead_holders_feed_over_within_3_s():
    timing = LeaseTiming()
    assert timing.takeover_within <= 3.0
    assert timing.renew_every * 2 <= timing.ttl  # two chances before it lapses


def test_timing_that_cannot_work_is_refused_with_the_reason():
    with pytest.raises(LeaseError, match="at most half the ttl"):
        LeaseTiming(ttl=1.0, renew_every=0.8)
    with pytest.raises(LeaseError, match="above 0"):
        LeaseTiming(ttl=0.0)


def test_a_term_counts_from_when_the_request_was_sent_and_ends_before_the_ttl():
    """The holder gives the lease up a tenth of the TTL before Redis could
    expire it (counted from sending, which is before Redis started its TTL)."""
    term = LeaseTerm(LeaseTiming(ttl=2.0, renew_every=0.5), sent_at=100.0)
    assert term.renew_at == 100.5
    assert term.held_until == pytest.approx(101.8)
    assert term.held(101.79) and not term.held(101.8)
    term.granted(101.0)
    assert term.renew_at == 101.5 and term.held(102.5)
    term.granted(100.2)  # a late answer to an older request moves nothing back
    assert term.renew_at == 101.5


class ScriptedRedis:
    """Stands in for the client: every request answers ``answer`` (1 granted,
    0 someone else's) or raises it; counts them."""

    def __init__(self, answer: object = 1) -> None:
        self.answer = answer
        self.requests = 0

    async def _reply(self) -> object:
        self.requests += 1
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer

    async def set(self, *args, **kwargs):
        return await self._reply() or None

    def register_script(self, text):
        return lambda keys, args: self._reply()


async def scripted(answer: object = 1) -> tuple[RedisLeases, ScriptedRedis]:
    client = ScriptedRedis()
    leases = RedisLeases(client, "lf:", "me", FAST)
    assert await leases.take("a") and leases.held("a")
    client.answer, client.requests = answer, 0
    return leases, client


async def test_hold_while_renews_until_the_run_ends():
    leases, client = await scripted(1)
    run = asyncio.create_task(asyncio.sleep(0.35))
    assert await hold_while(leases, "a", run) is False and run.done()
    assert client.requests >= 2  # every 0.1 s: a run longer than the ttl stays held
    assert leases.held("a")


async def test_hold_while_gives_up_at_once_when_the_lease_is_someone_elses():
    leases, client = await scripted(0)
    run = asyncio.create_task(asyncio.sleep(10))
    started = time.monotonic()
    assert await hold_while(leases, "a", run) is True
    assert time.monotonic() - started < 0.3 and client.requests == 1
    assert not leases.held("a")
    run.cancel()


async def test_hold_while_gives_up_before_the_ttl_when_redis_does_not_answer():
    """Renewals failing (Redis down or cut off): the lease counts as lost
    before Redis could give it to another instance, never later."""
    leases, client = await scripted(ConnectionError("down"))
    run = asyncio.create_task(asyncio.sleep(10))
    started = time.monotonic()
    assert await hold_while(leases, "a", run) is True
    elapsed = time.monotonic() - started
    assert FAST.ttl - FAST.margin - 0.01 <= elapsed < FAST.ttl + FAST.retry_every + 0.05
    assert not leases.held("a")  # what the producer checks before each publish
    assert client.requests >= 3  # retried every 0.05 s meanwhile
    run.cancel()


async def test_while_paused_the_run_outlives_the_term_and_goes_on_if_redis_gives_it_back():
    """Backplane down (nothing can be published): an outage longer than the
    ttl does not end the run; when Redis answers and the lease is free or
    still ours, the run goes on holding it; if another has it, it is lost."""
    leases, client = await scripted(ConnectionError("down"))
    run = asyncio.create_task(asyncio.sleep(10))
    holding = asyncio.create_task(hold_while(leases, "a", run, paused=lambda: True))
    await asyncio.sleep(FAST.ttl * 1.5)
    assert not holding.done() and not leases.held("a")
    client.answer = 1  # back, the lease free
    await wait_until(lambda: leases.held("a"), timeout=3, what="taken again")
    assert not holding.done()
    client.answer = 0  # another instance has it now
    assert await holding is True
    run.cancel()


def test_the_in_memory_backplane_gets_local_leases():
    assert isinstance(leases_for(MemoryBackplane()), LocalLeases)


async def test_a_redis_backplane_gets_leases_in_its_redis_under_its_prefix(client):
    """What dashboard/assemble.py does with a backplane exposing ``client`` and ``prefix``."""
    backplane = SimpleNamespace(client=client, prefix="shop:")
    leases = leases_for(backplane, FAST)
    assert isinstance(leases, RedisLeases) and leases.shared
    assert await leases.take("ACME")
    assert await client.get("shop:lease:ACME") == leases.owner.encode()
    assert str(os.getpid()) in leases.owner  # two workers on one host differ


@pytest.fixture
async def client(redis_server):
    client = redis.Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


def two(client, timing=FAST):
    return (
        RedisLeases(client, "lf:", "owner-a", timing),
        RedisLeases(client, "lf:", "owner-b", timing),
    )


async def test_of_two_owners_one_gets_the_lease(client):
    a, b = two(client)
    results = await asyncio.gather(a.take("feed"), b.take("feed"))
    assert sorted(results) == [False, True]
    winner = a if results[0] else b
    assert await a.holder("feed") == winner.owner
    assert await client.pttl("lf:lease:feed") > 0  # it expires by itself
    assert await winner.take("feed") is True  # ours already: extended


async def test_only_the_holder_renews(client):
    a, b = two(client)
    assert await a.take("feed")
    assert await b.renew("feed") is False
    await asyncio.sleep(0.1)  # some of the ttl passes, to see it set again
    before = await client.pttl("lf:lease:feed")
    assert await a.renew("feed") is True
    assert await client.pttl("lf:lease:feed") > before


async def test_an_expired_lease_goes_to_the_one_waiting(client):
    """A holder that stops renewing (killed) loses the lease after its ttl;
    the other instance, trying every retry_every, takes it; the old holder's
    renewal then fails."""
    a, b = two(client)
    assert await a.take("feed")
    taken_at = time.monotonic()
    await wait_until(lambda: b.take("feed"), timeout=3, what="b takes the lease")
    waited = time.monotonic() - taken_at
    assert FAST.ttl * 0.8 <= waited <= FAST.takeover_within + 0.5
    assert await b.holder("feed") == "owner-b"
    assert await a.renew("feed") is False


async def test_release_hands_over_at_once_and_only_by_the_holder(client):
    a, b = two(client, LeaseTiming(ttl=30, renew_every=1))
    assert await a.take("feed")
    await b.release("feed")  # not b's: nothing happens
    assert await a.holder("feed") == "owner-a"
    await a.release("feed")
    assert await b.take("feed") is True


async def test_leases_survive_redis_forgetting_its_scripts(client, redis_server):
    """After a Redis restart its script cache is empty: renewals still work."""
    a, _ = two(client, LeaseTiming(ttl=30, renew_every=1))
    assert await a.take("feed") and await a.renew("feed")
    await client.script_flush()
    assert await a.renew("feed") is True
