"""Candles from ticks: the pure builder, and the hub's shared candle board."""

import json

import pytest

from dashboard.backplane import MemoryBackplane
from dashboard.candle_board import MIN_GAP
from dashboard.candles import MAX_BARS, CandleBuilder
from dashboard.hub import Hub
from dashboard.hub_settings import HubSettings
from dashboard.protocol import Point
from feeds.base import FeedInfo, Series

T0 = 1_700_000_000_000  # a whole minute, in ms


def wire(builder: CandleBuilder) -> list[dict]:
    return [bar.to_wire() for bar in builder]


def test_ticks_make_ohlc_bars_with_summed_volume():
    builder = CandleBuilder(1000, has_volume=True)
    builder.extend(
        [
            (T0 + 0, 10.0, 100),
            (T0 + 300, 12.0, 200),
            (T0 + 600, 9.0, 300),
            (T0 + 900, 11.0, 400),
            (T0 + 1000, 11.5, 50),  # the next second: a new bar
            (T0 + 3200, 13.0, 10),  # two seconds without ticks: no empty bars
        ]
    )
    assert wire(builder) == [
        {"t": T0, "open": 10.0, "high": 12.0, "low": 9.0, "close": 11.0, "volume": 1000},
        {"t": T0 + 1000, "open": 11.5, "high": 11.5, "low": 11.5, "close": 11.5, "volume": 50},
        {"t": T0 + 3000, "open": 13.0, "high": 13.0, "low": 13.0, "close": 13.0, "volume": 10},
    ]


def test_last_bar_updates_in_place_and_only_it_is_reported():
    builder = CandleBuilder(5000, has_volume=True)
    builder.extend([(T0, 10.0, 1), (T0 + 5000, 20.0, 1)])
    changed = builder.extend([(T0 + 5100, 25.0, 2), (T0 + 5200, 18.0, 3)])
    assert [bar.to_wire() for bar in changed] == [
        {"t": T0 + 5000, "open": 20.0, "high": 25.0, "low": 18.0, "close": 18.0, "volume": 6}
    ]
    assert len(builder.bars) == 2  # updated, not appended
    # A tick in a new interval reports the new bar (the closed one is unchanged).
    changed = builder.extend([(T0 + 10_000, 19.0, 1)])
    assert [bar.t for bar in changed] == [T0 + 10_000]


def test_closed_bars_never_change_and_late_ticks_are_counted():
    builder = CandleBuilder(1000, has_volume=True)
    builder.extend([(T0, 10.0, 1), (T0 + 500, 11.0, 1), (T0 + 1000, 12.0, 1)])
    closed = wire(builder)[0]
    changed = builder.extend([(T0 + 700, 99.0, 1000), (T0 + 999, 1.0, 5)])  # late
    assert changed == []
    assert wire(builder)[0] == closed
    assert builder.dropped == 2


def test_late_tick_within_the_open_bar_sets_open_and_close_by_time():
    """A tick that arrives late but still in the open bar counts, by its ts."""
    builder = CandleBuilder(1000, has_volume=False)
    builder.extend([(T0 + 500, 10.0, None), (T0 + 800, 12.0, None)])
    builder.extend([(T0 + 100, 8.0, None)])  # earlier than both, arrives last
    (bar,) = wire(builder)
    assert bar == {"t": T0, "open": 8.0, "high": 12.0, "low": 8.0, "close": 12.0, "volume": None}


def test_same_ticks_make_same_bars_however_they_are_split():
    """A builder fed all at once (a late joiner's build) equals one fed per flush."""
    ticks = [(T0 + i * 137, 100.0 + (i * 7919 % 13), i % 5) for i in range(400)]
    at_once = CandleBuilder(5000, has_volume=True)
    at_once.extend(ticks)
    per_flush = CandleBuilder(5000, has_volume=True)
    for start in range(0, len(ticks), 3):
        per_flush.extend(ticks[start : start + 3])
    assert wire(per_flush) == wire(at_once)
    assert len(at_once.bars) == 11


