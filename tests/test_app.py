"""In-process HTTP tests: routes, static files and the app's lifespan."""

import asyncio

import pytest

from dashboard import create_app
from dashboard.web.state import runtime_of
from tests.support.servers import TEST_CONFIG
from tests.support.waiting import wait_until


@pytest.fixture
async def running_app():
    """The app with its lifespan running (producers and hub started)."""
    app = create_app(TEST_CONFIG)
    async with app.test_app() as test_app:
        yield app, test_app.test_client()


async def test_lifespan_starts_feeds_and_stops_them(running_app):
    """While serving, producers fill every feed's history; /api/feeds shows them running."""
    app, client = running_app
    hub = runtime_of(app).hub
    await wait_until(lambda: all(h.last_seq >= 3 for h in hub.histories.values()))
    response = await client.get("/api/feeds")
    body = await response.get_json()
    assert response.status_code == 200 and body["epoch"] == hub.epoch
    assert [f["name"] for f in body["feeds"]] == list(TEST_CONFIG.symbols)
    first = body["feeds"][0]
    assert first["status"] == "running" and first["rate"] == TEST_CONFIG.rate
    assert first["series"][0] == {
        "name": "price",
        "kind": "line",
        "unit": "USD",
        "plot": True,
        "level": True,
    }
    assert first["last_seq"] >= 3 and first["held"] == first["last_seq"]


async def test_shutdown_stops_producers():
    """Leaving the lifespan cancels every producer task."""
    app = create_app(TEST_CONFIG)
    producers = runtime_of(app).producers
    async with app.test_app():
        await wait_until(lambda: all(s.state == "running" for s in producers.status.values()))
    assert all(s.state == "stopped" for s in producers.status.values())
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith(("feed-", "hub-"))]


async def test_healthz(running_app):
    """/healthz reports status, uptime, feeds and clients."""
    _, client = running_app
    body = await (await client.get("/healthz")).get_json()
    assert body["status"] == "ok" and body["feeds"] == 8 and body["clients"] == 0
    assert body["uptime_s"] >= 0


async def test_history_since(running_app):
    """history?since=N returns exactly the held points after N."""
    app, client = running_app
    hub = runtime_of(app).hub
    await wait_until(lambda: hub.histories["ACME"].last_seq >= 6)
    body = await (await client.get("/api/feeds/ACME/history?since=2")).get_json()
    seqs = [p["seq"] for p in body["points"]]
    assert seqs[0] == 3 and seqs == list(range(3, 3 + len(seqs))) and len(seqs) >= 4
    assert body["feed"] == "ACME" and body["truncated"] is False
    assert set(body["points"][0]) == {"feed", "seq", "ts", "values"}
    everything = await (await client.get("/api/feeds/ACME/history")).get_json()
    assert everything["points"][0]["seq"] == 1


async def test_history_truncated_when_points_left_the_buffer():
    """A since older than the ring buffer is flagged as truncated."""
    from dataclasses import replace

    app = create_app(replace(TEST_CONFIG, history_size=5))
    hub = runtime_of(app).hub
    async with app.test_app() as test_app:
        await wait_until(lambda: hub.histories["ACME"].last_seq >= 10)
        body = await (
            await test_app.test_client().get("/api/feeds/ACME/history?since=1")
        ).get_json()
    assert body["truncated"] is True and len(body["points"]) == 5


@pytest.mark.parametrize(
    ("url", "status", "message"),
    [
        ("/api/feeds/NOPE/history", 404, "unknown feed"),
        ("/api/feeds/ACME/history?since=abc", 400, "'since' must be an integer"),
        ("/api/feeds/ACME/history?since=-1", 400, "'since' must be an integer"),
        ("/no/such/page", 404, "was not found"),
    ],
)
async def test_http_errors_are_json(url, status, message):
    """Bad requests get a JSON error with a reason, never a 500."""
    client = create_app(TEST_CONFIG).test_client()
    response = await client.get(url)
    assert response.status_code == status
    assert message in (await response.get_json())["error"]


async def test_api_feeds_shows_a_failing_feed_restarting_with_its_error():
    """/api/feeds reports a crashing feed as restarting, with the error and restart count."""
    from dataclasses import replace

    from feeds import feed

    @feed("broken", series=["v"])
    async def broken():
        raise OSError("sensor unplugged")
        yield {}  # pragma: no cover - makes this an async generator

    config = replace(TEST_CONFIG, restart_backoff=0.01, restart_backoff_max=0.05)
    app = create_app(config, sources=[broken])
    async with app.test_app() as test_app:
        client = test_app.test_client()

        async def restarted_twice() -> bool:
            body = await (await client.get("/api/feeds")).get_json()
            return body["feeds"][0]["restarts"] >= 2

        await wait_until(restarted_twice)
        body = await (await client.get("/api/feeds")).get_json()
    (entry,) = body["feeds"]
    assert entry["status"] in ("restarting", "running")
    assert entry["error"] == "OSError: sensor unplugged"
