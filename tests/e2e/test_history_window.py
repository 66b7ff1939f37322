"""The history API on a live server: long windows reduced, snapshots bounded."""

import json

import pytest
import websockets

from tests.support.clients import recv_json
from tests.support.servers import http_request
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e


async def history(server, query: str):
    return await http_request(f"{server.url}/api/feeds/ACME/history?{query}")


async def test_max_points_reduces_held_history_keeping_its_extremes(start_server):
    """Thousands of held ticks come back as <= max_points, with the true high and low."""
    server = await start_server(symbols=("ACME",), rate=400.0, volatility=2.0)
    await wait_until(lambda: len(server.hub.histories["ACME"]) >= 3000, timeout=20)
    full = (await history(server, "")).json()["points"]
    reduced = (await history(server, "max_points=200")).json()["points"]
    assert len(full) >= 3000 and 50 <= len(reduced) <= 200
    # Points arrived between the two requests; compare over what both cover.
    last_seq = full[-1]["seq"]
    prices = [p["values"]["price"] for p in full]
    kept = [
        p["values"]["price"] for p in reduced if p["seq"] <= last_seq and "price" in p["values"]
    ]
    assert max(kept) == max(prices) and min(kept) == min(prices)
    # from_ts: only the window asked for.
    cut = full[len(full) // 2]["ts"]
    window = (await history(server, f"from_ts={cut}&max_points=100")).json()["points"]
    assert window and min(p["ts"] for p in window) >= cut and len(window) <= 100


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("max_points=lots", "'max_points' must be an integer from 2 to 100000, not 'lots'"),
        ("max_points=0", "'max_points' must be an integer from 2 to 100000, not '0'"),
        ("from_ts=yesterday", "'from_ts' must be an integer >= 0, not 'yesterday'"),
    ],
)
async def test_bad_history_arguments_get_a_one_line_400(server, query, message):
    response = await history(server, query)
    assert response.status == 400
    assert response.json() == {"error": message}


async def test_new_viewer_snapshot_stays_bounded_while_history_grows(start_server):
    """history_size holds much more than snapshot_size; a new viewer gets only the latter."""
    server = await start_server(symbols=("ACME",), rate=400.0, history_size=5000, snapshot_size=300)
    await wait_until(lambda: len(server.hub.histories["ACME"]) >= 1500, timeout=20)
    async with websockets.connect(server.ws_url) as ws:
        assert (await recv_json(ws))["type"] == "hello"
        snapshot = await recv_json(ws)
    assert snapshot["type"] == "snapshot" and len(snapshot["points"]) == 300
    held = (await history(server, "")).json()["points"]
    assert len(held) >= 1500
    seqs = [p["seq"] for p in snapshot["points"]]
    assert seqs == list(range(seqs[0], seqs[0] + 300))
    assert json.dumps(snapshot)  # a plain JSON frame
