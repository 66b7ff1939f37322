"""Per-client limits without a server: token buckets, address counts, the hub's checks."""

import asyncio
import json
from dataclasses import replace

import pytest

from dashboard.backplane import MemoryBackplane
from dashboard.config import DashboardConfig
from dashboard.hub import Hub
from dashboard.hub_settings import HubSettings
from dashboard.limits import (
    CONNECTIONS_PER_ADDRESS,
    MESSAGE_RATE,
    SUBSCRIBE_NAMES,
    SUBSCRIBE_RATE,
    Limits,
    Rate,
    TokenBucket,
    limits_from_config,
)
from dashboard.protocol import ProtocolError, parse_client_message
from feeds.base import FeedInfo, Series


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_a_burst_then_the_rate():
    """A full bucket allows `burst` at once, then one more per 1/rate seconds."""
    clock = FakeClock()
    bucket = TokenBucket(rate=2.0, burst=3, clock=clock)
    assert [bucket.allow() for _ in range(4)] == [True, True, True, False]
    clock.now += 0.25  # half a token
    assert not bucket.allow()
    clock.now += 0.25
    assert bucket.allow() and not bucket.allow()


def test_bucket_refills_only_up_to_its_burst():
    """A long quiet spell refills the bucket to `burst`, never beyond."""
    clock = FakeClock()
    bucket = TokenBucket(rate=10.0, burst=2, clock=clock)
    clock.now += 3600
    assert [bucket.allow() for _ in range(3)] == [True, True, False]


async def test_take_waits_for_the_next_token_instead_of_refusing():
    """Past its burst, take() waits until the next token is due and takes it:
    an ingest client over its rate is slowed, never refused."""
    bucket = TokenBucket(rate=50.0, burst=1)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    started = loop.time()
    assert [await bucket.take(stop) for _ in range(4)] == [True] * 4
    assert loop.time() - started >= 3 / 50 * 0.9  # three waits of 1/50 s
    assert not bucket.allow()  # each wait's token was taken


async def test_take_gives_up_when_stopped():
    """A server shutting down ends the wait: nothing is taken."""
    bucket = TokenBucket(rate=0.001, burst=1)
    stop = asyncio.Event()
    assert await bucket.take(stop)
    asyncio.get_running_loop().call_later(0.05, stop.set)
    async with asyncio.timeout(5):
        assert await bucket.take(stop) is False


def test_rate_zero_means_no_bucket_and_bad_rates_are_refused():
    """Rate 0 is "no limit" (no bucket); negative rates or bursts under 1 are errors."""
    assert Rate(0.0, 0.0).bucket() is None
    assert isinstance(Rate(1.0, 1.0).bucket(), TokenBucket)
    with pytest.raises(ValueError):
        Rate(-1.0, 5.0)
    with pytest.raises(ValueError):
        Rate(1.0, 0.5)


def test_connections_per_address_are_counted_and_released():
    """An address may hold max_connections_per_address sockets; one more is
    refused and counted; closing one makes room; 0 means no limit."""
    limits = Limits(max_connections_per_address=2)
    assert limits.open_connection("10.0.0.1") and limits.open_connection("10.0.0.1")
    assert not limits.open_connection("10.0.0.1")
    assert limits.open_connection("10.0.0.2")  # other addresses are not affected
    assert limits.violations[CONNECTIONS_PER_ADDRESS] == 1
    limits.close_connection("10.0.0.1")
    assert limits.open_connection("10.0.0.1")
    for _ in range(3):
        limits.close_connection("10.0.0.1")
    limits.close_connection("10.0.0.2")
    assert not limits.connections  # the table keeps only live addresses
    unlimited = Limits(max_connections_per_address=0)
    assert all(unlimited.open_connection("10.0.0.1") for _ in range(1000))


def test_limits_follow_the_config():
    """The config's rates become buckets with 5 s of burst; the subscribe burst is its own."""
    config = replace(
        DashboardConfig(),
        viewer_max_messages_per_s=4.0,
        ingest_max_messages_per_s=0.0,
        viewer_max_subscribes_per_s=0.5,
        viewer_subscribe_burst=7,
        viewer_max_subscribe_names=9,
        max_connections_per_address=3,
    )
    limits = limits_from_config(config)
    assert limits.viewer_messages == Rate(4.0, 20.0)
    assert limits.viewer_subscribes == Rate(0.5, 7)
    assert limits.ingest_messages.bucket() is None
    assert limits.max_subscribe_names == 9 and limits.max_connections_per_address == 3


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"viewer_max_messages_per_s": -1.0},
            "viewer_max_messages_per_s must be a number >= 0, not -1.0",
        ),
        (
            {"max_connections_per_address": -1},
            "max_connections_per_address must be an integer >= 0, not -1",
        ),
        (
            {"viewer_max_message_bytes": 0},
            "viewer_max_message_bytes must be an integer >= 1, not 0",
        ),
        ({"viewer_subscribe_burst": 0}, "viewer_subscribe_burst must be an integer >= 1, not 0"),
        ({"read_timeout": 10.0, "ws_ping_interval": 0.0}, "needs a ws_ping_interval"),
        ({"read_timeout": 10.0, "ws_ping_interval": 10.0}, "needs a ws_ping_interval"),
    ],
)
def test_config_refuses_bad_limits(changes, message):
    """Negative limits, and a read timeout that pings do not keep below, are refused."""
    with pytest.raises(ValueError, match=message):
        replace(DashboardConfig(), **changes)


