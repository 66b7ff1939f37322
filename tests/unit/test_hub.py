"""The hub without a server: feeds in, frames out, driven step by step."""

import asyncio
import json

import pytest

from dashboard.backplane import MemoryBackplane
from dashboard.hub import Hub
from dashboard.hub_runner import HubRunner
from dashboard.hub_settings import HubSettings
from dashboard.protocol import Point, Resume, Subscribe
from feeds.base import FeedInfo, Series
from tests.support.hubs import feed_points, make_hub
from tests.support.waiting import wait_until


def silent_client(hub: Hub):
    """A client connected with await_subscribe, its hello already read."""
    client = hub.connect(subscribe=False)
    client.take_all()
    return client


def messages(client) -> list[dict]:
    return [json.loads(frame) for frame in client.take_all()]


def seqs(message: dict, feed: str | None = None) -> list[int]:
    return [p["seq"] for p in message["points"] if feed is None or p["feed"] == feed]


def test_new_client_gets_hello_then_snapshot_of_everything():
    """A client that sends nothing gets hello, then every feed's held points."""
    hub = make_hub()
    feed_points(hub, "A", range(1, 4))
    feed_points(hub, "B", range(1, 3))
    hub.flush()
    hello, snapshot = messages(hub.connect())
    assert hello["type"] == "hello" and hello["epoch"] == hub.epoch
    assert [f["name"] for f in hello["feeds"]] == ["A", "B"]
    assert hello["feeds"][0]["series"][1] == {
        "name": "volume",
        "kind": "line",
        "unit": "",
        "plot": False,
        "level": False,
    }
    assert snapshot["type"] == "snapshot" and snapshot["reset"] is False
    assert snapshot["feeds"] == ["A", "B"]
    assert seqs(snapshot, "A") == [1, 2, 3] and seqs(snapshot, "B") == [1, 2]


def test_flush_sends_one_batch_with_every_point_since_last():
    """Each flush sends one frame per client holding all new points, in order."""
    hub = make_hub()
    client = hub.connect()
    client.take_all()
    feed_points(hub, "A", range(1, 6))
    feed_points(hub, "B", range(1, 3))
    hub.flush()
    (batch,) = messages(client)
    assert batch["type"] == "batch"
    assert seqs(batch, "A") == [1, 2, 3, 4, 5] and seqs(batch, "B") == [1, 2]
    hub.flush()  # nothing new: nothing sent
    assert client.take_all() == []


def test_same_subscription_shares_one_encoded_frame():
    """Clients with the same subscription receive the very same string."""
    hub = make_hub()
    clients = [hub.connect() for _ in range(3)]
    for client in clients:
        client.take_all()
    feed_points(hub, "A", range(1, 3))
    hub.flush()
    frames = [client.take_all()[0] for client in clients]
    assert frames[0] is frames[1] is frames[2]


def test_subscribe_narrows_feeds_and_series():
    """A subscription to feed B's price gets only B points with only price."""
    hub = make_hub()
    feed_points(hub, "B", range(1, 3))
    hub.flush()
    client = silent_client(hub)
    hub.receive(client, '{"type":"subscribe","feeds":["B"],"series":["price"]}')
    (snapshot,) = messages(client)
    assert snapshot["feeds"] == ["B"]
    assert snapshot["points"][0]["values"] == {"price": 1.0}
    feed_points(hub, "A", range(1, 3))
    feed_points(hub, "B", range(3, 4))
    hub.flush()
    (batch,) = messages(client)
    assert batch["points"] == [{"feed": "B", "seq": 3, "ts": 1003, "values": {"price": 3.0}}]


def test_unsubscribed_client_gets_no_batches():
    """With await_subscribe, nothing but hello arrives before subscribe."""
    hub = make_hub()
    client = hub.connect(subscribe=False)
    feed_points(hub, "A", range(1, 3))
    hub.flush()
    assert [m["type"] for m in messages(client)] == ["hello"]


