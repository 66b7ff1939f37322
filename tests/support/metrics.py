"""GET /metrics, parsed by prometheus-client's own parser."""

from __future__ import annotations

import asyncio
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from tests.support.servers import LiveServer

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def get_text(url: str) -> tuple[str, str]:
    """GET *url* (blocking): its Content-Type and its body as text."""
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.headers["Content-Type"], response.read().decode()


async def scrape(server: LiveServer) -> Samples:
    """GET /metrics, parsed by prometheus-client's own parser: {(name, labels): value}."""
    _, text = await asyncio.to_thread(get_text, server.url + "/metrics")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; 0 when a labelled counter has not been created yet."""
    return samples.get((name, frozenset(labels.items())), 0.0)


async def metric(server: LiveServer, name: str, **labels: str) -> float:
    return value(await scrape(server), name, **labels)
