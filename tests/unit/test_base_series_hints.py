"""Drawing hints a feed declares per series: checked once, sent in the hello."""

import orjson
import pytest

from dashboard.protocol import encode_hello
from feeds.base import FeedInfo, Series
from feeds.hostmetrics import HostMetrics


def test_hints_travel_in_the_hello_only_when_declared():
    info = FeedInfo(
        "lab",
        series=(
            Series("temp", unit="°C", panel="climate", y_min=-10, y_max=40, decimals=1),
            Series("count", step=True, y_min=0, decimals=0),
            Series("bytes", unit="B", log=True, stack=True),
            Series("plain"),
        ),
    )
    hello = orjson.loads(encode_hello("e1", 0.05, [info.to_dict()]))
    series = {s["name"]: s for s in hello["feeds"][0]["series"]}
    assert series["temp"] == {
        "name": "temp",
        "kind": "line",
        "unit": "°C",
        "plot": True,
        "level": False,
        "panel": "climate",
        "y_min": -10,
        "y_max": 40,
        "decimals": 1,
    }
    assert series["count"]["step"] is True and "stack" not in series["count"]
    # Zero is a declared bound and a declared number of decimals, not "unset".
    assert (series["count"]["y_min"], series["count"]["decimals"]) == (0, 0)
    assert series["bytes"]["log"] is True and series["bytes"]["stack"] is True
    assert set(series["plain"]) == {"name", "kind", "unit", "plot", "level"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"y_min": 5, "y_max": 5}, "series 'v': y_min 5 must be below y_max 5"),
        ({"y_min": float("nan")}, "series 'v': y_min must be finite, not nan"),
        ({"y_max": "100"}, "series 'v': y_max must be a number, not '100'"),
        ({"log": True, "y_min": 0}, "series 'v': a log axis needs y_min and y_max > 0"),
        ({"decimals": 11}, "series 'v': decimals must be an integer from 0 to 10, not 11"),
        ({"decimals": True}, "series 'v': decimals must be an integer from 0 to 10, not True"),
        ({"step": 1}, "series 'v': step must be true or false, not 1"),
        ({"kind": "ohlc", "stack": True}, "series 'v': stack and step are for line series"),
        ({"panel": "a b"}, "invalid series 'v': panel name 'a b'"),
    ],
)
def test_a_bad_hint_is_refused_with_one_clear_line(kwargs, message):
    with pytest.raises(ValueError) as caught:
        Series("v", **kwargs)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_panel_with_three_units_is_refused():
    series = (
        Series("a", unit="%", panel="p"),
        Series("b", unit="B/s", panel="p"),
        Series("c", unit="°C", panel="p"),
    )
    with pytest.raises(ValueError, match="panel 'p' mixes 3 units .* at most two"):
        FeedInfo("lab", series=series)
    # Two units are one chart with a y axis on each side.
    FeedInfo("lab", series=series[:2])


def test_host_keeps_percentages_and_byte_rates_on_panels_of_their_own():
    """The percentages would lie flat at 0 under the byte rates on one axis."""
    info = HostMetrics().info
    panels = {s.name: (s.panel, s.unit) for s in info.series}
    assert panels == {
        "cpu_percent": ("usage", "%"),
        "memory_percent": ("usage", "%"),
        "net_sent_bps": ("network", "B/s"),
        "net_recv_bps": ("network", "B/s"),
        "disk_read_bps": ("disk", "B/s"),
        "disk_write_bps": ("disk", "B/s"),
    }
    cpu = info.series[0]
    assert (cpu.y_min, cpu.y_max) == (0, 100)