def test_resume_gets_exactly_the_missed_points_then_live():
    """Resuming from seq n replays n+1.. and the next batch continues with no gap."""
    hub = make_hub()
    feed_points(hub, "A", range(1, 11))
    feed_points(hub, "B", range(1, 6))
    hub.flush()
    client = silent_client(hub)
    hub.subscribe(client, Subscribe(resume=Resume(hub.epoch, {"A": 7, "B": 5})))
    (replay,) = messages(client)
    assert replay["type"] == "replay" and replay["feeds"] == ["A", "B"]
    assert seqs(replay, "A") == [8, 9, 10] and seqs(replay, "B") == []
    feed_points(hub, "A", range(11, 13))
    hub.flush()
    (batch,) = messages(client)
    assert seqs(batch, "A") == [11, 12]


def test_resume_from_other_epoch_gets_reset_snapshot():
    """A client from another server run gets an empty replay and a reset snapshot."""
    hub = make_hub()
    feed_points(hub, "A", range(1, 4))
    hub.flush()
    client = silent_client(hub)
    hub.subscribe(client, Subscribe(resume=Resume("old-epoch", {"A": 99})))
    replay, snapshot = messages(client)
    assert replay["points"] == [] and replay["feeds"] == []
    assert snapshot["reset"] is True and snapshot["feeds"] == ["A", "B"]
    assert seqs(snapshot, "A") == [1, 2, 3]


def test_resume_too_old_resets_only_that_feed():
    """A feed whose missed points left the ring buffer is reset; others replay."""
    hub = make_hub(history_size=5)
    feed_points(hub, "A", range(1, 21))
    feed_points(hub, "B", range(1, 4))
    hub.flush()
    client = silent_client(hub)
    hub.subscribe(client, Subscribe(resume=Resume(hub.epoch, {"A": 3, "B": 2})))
    replay, snapshot = messages(client)
    assert replay["feeds"] == ["B"] and seqs(replay) == [3]
    assert snapshot["reset"] is True and snapshot["feeds"] == ["A"]
    assert seqs(snapshot) == [16, 17, 18, 19, 20]


def test_resume_ignores_feeds_the_server_does_not_have():
    """resume.seqs naming a vanished feed is ignored, not refused."""
    hub = make_hub()
    feed_points(hub, "A", range(1, 4))
    hub.flush()
    client = silent_client(hub)
    hub.subscribe(client, Subscribe(resume=Resume(hub.epoch, {"A": 1, "GONE": 7})))
    replay, snapshot = messages(client)
    assert replay["feeds"] == ["A"] and seqs(replay) == [2, 3]
    assert snapshot["feeds"] == ["B"] and snapshot["points"] == []


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ('{"type":"subscribe","feeds":["NOPE"]}', "unknown_feed"),
        ('{"type":"subscribe","series":["nope"]}', "unknown_series"),
        ("not json", "bad_json"),
        ('{"type":"teleport"}', "unknown_type"),
    ],
)
def test_bad_message_answers_error_and_keeps_subscription(message, code):
    """A rejected message gets an error; the client's batches go on unchanged."""
    hub = make_hub()
    client = hub.connect()
    client.take_all()
    hub.receive(client, message)
    (error,) = messages(client)
    assert error["type"] == "error" and error["code"] == code
    feed_points(hub, "A", range(1, 2))
    hub.flush()
    assert seqs(messages(client)[0]) == [1]


def test_feeds_added_between_flushes_are_announced_in_one_delta_before_their_points():
    """Feeds registered while viewers are connected reach them as one small
    `feeds` message per flush (not a hello each), before the batch that
    carries their first points."""
    hub = make_hub()
    client = hub.connect()
    client.take_all()
    for name in ("LATE", "LATER"):
        hub.add_feed(FeedInfo(name, series=(Series("v", unit="m"),)))
        hub.take(Point(name, 1, 5, {"v": 1.0}))
    assert client.take_all() == []  # nothing until the flush
    hub.flush()
    delta, batch = messages(client)
    assert delta == {
        "type": "feeds",
        "added": [
            FeedInfo(n, series=(Series("v", unit="m"),)).to_dict() for n in ("LATE", "LATER")
        ],
    }
    assert [p["feed"] for p in batch["points"]] == ["LATE", "LATER"]
    hub.flush()
    assert client.take_all() == []  # announced once


