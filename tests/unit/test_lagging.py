"""A viewer is behind by the age and size of what waits for it, not only by
its count of frames: the pure rule, the channel's bookkeeping, and the hub
driven with a clock of the test's."""

import asyncio
import json

import pytest

from dashboard.channel import Backlog, ClientChannel
from dashboard.config import DashboardConfig
from dashboard.lagging import Lagging, worst_lag
from dashboard.protocol import Point
from tests.support.hubs import BULK, Clock, bulk_hub, kinds, take_bulk

# --- the pure rule ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("backlog", "behind"),
    [
        (Backlog(frames=0, size=0, age=0.0), False),
        (Backlog(frames=63, size=4_000_000, age=1.99), False),
        (Backlog(frames=64, size=0, age=0.0), True),  # by count, as before
        (Backlog(frames=1, size=0, age=2.0), True),  # one frame, but 2 s old
        (Backlog(frames=2, size=4 * 2**20, age=0.1), True),  # two frames, 4 MiB
    ],
)
def test_behind_by_frames_or_age_or_bytes(backlog, behind):
    assert backlog.behind(frames=64, seconds=2.0, size=4 * 2**20) is behind


@pytest.mark.parametrize(
    ("backlog", "caught_up"),
    [
        (Backlog(frames=32, size=2 * 2**20, age=0.99), True),
        (Backlog(frames=33, size=0, age=0.0), False),
        (Backlog(frames=0, size=0, age=1.0), False),  # still half the lag old
        (Backlog(frames=1, size=2 * 2**20 + 1, age=0.0), False),
    ],
)
def test_caught_up_only_below_half_of_every_bound(backlog, caught_up):
    assert backlog.caught_up(frames=64, seconds=2.0, size=4 * 2**20) is caught_up


# --- the channel's bookkeeping ---------------------------------------------------------


async def test_channel_ages_its_oldest_unwritten_frame_including_the_one_being_written():
    """A frame counts as waiting from when it is queued until the writer asks
    for the next one (a write blocks while the peer's TCP window is full)."""
    clock = Clock()
    channel = ClientChannel(10, max_lag=2.0, clock=clock)
    channel.push("a" * 100)
    clock.now += 1.5
    channel.push("b" * 50)
    assert channel.backlog(clock.now) == Backlog(frames=2, size=150, age=1.5)
    assert await channel.next_frame() == "a" * 100  # being written: still waiting
    clock.now += 1.0
    assert channel.backlog(clock.now) == Backlog(frames=2, size=150, age=2.5)
    assert channel.behind(clock.now)
    assert await channel.next_frame() == "b" * 50  # "a" written; "b" queued 1 s ago
    assert channel.backlog(clock.now) == Backlog(frames=1, size=50, age=1.0)
    waiting = asyncio.ensure_future(channel.next_frame())  # "b" written, nothing left
    await asyncio.sleep(0)
    assert channel.backlog(clock.now) == Backlog(frames=0, size=0, age=0.0)
    channel.close(1000, "")
    assert await waiting is None


def test_a_discarded_outbox_leaves_nothing_behind():
    clock = Clock()
    channel = ClientChannel(10, max_bytes=100, clock=clock)
    channel.push("x" * 200)
    assert channel.behind(clock.now)
    channel.close(1008, "slow", discard=True)
    assert channel.backlog(clock.now + 60) == Backlog(0, 0, 0.0)


@pytest.mark.parametrize(("lag", "size"), [(0.0, 100), (2.0, 0)])
def test_channel_refuses_bounds_that_mean_nothing(lag, size):
    with pytest.raises(ValueError, match="max_lag must be > 0 and max_bytes >= 1"):
        ClientChannel(10, max_lag=lag, max_bytes=size)


# --- the hub with 10,000-point batches -------------------------------------------------


def test_a_few_big_old_batches_make_a_viewer_conflated_not_stale():
    """With 10,000-point batches a viewer falls seconds behind with a handful
    of frames (far from the frame count): once its oldest unsent batch is
    older than max_viewer_lag it is sent no more batches, and when it has
    drained it gets one conflated batch with the latest point per feed."""
    clock = Clock()
    hub = bulk_hub(clock, client_conflate_frames=64, max_viewer_lag=2.0)
    slow, reader = hub.connect(), hub.connect()
    reader.take_all()
    seq = 0
    for _ in range(2):  # 2 batches 1 s apart; 1 s later its hello is 2 s old
        seq = take_bulk(hub, "A", seq + 1)
        hub.flush()
        reader.take_all()
        clock.now += 1.0
    assert slow.queued == 4  # hello, snapshot, 2 batches: far below 64 frames
    take_bulk(hub, "B", 1, 10)
    last = take_bulk(hub, "A", seq + 1)
    hub.flush()
    assert slow.queued == 4, "a batch was queued behind 2 s old data"
    assert slow.lagging_since == clock.now
    assert kinds(reader.take_all()) == ["batch"]  # the reader got it
    assert kinds(slow.take_all()) == ["hello", "snapshot", "batch", "batch"]
    clock.now += 0.1
    hub.flush()
    (conflated,) = [json.loads(frame) for frame in slow.take_all()]
    assert conflated["conflated"] is True
    assert {(p["feed"], p["seq"]) for p in conflated["points"]} == {("A", last), ("B", 10)}
    assert hub.metrics.registry.get_sample_value("livefeed_conflations_total") == 1