def test_volume_without_price_counts_in_the_open_bar_only():
    builder = CandleBuilder(1000, has_volume=True)
    assert builder.extend([(T0, None, 100)]) == []  # no bar to go to
    builder.extend([(T0 + 10, 5.0, 1), (T0 + 20, None, 100)])
    assert wire(builder)[0]["volume"] == 101
    assert builder.extend([(T0 + 2000, None, 7)]) == []  # no price: opens no bar
    assert builder.dropped == 2


def test_bars_are_bounded_oldest_dropped():
    builder = CandleBuilder(1000, has_volume=False)
    builder.extend((T0 + i * 1000, float(i), None) for i in range(MAX_BARS + 5))
    bars = builder.bars
    assert len(bars) == MAX_BARS and bars[0].t == T0 + 5000


def test_bad_builder_settings_are_refused():
    with pytest.raises(ValueError, match="interval must be >= 1 ms"):
        CandleBuilder(0, has_volume=False)
    with pytest.raises(ValueError, match="max_bars must be >= 1"):
        CandleBuilder(1000, has_volume=False, max_bars=0)


# --- the hub's board ---------------------------------------------------------


def make_hub() -> Hub:
    hub = Hub(MemoryBackplane(), HubSettings(flush_interval=3600, history_size=50))
    series = (Series("price", level=True), Series("volume", plot=False))
    hub.add_feed(FeedInfo("A", series=series))
    hub.add_feed(FeedInfo("B", series=(Series("cpu"),)))
    return hub


def tick(hub: Hub, seq: int, ts: int, price: float, volume: int = 1) -> None:
    hub.take(Point("A", seq, ts, {"price": price, "volume": volume}))


def viewer(hub: Hub):
    client = hub.connect(subscribe=False)
    client.take_all()
    return client


def frames(client) -> list[dict]:
    return [json.loads(frame) for frame in client.take_all()]


def ask(hub: Hub, client, interval: str | None = "1s", **fields) -> list[dict]:
    message = {"type": "candles", "feed": "A", "series": "price", "interval": interval, **fields}
    hub.receive(client, json.dumps(message))
    return frames(client)


def test_board_shares_one_builder_and_one_frame_per_flush():
    hub = make_hub()
    for seq in range(1, 4):
        tick(hub, seq, T0 + seq * 400, 10.0 + seq)
    hub.flush()
    first, second = viewer(hub), viewer(hub)
    (reset_1,) = ask(hub, first)
    (reset_2,) = ask(hub, second)
    assert reset_1 == reset_2 and reset_1["reset"] is True
    assert [bar["t"] for bar in reset_1["bars"]] == [T0, T0 + 1000]
    assert hub.candles.builds == 1
    tick(hub, 4, T0 + 1700, 20.0)
    hub.flush()
    (frame_1,), (frame_2,) = first.take_all(), second.take_all()
    assert frame_1 is frame_2  # encoded once, the same string to both
    delta = json.loads(frame_1)
    assert delta["reset"] is False
    assert delta["bars"] == [
        {"t": T0 + 1000, "open": 13.0, "high": 20.0, "low": 13.0, "close": 20.0, "volume": 2}
    ]


def test_board_stop_switch_and_disconnect():
    hub = make_hub()
    client = viewer(hub)
    ask(hub, client, "1s")
    (switched,) = ask(hub, client, "5s")
    assert switched["interval"] == "5s"
    tick(hub, 1, T0, 10.0)
    hub.flush()
    assert [f["interval"] for f in frames(client)] == ["5s"]  # the 1s ones stopped
    assert ask(hub, client, None) == []
    tick(hub, 2, T0 + 100, 11.0)
    hub.flush()
    assert frames(client) == []
    ask(hub, client, "1m")
    hub.disconnect(client)
    tick(hub, 3, T0 + 200, 11.0)
    hub.flush()  # a gone client is sent nothing, and nothing fails
    assert client.take_all() == []