def test_viewer_connecting_before_the_announcement_learns_each_feed_once():
    """A viewer connecting between a feed's creation and the next flush finds
    it in its hello; viewers connected before get the delta first, and only once."""
    hub = make_hub()
    early = hub.connect()
    early.take_all()
    hub.add_feed(FeedInfo("LATE", series=(Series("v"),)))
    late = hub.connect()
    hub.take(Point("LATE", 1, 5, {"v": 1.0}))
    hub.flush()
    assert [m["type"] for m in messages(early)] == ["feeds", "batch"]
    hello, snapshot, batch = messages(late)
    assert [f["name"] for f in hello["feeds"]] == ["A", "B", "LATE"]
    assert (snapshot["type"], batch["type"]) == ("snapshot", "batch")


def test_ping_gets_pong():
    """ping is answered with a pong echoing its id."""
    hub = make_hub()
    client = silent_client(hub)
    hub.receive(client, '{"type":"ping","id":42}')
    assert messages(client) == [{"type": "pong", "id": 42}]


def test_full_outbox_closes_client_1008_and_others_go_on():
    """A client whose outbox is full when a frame must be queued is closed with
    1008 and its frames dropped; the others keep receiving."""
    hub = make_hub(client_max_frames=4, client_conflate_frames=4)
    stuck, reader = hub.connect(), hub.connect()  # each holds hello + snapshot
    for _ in range(3):  # pongs are not batches: never conflated
        hub.receive(stuck, '{"type":"ping","id":1}')
    assert stuck.close_code == 1008 and stuck.queued == 0
    feed_points(hub, "A", range(1, 2))
    hub.flush()
    assert seqs(messages(reader)[-1]) == [1]


def lagging_pair(**kwargs):
    """A hub with a client that has stopped reading and one that reads."""
    hub = make_hub(client_max_frames=10, client_conflate_frames=4, **kwargs)
    slow, fast = hub.connect(), hub.connect()
    fast.take_all()
    return hub, slow, fast


def test_lagging_client_gets_latest_point_per_feed_once_drained():
    """Past the conflation mark a client gets no batches; once it has drained
    it gets one batch marked conflated with the latest point of each feed,
    then live batches again. A reading client gets everything."""
    hub, slow, fast = lagging_pair()
    fast_got: list[dict] = []
    for seq in range(1, 8):
        feed_points(hub, "A", range(seq, seq + 1))
        feed_points(hub, "B", range(seq, seq + 1))
        hub.flush(now=float(seq))
        fast_got += messages(fast)
    assert slow.queued == 4 and slow.lagging_since == 3.0
    before = messages(slow)  # the client reads again: hello, snapshot, batches 1-2
    assert [seqs(m) for m in before[2:]] == [[1, 1], [2, 2]]
    hub.flush(now=8.0)
    conflated = messages(slow)
    assert len(conflated) == 1 and conflated[0]["conflated"] is True
    assert {(p["feed"], p["seq"]) for p in conflated[0]["points"]} == {("A", 7), ("B", 7)}
    feed_points(hub, "A", range(8, 9))
    hub.flush(now=9.0)
    live = messages(slow)
    assert live == [{"type": "batch", "points": live[0]["points"]}]
    assert seqs(live[0]) == [8]
    fast_got += messages(fast)
    assert [s for m in fast_got for s in seqs(m, "A")] == list(range(1, 9))
    assert hub.metrics.registry.get_sample_value("livefeed_conflations_total") == 1


def test_conflated_batch_keeps_the_subscription_series():
    """A conflated batch carries only the series the client subscribed to."""
    hub, slow, _ = lagging_pair()
    hub.subscribe(slow, Subscribe(feeds=frozenset({"A"}), series=frozenset({"price"})))
    for seq in range(1, 8):
        feed_points(hub, "A", range(seq, seq + 1))
        hub.flush(now=float(seq))
    slow.take_all()
    hub.flush(now=8.0)
    (conflated,) = messages(slow)
    assert conflated["conflated"] and conflated["points"][0]["values"] == {"price": 7.0}