def test_queued_bytes_past_the_bound_count_as_behind():
    """Two frames are few and young, but 2 x 10,000 points (560 KB each) is
    past an 800 KB bound: the next batch is held for conflation."""
    clock = Clock()
    hub = bulk_hub(clock, client_conflate_frames=64, max_viewer_bytes=800_000)
    slow = hub.connect()
    slow.take_all()
    take_bulk(hub, "A", 1)
    hub.flush()
    take_bulk(hub, "A", BULK + 1)
    hub.flush()
    assert slow.backlog(clock.now).size >= 800_000 and slow.lagging_since is None
    take_bulk(hub, "A", 2 * BULK + 1)
    hub.flush()
    assert slow.queued == 2 and slow.lagging_since == clock.now


def test_viewer_behind_by_age_past_slow_client_timeout_is_closed_1008():
    """A viewer that never reads is closed by the slow-viewer rule
    slow_client_timeout after it fell max_viewer_lag behind, however few its
    frames."""
    clock = Clock()
    hub = bulk_hub(clock, client_conflate_frames=64, max_viewer_lag=1.0, slow_client_timeout=3.0)
    stuck = hub.connect()
    seq = 0
    for _ in range(7):  # one bulk batch every 0.5 s
        seq = take_bulk(hub, "A", seq + 1, 100)
        hub.flush()
        clock.now += 0.5
    # 1.0 s behind from the third flush (at 101.0); closed past 3 s of that.
    assert stuck.lagging_since == 101.0 and stuck.close_code is None
    clock.now = 104.01
    hub.flush()
    assert (stuck.close_code, stuck.close_reason) == (1008, "too slow: reconnect and resume")


def test_worst_lag_gauge_shows_the_stalest_viewer():
    """livefeed_viewer_lag_seconds is the worst viewer's lag: 0 while every
    viewer keeps up, the age of its oldest unsent frame when one does not,
    and how long it has been conflated while it is."""
    clock = Clock()
    hub = bulk_hub(clock, max_viewer_lag=2.0)

    def gauge() -> float:
        return hub.metrics.registry.get_sample_value("livefeed_viewer_lag_seconds")

    assert gauge() == 0.0
    slow, reader = hub.connect(), hub.connect()
    reader.take_all()
    slow.take_all()
    assert gauge() == 0.0
    take_bulk(hub, "A", 1, 10)
    hub.flush()
    reader.take_all()
    clock.now += 1.5
    assert gauge() == 1.5
    clock.now += 1.0
    take_bulk(hub, "A", 11, 10)
    hub.flush()  # held: the slow one is conflated from now on
    slow.take_all()  # it drains, but has not been sent the latest yet
    clock.now += 0.5
    assert gauge() == 0.5
    hub.flush()  # its conflated batch
    slow.take_all()
    reader.take_all()
    assert gauge() == 0.0


def test_lagging_due_takes_the_time_and_frees_a_caught_up_viewer():
    """Lagging.due(now) lets a viewer go only once it is below half of every
    bound at *now*: an unsent frame 1.5 s old (of a 2 s bound) still holds it."""
    clock = Clock()
    lagging = Lagging(timeout=30.0)
    client = ClientChannel(10, max_lag=2.0, clock=clock)
    client.push("old frame")
    lagging.hold(client, [Point("A", 1, 0, {"v": 1.0})], clock.now)
    assert lagging.due(clock.now + 1.5) == ([], [])
    client.take_all()
    ((caught_up, latest),), hopeless = lagging.due(clock.now + 1.6)
    assert caught_up is client and [p.seq for p in latest] == [1] and hopeless == []
    assert worst_lag([client], clock.now + 2.0) == 0.0


# --- the settings ----------------------------------------------------------------------


def test_lag_settings_from_the_command_line_environment_and_file(tmp_path, capsys):
    """--max-viewer-lag, DASHBOARD_MAX_VIEWER_BYTES and the file set the bounds;
    a bound of 0 stops the start with one line naming where it came from."""
    from dashboard.web.cli import config_from_args

    config = config_from_args(
        ["--max-viewer-lag", "0.5"], environ={"DASHBOARD_MAX_VIEWER_BYTES": "1000"}
    )
    assert (config.max_viewer_lag, config.max_viewer_bytes) == (0.5, 1000)
    assert DashboardConfig().max_viewer_lag == 2.0
    assert DashboardConfig().max_viewer_bytes == 4 * 2**20
    for argv, environ, message in (
        (["--max-viewer-lag", "0"], {}, '--max-viewer-lag must be a number > 0, not "0"'),
        (
            [],
            {"DASHBOARD_MAX_VIEWER_BYTES": "0"},
            '$DASHBOARD_MAX_VIEWER_BYTES must be an integer >= 1, not "0"',
        ),
    ):
        with pytest.raises(SystemExit) as exited:
            config_from_args(argv, environ=environ)
        assert exited.value.code == 2
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert message in line
