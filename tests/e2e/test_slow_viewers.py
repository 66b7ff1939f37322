"""Fifty viewers that never read, against the CLI server as its own process."""

import asyncio
import json
import time
import urllib.request

import psutil
import pytest
import websockets

from tests.support.clients import open_raw_websocket
from tests.support.servers import start_cli, stop_process

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

STUCK = 50
# Past slow_client_timeout with room to spare: every stuck viewer is closed by then.
WATCH_S = 12.0

CONFIG = """
[server]
symbols = [{symbols}]
rate = 50.0
history_size = 100  # full within 2 s: later growth is not the history filling up
client_conflate_frames = 8
slow_client_timeout = 4.0
log_level = "warning"
"""


async def test_fifty_stuck_viewers_for_12_s_cost_bounded_memory_and_no_reader_delay(tmp_path):
    """With 50 viewers that read nothing for 12 s (three times the slow-viewer
    timeout), the server's memory stays bounded, the stuck ones are closed for
    being too slow, and a reading viewer gets every point with no stall."""
    symbols = ", ".join(f'"S{i}"' for i in range(100))  # ~25 KB batches, 20 a second
    config = tmp_path / "dashboard.toml"
    config.write_text(CONFIG.format(symbols=symbols))
    process, url = await start_cli("--config", str(config))
    server = psutil.Process(process.pid)
    port = int(url.rsplit(":", 1)[1])
    stuck = []
    try:
        async with websockets.connect(url.replace("http", "ws") + "/ws", max_size=None) as reader:
            stuck = [open_raw_websocket(port) for _ in range(STUCK)]
            # The baseline is taken once the history is full and the stuck
            # viewers' snapshots (1 MB each, held only while being written)
            # have gone into their sockets: what grows after that is the cost
            # of viewers that do not read.
            warm_until = time.monotonic() + 3
            while time.monotonic() < warm_until:
                await asyncio.wait_for(reader.recv(), 5)
            rss_start = server.memory_info().rss
            rss_peak = rss_start
            last_seq: dict[str, int] = {}
            gaps = 0
            longest_silence = 0.0
            last_frame_at = time.monotonic()
            deadline = last_frame_at + WATCH_S
            while time.monotonic() < deadline:
                message = json.loads(await asyncio.wait_for(reader.recv(), 5))
                longest_silence = max(longest_silence, time.monotonic() - last_frame_at)
                last_frame_at = time.monotonic()
                for point in message.get("points", []):
                    previous = last_seq.get(point["feed"])
                    if previous is not None and point["seq"] != previous + 1:
                        gaps += 1
                    last_seq[point["feed"]] = point["seq"]
                rss_peak = max(rss_peak, server.memory_info().rss)
            health = await asyncio.to_thread(_get_json, url + "/healthz")
        assert gaps == 0
        assert longest_silence < 2.0, f"the reader waited {longest_silence:.1f} s for a batch"
        grown_mb = (rss_peak - rss_start) / 2**20
        assert grown_mb < 25, f"server RSS grew {grown_mb:.0f} MB with {STUCK} stuck viewers"
        # Behind for more than slow_client_timeout: all closed; only the reader was left.
        assert health["clients"] == 1, health
    finally:
        for sock in stuck:
            sock.close()
        await stop_process(process)


def _get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)