@pytest.mark.parametrize(
    ("fields", "code", "text"),
    [
        ({"feed": "Z"}, "unknown_feed", "unknown feed 'Z'"),
        ({"series": "px"}, "unknown_series", "feed 'A' has no series 'px'"),
        ({"series": "volume"}, "not_a_level", "'volume' of 'A' is not a level"),
        ({"feed": "B", "series": "cpu"}, "not_a_level", "'cpu' of 'B' is not a level"),
        ({"interval": "2s"}, "bad_interval", "unknown candle interval '2s'; known: 1s, 5s, 1m"),
        ({"interval": 5}, "bad_message", "'interval' must be a string"),
        ({"feed": None}, "bad_message", "candles needs a string 'feed'"),
        ({"intervall": "1s"}, "bad_message", "unknown field(s) 'intervall'"),
    ],
)
def test_board_bad_requests_get_one_error_and_keep_what_was_asked(fields, code, text):
    hub = make_hub()
    client = viewer(hub)
    ask(hub, client, "1s")
    (error,) = ask(hub, client, **{"interval": "1s", **fields})
    assert error["type"] == "error" and error["code"] == code
    assert text in error["message"] and "\n" not in error["message"]
    assert not client.closing
    tick(hub, 1, T0, 10.0)
    hub.flush()
    assert [f["interval"] for f in frames(client)] == ["1s"]  # still subscribed


def test_board_skips_lagging_viewer_and_resets_it_after():
    hub = make_hub()
    client = viewer(hub)
    ask(hub, client, "1s")
    client.lagging_since = 0.0  # as the hub's lagging rules mark it
    tick(hub, 1, T0, 10.0)
    hub.flush(now=0.0)
    assert [f["type"] for f in frames(client)] == []
    client.lagging_since = None  # caught up
    tick(hub, 2, T0 + 1000, 11.0)
    hub.flush(now=1.0)
    (reset,) = [f for f in frames(client) if f["type"] == "candles"]
    assert reset["reset"] is True and [bar["t"] for bar in reset["bars"]] == [T0, T0 + 1000]


def test_board_build_from_a_history_that_lost_points_drops_its_first_bar():
    hub = make_hub()  # holds 50 points
    for seq in range(1, 81):  # 80 points, 100 ms apart: seqs 31-80 are held
        tick(hub, seq, T0 + seq * 100, float(seq))
    hub.flush()
    (reset,) = ask(hub, viewer(hub))
    # Held: ts T0+3100..T0+8000. The bar of T0+3000 lacks ticks of 3000-3099.
    assert [bar["t"] for bar in reset["bars"]] == [T0 + s * 1000 for s in range(4, 9)]
    assert reset["bars"][0]["open"] == 40.0 and reset["bars"][0]["volume"] == 10


def test_board_sends_a_key_at_most_every_min_gap_and_holds_nothing_back_for_long():
    """Changes within MIN_GAP of the last frame wait (the hub is woken for
    them) and go out whole: the newest state of every bar they changed."""
    hub = make_hub()
    client = viewer(hub)
    ask(hub, client, "1s")
    tick(hub, 1, T0, 10.0)
    hub.flush(now=10.0)
    assert [f["bars"][0]["close"] for f in frames(client)] == [10.0]
    woken = []
    hub.wake = lambda: woken.append(True)
    tick(hub, 2, T0 + 900, 12.0)
    tick(hub, 3, T0 + 1100, 13.0)
    hub.flush(now=10.0 + MIN_GAP / 2)
    assert frames(client) == []  # held
    assert woken  # a flush will come for them
    hub.flush(now=10.0 + MIN_GAP)  # no new points: the held changes go out
    (delta,) = frames(client)
    assert [(b["t"], b["close"]) for b in delta["bars"]] == [(T0, 12.0), (T0 + 1000, 13.0)]
    hub.flush(now=20.0)
    assert frames(client) == []  # nothing held, nothing sent
