"""Viewers are told when the shared backplane goes down and comes back."""

import json

from dashboard.hub import Hub
from dashboard.hub_settings import HubSettings
from feeds.base import FeedInfo, Series
from tests.support.backplanes import SwitchableBackplane
from tests.support.hubs import feed_points


def switchable_hub() -> tuple[Hub, SwitchableBackplane]:
    backplane = SwitchableBackplane()
    hub = Hub(backplane, HubSettings(flush_interval=3600))
    hub.add_feed(FeedInfo("A", series=(Series("price"), Series("volume"))))
    return hub, backplane


def messages(client) -> list[dict]:
    return [json.loads(frame) for frame in client.take_all()]


def test_connected_viewers_are_told_at_the_next_flush_and_keep_their_points():
    hub, backplane = switchable_hub()
    client = hub.connect()
    hello = messages(client)[0]
    assert hello["backplane_up"] is True
    feed_points(hub, "A", range(1, 3))
    backplane.go_down()
    assert hub.backplane_up is False
    hub.flush()
    # Points taken before it went down still reach the viewer; then the news.
    told = messages(client)
    assert [m["type"] for m in told] == ["backplane", "batch"]
    assert told[0] == {"type": "backplane", "up": False}
    assert [p["seq"] for p in told[1]["points"]] == [1, 2]
    hub.flush()
    assert client.take_all() == []  # told once
    backplane.go_up()
    hub.flush()
    assert messages(client) == [{"type": "backplane", "up": True}]


def test_a_viewer_connecting_while_down_learns_it_from_its_hello():
    hub, backplane = switchable_hub()
    backplane.go_down()
    hub.flush()
    hello, snapshot = messages(hub.connect())
    assert hello["type"] == "hello" and hello["backplane_up"] is False
    assert snapshot["type"] == "snapshot"
    backplane.go_up()
    hello, _ = messages(hub.connect())
    assert hello["backplane_up"] is True  # the cached hello follows the state


def test_a_flap_within_one_flush_interval_tells_nobody():
    hub, backplane = switchable_hub()
    client = hub.connect()
    client.take_all()
    backplane.go_down()
    backplane.go_up()
    hub.flush()
    assert client.take_all() == []


def test_a_hub_starts_up_whatever_its_unconnected_backplane_says():
    """A Redis backplane is not up before connect(), and connect() does not
    call on_state: the hub must not take that for down (its viewers would be
    told "points paused" for good)."""
    backplane = SwitchableBackplane()
    backplane._up = False  # as a backplane not yet connected
    hub = Hub(backplane, HubSettings(flush_interval=3600))
    assert hub.backplane_up is True
    assert json.loads(hub.hello())["backplane_up"] is True
