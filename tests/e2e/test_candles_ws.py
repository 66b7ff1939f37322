"""Candles over real WebSockets: shared bars, per-flush deltas, late joiners."""

import asyncio
import json
import time

import pytest
import websockets

from feeds.base import FeedInfo, Series

pytestmark = pytest.mark.e2e


def ask(feed: str = "ACME", interval: str | None = "1s", series: str = "price") -> str:
    return json.dumps({"type": "candles", "feed": feed, "series": series, "interval": interval})


class Viewer:
    """A real websockets client that keeps the bars it was sent, as a page would."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.bars: dict[int, dict] = {}
        self.candle_frames: list[dict] = []
        self.points: list[dict] = []  # the ticker's raw ticks (snapshot + batches)
        self.errors: list[dict] = []
        self.closed_seen: set[int] = set()  # bars seen closed (a newer bar came)

    async def read_until(self, done, timeout: float = 15.0) -> None:
        async with asyncio.timeout(timeout):
            while not done():
                self.take(json.loads(await self.ws.recv()))

    def take(self, message: dict) -> None:
        kind = message["type"]
        if kind in ("snapshot", "batch"):
            self.points += [p for p in message["points"] if p["feed"] == "ACME"]
        elif kind == "error":
            self.errors.append(message)
        elif kind == "candles":
            self.candle_frames.append(message)
            if message["reset"]:
                # A reset (on asking, or after a lag) repeats the closed bars:
                # they must be exactly as they were.
                for bar in message["bars"]:
                    if bar["t"] in self.closed_seen:
                        assert bar == self.bars[bar["t"]], f"closed bar {bar['t']} changed"
                self.bars = {}
            for bar in message["bars"]:
                # A delta never carries a closed bar again.
                if not message["reset"]:
                    assert bar["t"] not in self.closed_seen, f"closed bar {bar['t']} changed"
                self.bars[bar["t"]] = bar
            newest = max(self.bars, default=0)
            self.closed_seen |= {t for t in self.bars if t < newest}

    @property
    def newest(self) -> int:
        return max(self.bars, default=0)


def bars_from_ticks(points: list[dict], interval_ms: int) -> dict[int, dict]:
    """The bars a person would draw by hand from the ticks."""
    bars: dict[int, dict] = {}
    for p in points:
        t = p["ts"] - p["ts"] % interval_ms
        price, volume = p["values"]["price"], p["values"]["volume"]
        bar = bars.get(t)
        if bar is None:
            bars[t] = {"t": t, "open": price, "high": price, "low": price, "close": price}
            bars[t]["volume"] = volume
            continue
        bar["high"], bar["low"] = max(bar["high"], price), min(bar["low"], price)
        bar["close"] = price
        bar["volume"] += volume
    return bars


async def test_late_joiner_gets_the_same_bars_and_deltas_carry_only_changes(server):
    async with websockets.connect(server.ws_url) as ws_a:
        first = Viewer(ws_a)
        await ws_a.send(ask())
        await first.read_until(lambda: len(first.bars) >= 3)
        # The late viewer connects only now: a socket left unread while the
        # first waits for its bars would be lagging before it asked.
        async with websockets.connect(server.ws_url) as ws_b:
            late = Viewer(ws_b)
            await ws_b.send(ask())
            await late.read_until(lambda: late.candle_frames)
            joined_at = first.newest
            assert late.candle_frames[0]["reset"] is True
            assert min(late.bars) == min(first.bars)  # the whole held run, not from now
            # Both read on, at once as two pages would, until two more bars have
            # opened: everything before is closed. (Reading one while the other
            # waits would leave the other unread for seconds: lagging, it is owed
            # a reset instead of the deltas compared below.)
            until = joined_at + 3000
            await asyncio.gather(
                first.read_until(lambda: first.newest >= until),
                late.read_until(lambda: late.newest >= until),
            )
            assert {t: b for t, b in first.bars.items() if t < until} == {
                t: b for t, b in late.bars.items() if t < until
            }
            # The deltas after the join are the very frames the first viewer got.
            late_deltas = late.candle_frames[1:]
            start = first.candle_frames.index(late_deltas[0])
            shared = first.candle_frames[start : start + len(late_deltas)]
            assert shared == late_deltas[: len(shared)] and len(shared) >= 8
            # One builder for both viewers.
            assert server.hub.candles.builds == 1
            # Only the open bar (and the one it closed, at a boundary): at most 4
            # frames a second, each with the bars changed since the last.
            for frame in first.candle_frames[1:]:
                assert 1 <= len(frame["bars"]) <= 2, frame
            # The bars are the ticks' bars: every closed bar, checked by hand.
            by_hand = bars_from_ticks(first.points, 1000)
            closed = [t for t in first.bars if t < until]
            assert len(closed) >= 4
            for t in closed:
                assert first.bars[t] == by_hand[t], t


async def test_bad_requests_get_an_error_and_the_connection_goes_on(server):
    async with websockets.connect(server.ws_url) as ws:
        viewer = Viewer(ws)
        await ws.send(ask(interval="2m"))
        await ws.send(ask(series="volume"))
        await ws.send(ask(feed="NOPE"))
        await viewer.read_until(lambda: len(viewer.errors) == 3)
        codes = [e["code"] for e in viewer.errors]
        assert codes == ["bad_interval", "not_a_level", "unknown_feed"]
        assert "known: 1s, 5s, 1m" in viewer.errors[0]["message"]
        await ws.send(ask(interval="5s"))
        await viewer.read_until(lambda: viewer.candle_frames)
        assert viewer.candle_frames[0]["interval"] == "5s"
        await ws.send(ask(interval=None))  # stop: no more candle frames
        count = len(viewer.points)
        await viewer.read_until(lambda: len(viewer.points) >= count + 40)
        stop_seen = len(viewer.candle_frames)
        count = len(viewer.points)
        await viewer.read_until(lambda: len(viewer.points) >= count + 40)
        assert len(viewer.candle_frames) == stop_seen
    assert server.hub.candles.builds == 1  # the bad ones built nothing


class ScriptedTicks:
    """A level series whose ticks carry their own ts: one comes late, after
    its bar closed, once the test says so."""

    def __init__(self, late_now: asyncio.Event) -> None:
        self.info = FeedInfo(
            "SCRIPT", series=(Series("price", level=True), Series("volume")), rate=10.0
        )
        self.late_now = late_now

    async def stream(self):
        base = (int(time.time()) - 60) * 1000  # a whole second, a minute ago
        for offset, price in ((100, 10.0), (200, 11.0), (1100, 12.0)):
            yield {"ts": base + offset, "price": price, "volume": 1}
        await self.late_now.wait()
        yield {"ts": base + 300, "price": 99.0, "volume": 1000}  # late: its bar is closed
        yield {"ts": base + 1200, "price": 13.0, "volume": 1}
        await asyncio.Event().wait()


async def test_a_late_point_changes_no_closed_bar(start_server):
    late_now = asyncio.Event()
    server = await start_server(extra_sources=lambda: [ScriptedTicks(late_now)])
    async with websockets.connect(server.ws_url) as ws:
        viewer = Viewer(ws)
        await ws.send(ask("SCRIPT"))
        await viewer.read_until(lambda: len(viewer.bars) == 2)
        closed = dict(viewer.bars)
        late_now.set()
        await viewer.read_until(lambda: viewer.bars[max(viewer.bars)]["close"] == 13.0)
        first, second = sorted(viewer.bars)
        assert viewer.bars[first] == closed[first]
        assert closed[first]["high"] == 11.0 and closed[first]["volume"] == 2
        assert viewer.bars[second]["volume"] == 2
        # A viewer joining now gets the same: the late point is in no bar.
        async with websockets.connect(server.ws_url) as ws_late:
            late = Viewer(ws_late)
            await ws_late.send(ask("SCRIPT"))
            await late.read_until(lambda: late.bars)
        assert late.bars == viewer.bars
