"""The page with a prometheus feed: a metric that appears on the exporter while
the page is open gets its line and legend entry, with its unit, without a reload."""

import asyncio
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from feeds.prometheus import Prometheus

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

# The named trace's drawn points (non-null y), or -1 while it is not drawn.
DRAWN = """(name) => {
  const chart = document.querySelector('.panel[data-feed="exporter"] .js-plotly-plot');
  const trace = chart?.data?.find((t) => t.name === name);
  return trace ? trace.y.filter((v) => v !== null).length : -1;
}"""


async def test_a_metric_found_while_the_page_is_open_is_drawn_with_its_unit(start_server, page):
    registry = CollectorRegistry()
    Gauge("jobs_queued_bytes", "Queued", registry=registry).set(2048)
    exporter, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    done: Counter | None = None

    async def work() -> None:
        while True:
            if done is not None:
                done.inc(3)
            await asyncio.sleep(0.05)

    worker = asyncio.create_task(work())
    try:
        url = f"http://127.0.0.1:{exporter.server_port}/metrics"

        def sources() -> list[Any]:
            return [Prometheus(url, metrics=["jobs_.*"], interval=0.2, name="exporter")]

        server = await start_server(extra_sources=sources, symbols=("ACME",), rate=2.0)
        await page.goto(server.url + "/?feeds=exporter")
        await page.wait_for_function(f"({DRAWN})('jobs_queued_bytes') > 0")
        await page.evaluate("window.beforeTheMetric = true")
        assert await page.evaluate(f"({DRAWN})('jobs_done_total')") == -1
        done = Counter("jobs_done_total", "Done", registry=registry)
        await page.wait_for_function(f"({DRAWN})('jobs_done_total') >= 2")
        legend = await page.locator('.panel[data-feed="exporter"]').inner_text()
        assert "jobs_done_total" in legend and "/s" in legend and "B" in legend
        assert await page.evaluate("window.beforeTheMetric") is True  # no reload
        assert page.console_log.problems() == []
    finally:
        worker.cancel()
        exporter.shutdown()
        exporter.server_close()
        thread.join(5)
