"""Plugging feeds in, the ways a developer would: module:object, parameters,
a TOML config file, and a separately installed package's entry point."""

import json
import re
import subprocess
import sys
import textwrap

import pytest
import websockets

from tests.support.clients import recv_json
from tests.support.packaging import outer_env_pth
from tests.support.servers import start_cli, stop_process

pytestmark = pytest.mark.e2e

WEATHER = """
import asyncio
from feeds import Feed, feed

@feed("weather", series=["temp_c", "humidity"], units={"temp_c": "°C", "humidity": "%"})
async def weather():
    n = 0
    while True:
        n += 1
        yield {"temp_c": 20.0 + n / 10, "humidity": 50 + n % 7}
        await asyncio.sleep(0.02)

class Counter(Feed):
    name = "counter"
    series = ["count"]
    units = {"count": "items"}

    def __init__(self, step: int = 1, start: float = 0.0, label: str = "counter"):
        self.step, self.start, self.name = step, start, label

    async def stream(self):
        value = self.start
        while True:
            yield {"count": value}
            value += self.step
            await asyncio.sleep(0.02)
"""


async def first_points(url: str, feed: str, count: int = 3) -> tuple[dict, list[dict]]:
    """The hello and the first *count* points of *feed* a viewer receives."""
    async with websockets.connect(url.replace("http", "ws") + "/ws") as ws:
        hello = await recv_json(ws, timeout=10)
        points: list[dict] = []
        while len(points) < count:
            message = await recv_json(ws, timeout=10)
            points += [p for p in message.get("points", []) if p["feed"] == feed]
    # A busy machine can put more than *count* points in one batch.
    return hello, points[:count]


def feed_info(hello: dict, name: str) -> dict:
    return next(f for f in hello["feeds"] if f["name"] == name)


async def test_module_object_feed_runs_with_units(tmp_path):
    """--feed module:function serves a @feed from the current directory with its units."""
    (tmp_path / "mine.py").write_text(WEATHER)
    process, url = await start_cli("--feed", "mine:weather", cwd=str(tmp_path))
    try:
        hello, points = await first_points(url, "weather")
    finally:
        assert await stop_process(process) == 0
    assert [f["name"] for f in hello["feeds"]] == ["weather"]  # only the feeds asked for
    series = feed_info(hello, "weather")["series"]
    assert [(s["name"], s["unit"]) for s in series] == [("temp_c", "°C"), ("humidity", "%")]
    assert [p["values"]["temp_c"] for p in points] == [20.1, 20.2, 20.3]


async def test_class_feed_takes_key_value_parameters(tmp_path):
    """--feed module:Class key=value passes typed parameters; two instances coexist."""
    (tmp_path / "mine.py").write_text(WEATHER)
    process, url = await start_cli(
        "--feed", "mine:Counter", "step=5", "start=2.5", "label=fives",
        "--feed", "mine:Counter", "label=ones",
        cwd=str(tmp_path),
    )  # fmt: skip
    try:
        hello, points = await first_points(url, "fives")
    finally:
        await stop_process(process)
    assert {f["name"] for f in hello["feeds"]} == {"fives", "ones"}
    assert [p["values"]["count"] for p in points] == [2.5, 7.5, 12.5]


async def test_config_file_sets_server_and_feeds(tmp_path):
    """--config file.toml loads [server] settings and [[feeds]] with parameters."""
    (tmp_path / "mine.py").write_text(WEATHER)
    (tmp_path / "dashboard.toml").write_text(
        textwrap.dedent(
            """
            [server]
            flush_interval = 0.02
            history_size = 50

            [[feeds]]
            use = "ticker"
            symbols = ["AAA", "BBB"]
            rate = 20
            seed = 4

            [[feeds]]
            use = "mine:Counter"
            step = 3
            """
        )
    )
    process, url = await start_cli("--config", "dashboard.toml", cwd=str(tmp_path))
    try:
        hello, points = await first_points(url, "counter")
    finally:
        await stop_process(process)
    assert [f["name"] for f in hello["feeds"]] == ["AAA", "BBB", "counter"]
    assert hello["flush_interval_ms"] == 20 and feed_info(hello, "AAA")["rate"] == 20
    assert [p["values"]["count"] for p in points] == [0, 3, 6]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--feed", "nosuchfeed"], "no feed named 'nosuchfeed'"),
        (["--feed", "mine:nothing"], "has no 'nothing'"),
        (["--feed", "mine:Counter", "step=lots"], "expected int"),
        (["--feed", "mine:Counter", "colour=red"], "unknown parameter 'colour'"),
        (["--feed", "mine:Counter", "oops"], "is not key=value"),
        (["--feed", "mine:Counter", "--feed", "mine:Counter"], "two feeds are named counter"),
        (["--config", "missing.toml"], "does not exist"),
        (["--feed", "replay", "path=nope.csv"], "replay file not found: 'nope.csv'"),
        (["--feed", "replay", "path=mine.py"], "unknown extension '.py'"),
    ],
)
def test_bad_feed_or_config_is_a_clear_error(tmp_path, args, message):
    """A feed that cannot be found or built stops start-up with a one-line
    reason and exit status 2, like any other wrong setting."""
    (tmp_path / "mine.py").write_text(WEATHER)
    result = subprocess.run(
        [sys.executable, "-m", "dashboard", "--port", "0", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=30,
    )
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert message in line and "Traceback" not in result.stderr


@pytest.mark.slow
async def test_installed_package_entry_point(tmp_path):
    """A package pip-installed into an environment exposes its feed by name:
    `feeds` lists it with its origin and `--feed NAME` runs it."""
    package = tmp_path / "wxpkg"
    (package / "wxfeeds").mkdir(parents=True)
    (package / "wxfeeds" / "__init__.py").write_text(WEATHER)
    (package / "pyproject.toml").write_text(
        textwrap.dedent(
            """
            [build-system]
            requires = ["hatchling"]
            build-backend = "hatchling.build"

            [project]
            name = "wx-feeds"
            version = "1.2.3"

            [project.entry-points."dashboard.feeds"]
            wx = "wxfeeds:weather"

            [tool.hatch.build.targets.wheel]
            packages = ["wxfeeds"]
            """
        )
    )
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    outer_env_pth(python)
    subprocess.run(
        [python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--no-index", str(package)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    listing = subprocess.run(
        [python, "-m", "dashboard", "feeds"], capture_output=True, text=True, check=True
    ).stdout
    assert re.search(r"^wx +wxfeeds:weather +\(from wx-feeds 1\.2\.3\)$", listing, re.M)
    assert "ticker" in listing  # the built-ins are found the same way
    process, url = await start_cli("--feed", "wx", python=python, cwd=str(tmp_path))
    try:
        hello, points = await first_points(url, "weather")
    finally:
        await stop_process(process)
    assert feed_info(hello, "weather")["series"][0]["unit"] == "°C"
    assert json.dumps(points[0]["values"])
