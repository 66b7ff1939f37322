"""The page through the README's nginx in front of two ``python -m dashboard``
processes over one redis-server: it plots live data, and when the instance
serving its WebSocket is SIGKILLed it reconnects through nginx to the other
and resumes with no point missing or twice."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from tests.support.metrics import get_text
from tests.support.nginx import site_for
from tests.support.redis_server import free_port
from tests.support.servers import start_clis, stop_process
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

STATS = "window.livefeed.stats()"


async def viewers_of(url: str) -> int:
    _, text = await asyncio.to_thread(get_text, url + "/metrics")
    line = next(x for x in text.splitlines() if x.startswith("livefeed_viewers "))
    return int(float(line.split()[1]))


async def test_page_behind_nginx_plots_and_resumes_when_its_instance_is_killed(
    redis_server, start_nginx, page
):
    env = {"DASHBOARD_BACKPLANE": redis_server.url, "DASHBOARD_TRUSTED_PROXIES": "127.0.0.1"}
    args = ("--symbols", "ACME,GLOBX", "--rate", "20")
    started = await start_clis(2, *args, env=env)
    try:
        ports = [int(url.rsplit(":", 1)[1]) for _, url in started]
        nginx = start_nginx(site_for(free_port(), *ports))
        await page.goto(nginx.url + "/")
        await page.wait_for_function(
            "document.getElementById('status').dataset.state === 'live'", timeout=15_000
        )
        await page.wait_for_function(
            "document.querySelectorAll('.panel .js-plotly-plot').length === 2", timeout=15_000
        )
        await page.wait_for_function(f"{STATS}.points > 2 * 20", timeout=15_000)
        counts: list[int] = []

        async def one_serves_the_page() -> bool:
            counts[:] = [await viewers_of(url) for _, url in started]
            return sorted(counts) == [0, 1]

        await wait_until(one_serves_the_page, what="the page's WebSocket on one instance")
        serving = counts.index(1)
        before = await page.evaluate(STATS)
        os.kill(started[serving][0].pid, signal.SIGKILL)
        await page.wait_for_function(
            """(b) => Object.entries(window.livefeed.stats().perFeed)
                 .every(([f, s]) => s.lastSeq > b.perFeed[f].lastSeq + 40)""",
            arg=before,
            timeout=20_000,
        )
        await page.wait_for_function(
            "document.getElementById('status').dataset.state === 'live'", timeout=5_000
        )
        assert await viewers_of(started[1 - serving][1]) == 1
    finally:
        for process, _ in started:
            await stop_process(process)
    after = await page.evaluate(STATS)
    for feed, s in after["perFeed"].items():
        assert s["epoch"] == before["perFeed"][feed]["epoch"], (feed, s)
        assert s["gaps"] == 0 and s["missed"] == 0, (feed, s)
        assert s["count"] == s["lastSeq"], (feed, s)  # seq 1..last, every one held
    assert after["duplicates"] == 0
