"""The command line as a process: wrong settings stop it with one line; it
names itself, lists feeds with their parameters, refuses a plugin that takes a
built-in feed's name, and finds a config file's modules and files beside it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import websockets

from tests.support.clients import recv_json
from tests.support.servers import start_cli, stop_process

pytestmark = pytest.mark.e2e


def dashboard(*args: str, cwd: Path | None = None, env: dict | None = None):
    return subprocess.run(
        [sys.executable, "-m", "dashboard", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=60,
    )


def test_bad_config_file_exits_2_with_one_line(tmp_path):
    """python -m dashboard --config bad.toml: status 2, one line on stderr, no traceback."""
    bad = tmp_path / "bad.toml"
    bad.write_text('[server]\nport = "eighty"\n')
    result = dashboard("--config", str(bad))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f'python -m dashboard: error: {bad} [server] port must be an integer 0-65535, not "eighty"'
    ]
    assert result.stdout == ""


def test_help_names_the_program_as_it_was_run():
    """`livefeed --help` says livefeed; `python -m dashboard --help` says that."""
    assert dashboard("--help").stdout.startswith("usage: python -m dashboard ")
    script = Path(sys.executable).with_name("livefeed")
    assert script.exists(), "pip install -e . installs the livefeed script"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.startswith("usage: livefeed ")
    assert "`livefeed feeds` lists the feeds" in " ".join(result.stdout.split())


def test_feeds_lists_parameters_with_types_and_defaults():
    listing = dashboard("feeds").stdout.splitlines()
    # Columns are as wide as the longest name (now "prometheus").
    (ticker,) = [
        i
        for i, line in enumerate(listing)
        if re.fullmatch(r"ticker +feeds\.ticker:tickers +\(from livefeed 0\.1\.0\)", line)
    ]
    block = listing[ticker + 1 : ticker + 6]
    assert "    rate: float = 10.0" in block
    assert "    symbols: Sequence[str] = ACME,GLOBX,INITECH,UMBRL,STARK,WAYNE,TYRELL,CYBRD" in block
    assert "    seed: int | None = none" in block
    assert "    interval: float = 1.0" in listing  # host
    assert any(line.startswith("    path: ") and "(required)" in line for line in listing)


EVIL = """
import asyncio
from feeds import feed

@feed("evil", series=["x"])
async def ticker():
    while True:
        yield {"x": 1.0}
        await asyncio.sleep(1)
"""


def test_plugin_taking_a_built_in_name_is_refused(tmp_path):
    """A package whose entry point is named ticker used to replace the
    built-in one silently (and `feeds` listed two rows): refused, both named."""
    (tmp_path / "evilfeeds.py").write_text(EVIL)
    info = tmp_path / "evil_feeds-6.6.6.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: evil-feeds\nVersion: 6.6.6\n")
    (info / "entry_points.txt").write_text("[dashboard.feeds]\nticker = evilfeeds:ticker\n")
    env = {"PYTHONPATH": str(tmp_path)}
    expected = (
        "the feed name 'ticker' is provided by both evil-feeds 6.6.6 (evilfeeds:ticker) and "
        "livefeed 0.1.0 (feeds.ticker:tickers): uninstall one, or name the feed you mean as "
        "module:object"
    )
    listing = dashboard("feeds", env=env)
    assert listing.returncode == 2
    assert listing.stderr.splitlines() == [f"python -m dashboard: error: {expected}"]
    started = dashboard("--port", "0", "--feed", "ticker", env=env)
    assert started.returncode == 2
    assert started.stderr.splitlines() == [f"python -m dashboard: error: {expected}"]


LEVEL = """
import asyncio
from pathlib import Path
from feeds import Feed

class Level(Feed):
    name = "level"
    series = ["level"]

    def __init__(self, path: Path):
        self.path = path

    async def stream(self):
        value = float(self.path.read_text())
        while True:
            yield {"level": value}
            await asyncio.sleep(0.02)
"""


async def test_config_file_modules_and_paths_resolve_from_its_folder(tmp_path):
    """use = "levelfeeds:Level" finds levelfeeds.py beside the config file, and
    its Path parameter is relative to that folder, not to where it is run."""
    folder = tmp_path / "conf"
    (folder / "data").mkdir(parents=True)
    (folder / "levelfeeds.py").write_text(LEVEL)
    (folder / "data" / "level.txt").write_text("42.5")
    (folder / "dashboard.toml").write_text(
        textwrap.dedent(
            """
            [[feeds]]
            use = "levelfeeds:Level"
            path = "data/level.txt"
            """
        )
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    process, url = await start_cli("--config", "../conf/dashboard.toml", cwd=str(elsewhere))
    try:
        async with websockets.connect(url.replace("http", "ws") + "/ws") as ws:
            hello = await recv_json(ws, timeout=10)
            assert [f["name"] for f in hello["feeds"]] == ["level"]
            while not (batch := await recv_json(ws, timeout=10)).get("points"):
                pass
            assert batch["points"][0]["values"] == {"level": 42.5}
    finally:
        assert await stop_process(process) == 0
