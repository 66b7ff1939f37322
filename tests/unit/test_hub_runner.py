"""HubRunner: the hub on the event loop (pump, flush timer, publish, stop, drain)."""

import ast
import asyncio
import inspect
import logging

import dashboard.hub
from dashboard.backplane import MemoryBackplane, Position
from dashboard.hub import Hub
from dashboard.hub_runner import HubRunner
from dashboard.hub_settings import HubSettings
from feeds.base import FeedInfo, Series
from tests.support.waiting import wait_until


def make_runner(**settings) -> HubRunner:
    hub = Hub(MemoryBackplane(), HubSettings(**settings))
    hub.add_feed(FeedInfo("A", series=(Series("price"),)))
    return HubRunner(hub)


def test_the_hub_itself_awaits_nothing():
    """hub.py is the synchronous core: no asyncio import, no coroutine."""
    tree = ast.parse(inspect.getsource(dashboard.hub))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module)])
    }
    assert "asyncio" not in imported
    assert not [n.name for n in ast.walk(tree) if isinstance(n, ast.AsyncFunctionDef)]


async def test_publish_says_where_the_point_landed():
    runner = make_runner()
    epoch = runner.hub.epoch
    assert await runner.publish("A", {"price": 1.0}) == Position(1, epoch)
    assert await runner.publish("A", {"price": 2.0}, gap=True) == Position(2, epoch)


async def test_wait_no_clients_returns_once_the_last_viewer_has_left():
    runner = make_runner()
    async with asyncio.timeout(5):
        await runner.wait_no_clients()  # none yet: at once
    hub = runner.hub
    first, second = hub.connect(), hub.connect()
    waiting = asyncio.create_task(runner.wait_no_clients())
    hub.disconnect(first)
    await asyncio.sleep(0)  # one viewer still there: it must not return
    assert not waiting.done()
    hub.disconnect(second)
    async with asyncio.timeout(5):
        await waiting


def batches(client) -> list[str]:
    return [frame for frame in client.take_all() if frame.startswith('{"type":"batch"')]


async def test_stop_flushes_what_was_taken():
    """A point taken but held for the flush interval still goes out, in the
    last flush of the stop."""
    runner = make_runner(flush_interval=3600)
    hub = runner.hub
    await runner.start()
    client = hub.connect()
    try:
        await runner.publish("A", {"price": 1.0})  # an idle hub sends it at once
        await wait_until(lambda: batches(client), what="the first batch")
        await runner.publish("A", {"price": 2.0})  # held for the interval
        await wait_until(lambda: hub.points_waiting == 1, what="the point taken")
    finally:
        await runner.stop()
    assert [b for b in batches(client) if '"seq":2' in b]


async def test_a_failing_flush_is_logged_and_flushing_goes_on(caplog):
    """A bug in one flush does not stop live updates: it is logged (as the
    hub's) and the next point's flush sends what the failed one held."""
    runner = make_runner(flush_interval=0.01)
    hub = runner.hub
    flush, failures = hub.flush, []

    def flaky_flush(now=None):
        if not failures:
            failures.append(True)
            raise RuntimeError("boom")
        flush(now)

    hub.flush = flaky_flush
    await runner.start()
    try:
        client = hub.connect()
        await wait_until(lambda: failures, what="the failed flush")
        await runner.publish("A", {"price": 1.0})
        await wait_until(lambda: batches(client), what="a batch")
    finally:
        await runner.stop()
    (record,) = [r for r in caplog.records if r.getMessage() == "flush failed"]
    assert record.name == "dashboard.hub" and record.levelno == logging.ERROR


async def test_a_runner_made_for_a_hub_with_viewers_waits_for_them():
    hub = Hub(MemoryBackplane())
    client = hub.connect()
    runner = HubRunner(hub)
    waiting = asyncio.create_task(runner.wait_no_clients())
    await asyncio.sleep(0)
    assert not waiting.done()
    hub.disconnect(client)
    async with asyncio.timeout(5):
        await waiting
