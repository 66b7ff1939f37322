"""HubSettings: the hub's settings, built once from the config."""

from dataclasses import fields

import pytest

from dashboard.config import DashboardConfig
from dashboard.hub_settings import NOT_CONFIGURED, HubSettings

#: A value for each configured hub setting that is neither its default here
#: nor the config's default, so a field not copied shows.
DISTINCT = {
    "flush_interval": 0.125,
    "history_size": 1234,
    "snapshot_size": 567,
    "pushed_history_size": 89,
    "client_max_frames": 77,
    "client_conflate_frames": 33,
    "slow_client_timeout": 12.5,
    "max_viewer_lag": 3.5,
    "max_viewer_bytes": 4321,
}


def test_from_config_copies_every_configured_setting():
    """Each hub setting that has a config field takes the config's value;
    the others (tuned in code) keep their defaults."""
    configured = {f.name for f in fields(HubSettings)} - NOT_CONFIGURED
    assert configured == DISTINCT.keys()
    settings = HubSettings.from_config(DashboardConfig(**DISTINCT))
    assert {name: getattr(settings, name) for name in configured} == DISTINCT
    for name in NOT_CONFIGURED:
        assert getattr(settings, name) == getattr(HubSettings(), name)
        assert not hasattr(DashboardConfig(), name), f"{name} is configurable now: copy it"


def test_pushed_feeds_hold_history_size_unless_told():
    assert HubSettings(history_size=50).pushed_history == 50
    assert HubSettings(history_size=50, pushed_history_size=7).pushed_history == 7


@pytest.mark.parametrize("interval", [0, -1.0])
def test_flush_interval_must_be_positive(interval):
    with pytest.raises(ValueError, match="flush_interval must be > 0"):
        HubSettings(flush_interval=interval)
