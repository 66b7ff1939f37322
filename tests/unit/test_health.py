"""/healthz's verdict as pure code: reasons, and how the backplane is shown."""

from dashboard.health import BACKPLANE_DOWN, backplane_health, health_reasons


def test_a_down_backplane_is_the_first_reason():
    assert health_reasons(None, ["running"]) == []
    assert health_reasons(None, ["running"], backplane_up=False) == [BACKPLANE_DOWN]
    reasons = health_reasons("disk full", ["failed"], backplane_up=False)
    assert reasons == ["backplane down", "history store failing: disk full", "1 feed failed"]


def test_the_backplane_is_named_without_its_password():
    assert backplane_health(None, True) == {"kind": "memory", "url": None, "up": True}
    shown = backplane_health("rediss://app:s3cret@cache.example:6380/2", False)
    assert shown == {"kind": "redis", "url": "rediss://app:***@cache.example:6380/2", "up": False}
    assert backplane_health("redis://127.0.0.1", True)["url"] == "redis://127.0.0.1:6379/0"
    # Never reached with a config (it refuses such URLs), but still hidden.
    assert "s3cret" not in str(backplane_health("redis://a:s3cret@h/x", True))