def test_client_behind_past_the_timeout_is_closed_1008():
    """A client that stays behind longer than slow_client_timeout is closed
    with 1008 and its queued frames dropped."""
    hub, slow, fast = lagging_pair(slow_client_timeout=5.0)
    for seq in range(1, 12):
        feed_points(hub, "A", range(seq, seq + 1))
        hub.flush(now=float(seq))
        fast.take_all()
    assert slow.close_code == 1008 and slow.queued == 0
    assert "too slow" in slow.close_reason and fast.close_code is None


def test_subscribe_while_lagging_starts_afresh():
    """A lagging client that subscribes again is answered in full and no
    longer conflated."""
    hub, slow, _ = lagging_pair()
    for seq in range(1, 8):
        feed_points(hub, "A", range(seq, seq + 1))
        hub.flush(now=float(seq))
    slow.take_all()
    hub.receive(slow, '{"type":"subscribe"}')
    assert slow.lagging_since is None and slow.conflated == {}
    snapshot = messages(slow)[0]
    assert snapshot["type"] == "snapshot" and seqs(snapshot, "A")[-1] == 7


async def test_close_all_drains_then_signals_close():
    """close_all lets queued frames out, then next_frame reports the close (1001)."""
    hub = make_hub()
    client = hub.connect()
    hub.close_all()
    frames = [await client.next_frame() for _ in range(3)]
    assert [json.loads(f)["type"] for f in frames[:2]] == ["hello", "snapshot"]
    assert frames[2] is None and client.close_code == 1001


async def test_publish_validates_and_started_hub_delivers():
    """publish refuses bad points; a started hub batches good ones on its own."""
    hub = Hub(MemoryBackplane(), HubSettings(flush_interval=0.01))
    hub.add_feed(FeedInfo("A", series=(Series("price"),)))
    runner = HubRunner(hub)
    with pytest.raises(KeyError):
        await runner.publish("NOPE", {"price": 1})
    with pytest.raises(ValueError):
        await runner.publish("A", {"price": "high"})
    await runner.start()
    try:
        client = hub.connect()
        for value in (1.0, 2.0, 3.0):
            await runner.publish("A", {"price": value})
        got: list[int] = []
        async with asyncio.timeout(5):
            while got != [1, 2, 3]:
                frame = json.loads(await client.next_frame())
                if frame["type"] == "batch":
                    got += seqs(frame)
    finally:
        await runner.stop()
    assert hub.histories["A"].last_seq == 3


async def test_idle_hub_sends_a_new_point_without_waiting_for_the_interval():
    """After a quiet spell a new point is sent right away, even with an
    hour-long flush interval; the next one waits for the interval."""
    hub = Hub(MemoryBackplane(), HubSettings(flush_interval=3600, coalesce=0.001))
    hub.add_feed(FeedInfo("A", series=(Series("price"),)))
    runner = HubRunner(hub)
    await runner.start()
    try:
        client = hub.connect()
        await runner.publish("A", {"price": 1.0})
        async with asyncio.timeout(5):
            while (frame := json.loads(await client.next_frame()))["type"] != "batch":
                pass
        assert seqs(frame) == [1]
        await runner.publish("A", {"price": 2.0})
        await wait_until(lambda: hub.points_waiting == 1, what="point 2 taken by the hub")
        assert client.take_all() == []  # held for the rest of the interval
    finally:
        await runner.stop()


async def test_backplane_sequences_concurrent_publishers_gaplessly():
    """Concurrent publishers on a tiny queue still yield seq 1..n in order per feed."""
    backplane = MemoryBackplane(max_pending=3)

    async def producer(feed: str) -> None:
        for i in range(50):
            await backplane.publish(feed, {"v": i})

    async def consumer() -> dict[str, list[int]]:
        seen: dict[str, list[int]] = {"A": [], "B": []}
        async for point in backplane.points():
            seen[point.feed].append(point.seq)
            if sum(map(len, seen.values())) == 200:
                return seen
        raise AssertionError("points() ended")

    async with asyncio.timeout(10):
        result = await asyncio.gather(
            consumer(), producer("A"), producer("A"), producer("B"), producer("B")
        )
    seen = result[0]
    assert seen["A"] == list(range(1, 101)) and seen["B"] == list(range(1, 101))