def test_config_accepts_limits_turned_off():
    """0 turns off rates, the address limit, pings and the read timeout."""
    config = replace(
        DashboardConfig(),
        viewer_max_messages_per_s=0.0,
        max_connections_per_address=0,
        ws_ping_interval=0.0,
        read_timeout=0.0,
    )
    assert config.read_timeout == 0.0


def test_parser_refuses_a_subscribe_listing_too_many_names():
    """A subscribe naming more feeds, series or resumed feeds than allowed is a
    too_many_names error; at the limit it parses."""
    names = [f"F{i}" for i in range(5)]
    assert parse_client_message(json.dumps({"type": "subscribe", "feeds": names}), max_names=5)
    for message in (
        {"type": "subscribe", "feeds": [*names, "X"]},
        {"type": "subscribe", "series": [*names, "X"]},
        {"type": "subscribe", "resume": {"epoch": "e", "seqs": {n: 1 for n in [*names, "X"]}}},
    ):
        with pytest.raises(ProtocolError) as error:
            parse_client_message(json.dumps(message), max_names=5)
        assert error.value.code == "too_many_names"


def make_hub(limits: Limits) -> Hub:
    hub = Hub(MemoryBackplane(), HubSettings(flush_interval=3600), limits=limits)
    hub.add_feed(FeedInfo("A", series=(Series("price"),)))
    return hub


def test_hub_closes_a_viewer_over_its_message_rate_1008():
    """The message after the burst closes the viewer with 1008 and a reason,
    is counted, and leaves other viewers alone."""
    limits = Limits(viewer_messages=Rate(1.0, 3))
    hub = make_hub(limits)
    flooder, other = hub.connect(), hub.connect()
    for _ in range(3):
        hub.receive(flooder, '{"type": "ping"}')
    assert not flooder.closing
    hub.receive(flooder, '{"type": "ping"}')
    assert (flooder.close_code, flooder.close_reason) == (1008, "too many messages")
    assert limits.violations == {MESSAGE_RATE: 1}
    hub.receive(flooder, '{"type": "ping"}')  # after the close: ignored, not counted again
    assert limits.violations == {MESSAGE_RATE: 1}
    other.take_all()
    hub.receive(other, '{"type": "ping", "id": 1}')
    assert json.loads(other.take_all()[-1]) == {"type": "pong", "id": 1}
    assert not other.closing


def test_hub_closes_a_viewer_over_its_subscribe_rate_1008():
    """Subscribes beyond their own burst close with 1008 even though pings are
    still within the message rate."""
    limits = Limits(viewer_messages=Rate(100.0, 100), viewer_subscribes=Rate(0.5, 2))
    hub = make_hub(limits)
    client = hub.connect(subscribe=False)
    client.take_all()
    for _ in range(2):
        hub.receive(client, '{"type": "subscribe"}')
    assert [json.loads(f)["type"] for f in client.take_all()] == ["snapshot", "snapshot"]
    hub.receive(client, '{"type": "ping"}')
    hub.receive(client, '{"type": "subscribe"}')
    assert (client.close_code, client.close_reason) == (1008, "too many subscribe messages")
    assert limits.violations == {SUBSCRIBE_RATE: 1}


def test_hub_answers_an_oversized_subscribe_with_an_error_and_counts_it():
    """A subscribe listing too many names gets an error message; the viewer stays."""
    limits = Limits(max_subscribe_names=2)
    hub = make_hub(limits)
    client = hub.connect()
    client.take_all()
    hub.receive(client, json.dumps({"type": "subscribe", "feeds": ["A", "B", "C"]}))
    (error,) = [json.loads(f) for f in client.take_all()]
    assert error["type"] == "error" and error["code"] == "too_many_names"
    assert limits.violations == {SUBSCRIBE_NAMES: 1}
    assert not client.closing


def test_hub_forgets_a_viewers_quota_when_it_leaves():
    """Once a viewer has left, its buckets are gone: a late frame from it is
    neither answered nor counted."""
    hub = make_hub(Limits(viewer_messages=Rate(1.0, 1)))
    client = hub.connect()
    client.take_all()
    hub.disconnect(client)
    hub.receive(client, '{"type": "ping"}')
    assert client.take_all() == [] and hub.limits.violations == {}
    assert not hub.limits.allow_message(client)
