"""The command line as a newcomer runs it: a real process, real signals."""

import asyncio
import signal
import subprocess
import sys

import pytest
import websockets

from tests.support.clients import recv_json
from tests.support.servers import start_cli

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
async def test_cli_serves_and_shuts_down_cleanly(sig):
    """python -m dashboard prints its address, streams, and on SIGINT/SIGTERM
    closes viewers with 1001 and exits 0."""
    process, url = await start_cli("--symbols", "ACME,GLOBX", "--rate", "20", "--seed", "5")
    try:
        async with websockets.connect(url.replace("http", "ws") + "/ws") as ws:
            hello = await recv_json(ws, timeout=10)
            assert [f["name"] for f in hello["feeds"]] == ["ACME", "GLOBX"]
            assert hello["feeds"][0]["rate"] == 20
            while (await recv_json(ws))["type"] != "batch":
                pass
            process.send_signal(sig)
            with pytest.raises(websockets.ConnectionClosed):
                while True:
                    await recv_json(ws)
            assert ws.close_code == 1001
        async with asyncio.timeout(15):
            code = await process.wait()
        assert code == 0, (await process.stderr.read()).decode()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def test_same_seed_same_prices():
    """Two runs with the same --seed produce the same first prices."""
    # Checked through the app factory the CLI uses, not two servers.
    from dashboard.assemble import default_sources
    from dashboard.web.cli import config_from_args

    def first_prices(argv):
        sources = default_sources(config_from_args(argv))
        return [next(s.walk())["price"] for s in sources]

    assert first_prices(["--seed", "9"]) == first_prices(["--seed", "9"])
    assert first_prices(["--seed", "9"]) != first_prices(["--seed", "10"])


def test_ws_compression_option(tmp_path):
    """Compression is off unless --ws-compression or the config file turns it on;
    the command line wins over the file."""
    from dashboard.web.cli import config_from_args

    config = tmp_path / "dashboard.toml"
    config.write_text("[server]\nws_compression = true\n")
    assert config_from_args([]).ws_compression is False
    assert config_from_args(["--ws-compression"]).ws_compression is True
    assert config_from_args(["--config", str(config)]).ws_compression is True
    argv = ["--config", str(config), "--no-ws-compression"]
    assert config_from_args(argv).ws_compression is False


def test_limit_options():
    """--max-connections-per-address, --ws-ping-interval and --read-timeout set
    their settings (0 turns each off); left out, the defaults hold."""
    from dashboard.web.cli import config_from_args

    defaults = config_from_args([])
    assert defaults.max_connections_per_address == 64
    assert (defaults.ws_ping_interval, defaults.read_timeout) == (20.0, 60.0)
    config = config_from_args(
        ["--max-connections-per-address", "0", "--ws-ping-interval", "5", "--read-timeout", "15"]
    )
    assert config.max_connections_per_address == 0
    assert (config.ws_ping_interval, config.read_timeout) == (5.0, 15.0)
    off = config_from_args(["--ws-ping-interval", "0", "--read-timeout", "0"])
    assert (off.ws_ping_interval, off.read_timeout) == (0.0, 0.0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-connections-per-address", "-1"], 'must be an integer >= 0, not "-1"'),
        (["--max-connections-per-address", "1.5"], 'must be an integer >= 0, not "1.5"'),
        (["--read-timeout", "10", "--ws-ping-interval", "0"], "needs a ws_ping_interval"),
    ],
)
def test_limit_options_refuse_bad_values(args, message, capsys):
    """Negative or fractional limits, and a read timeout without pings below
    it, exit 2 with a message saying what is wrong."""
    from dashboard.web.cli import config_from_args

    with pytest.raises(SystemExit) as exit_info:
        config_from_args(args)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rate", "0"], '--rate must be a number > 0, not "0"'),
        (["--port", "70000"], "port must be"),
        (["--symbols", ","], "--symbols must be a non-empty list, each a feed name"),
        (["--symbols", "A,<b>"], "invalid feed name"),
        (["--log-level", "loud"], "must be one of debug, info, warning, error, critical"),
    ],
)
def test_cli_rejects_bad_options(args, message):
    """Bad options exit 2 with a message saying what is wrong."""
    result = subprocess.run(
        [sys.executable, "-m", "dashboard", *args], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert message in result.stderr


def test_port_in_use_is_a_clear_error():
    """A port already taken gives a one-line error, not a traceback."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "dashboard", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_history_db_option(tmp_path):
    """--history-db and the file's history_db (relative to the file) set the
    history file; without either the history is in memory only."""
    from pathlib import Path

    from dashboard.web.cli import config_from_args

    config = tmp_path / "dashboard.toml"
    config.write_text('[server]\nhistory_db = "data/history.db"\n')
    assert config_from_args([]).history_db is None
    assert config_from_args(["--history-db", "h.db"]).history_db == Path("h.db")
    assert config_from_args(["--config", str(config)]).history_db == tmp_path / "data/history.db"
