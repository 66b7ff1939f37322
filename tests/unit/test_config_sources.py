"""Settings from a file, the environment and the command line: what a
newcomer tripped over (issue 9), each refused with one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard.assemble import default_sources
from dashboard.config_file import read_config_file
from dashboard.web.cli import config_from_args, startup_lines
from feeds.loader import coerce, load


def refusal(capsys, argv, environ=None) -> str:
    with pytest.raises(SystemExit) as exited:
        config_from_args(argv, environ=environ or {})
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err.strip().split(": error: ", 1)[1]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        # The string "false" is not false: it used to turn compression on.
        ('ws_compression = "false"', 'ws_compression must be true or false, not "false"'),
        ("host = 5", "host must be a non-empty string, not 5"),
        ("history_size = 2.5", "history_size must be an integer >= 1, not 2.5"),
        ('port = "eighty"', 'port must be an integer 0-65535, not "eighty"'),
        ("port = 80000", "port must be an integer 0-65535, not 80000"),
        (
            "viewer_token = 5",
            "viewer_token must be non-empty printable ASCII without spaces, not 5",
        ),
        (
            'symbols = "ACME,GLOBX"',
            'symbols must be a non-empty list, each a feed name, not "ACME,GLOBX"',
        ),
        ("rate = inf", "rate must be a number > 0, not inf"),
        (
            'log_level = "loud"',
            'log_level must be one of debug, info, warning, error, critical, not "loud"',
        ),
        ("prot = 8000", "prot is not a setting (did you mean port?)"),
    ],
)
def test_wrong_file_values_name_file_key_expected_and_given(tmp_path, capsys, line, message):
    path = tmp_path / "dashboard.toml"
    path.write_text(f"[server]\n{line}\n")
    assert refusal(capsys, ["--config", str(path)]) == f"{path} [server] {message}"


def test_config_naming_a_folder_is_a_clear_error(tmp_path, capsys):
    assert refusal(capsys, ["--config", str(tmp_path)]) == (
        f"config file {tmp_path} is a folder: give the TOML file"
    )


def test_static_dir_must_hold_the_page(tmp_path, capsys):
    """A static_dir that does not exist, or has no index.html, stops the start
    (it used to start a server whose / answered 500)."""
    path = tmp_path / "dashboard.toml"
    path.write_text('[server]\nstatic_dir = "page"\n')
    assert refusal(capsys, ["--config", str(path)]).endswith(
        f'static_dir must be a folder holding the page\'s index.html, not "{tmp_path / "page"}": '
        "no such folder"
    )
    (tmp_path / "page").mkdir()
    assert refusal(capsys, ["--config", str(path)]).endswith(": it has no index.html")
    (tmp_path / "page" / "index.html").write_text("<!doctype html>")
    assert config_from_args(["--config", str(path)], environ={}).static_dir == tmp_path / "page"


@pytest.mark.parametrize(
    ("argv", "environ", "where"),
    [
        (["--viewer-token", ""], {}, "--viewer-token"),
        ([], {"DASHBOARD_VIEWER_TOKEN": ""}, "$DASHBOARD_VIEWER_TOKEN"),
        (["--ingest-token", ""], {}, "--ingest-token"),
        ([], {"DASHBOARD_INGEST_TOKEN": ""}, "$DASHBOARD_INGEST_TOKEN"),
        # Set but empty is refused even where another source sets the token.
        (["--viewer-token", "t0ken"], {"DASHBOARD_VIEWER_TOKEN": ""}, "$DASHBOARD_VIEWER_TOKEN"),
    ],
)
def test_empty_token_is_refused_not_an_open_door(capsys, argv, environ, where):
    """An empty token (an unset shell variable) used to leave the dashboard open."""
    assert refusal(capsys, argv, environ) == (
        f'{where} must be non-empty printable ASCII without spaces, not ""'
    )


def test_unknown_environment_setting_is_refused(capsys):
    """A misspelt DASHBOARD_ variable would silently do nothing: a typo in the
    viewer token's name would leave the dashboard open."""
    message = refusal(capsys, [], {"DASHBOARD_VIEWER_TOKN": "s3cret"})
    assert (
        message == "$DASHBOARD_VIEWER_TOKN is not a setting (did you mean DASHBOARD_VIEWER_TOKEN?)"
    )


def test_every_setting_from_the_environment_and_which_source_wins(tmp_path):
    """The command line wins over the environment, which wins over the file."""
    path = tmp_path / "dashboard.toml"
    path.write_text("[server]\nhistory_size = 10\nport = 1\nws_compression = true\n")
    environ = {"DASHBOARD_HISTORY_SIZE": "20", "DASHBOARD_PORT": "2", "DASHBOARD_SYMBOLS": "A, B"}
    config = config_from_args(["--config", str(path), "--port", "3"], environ=environ)
    assert (config.history_size, config.port, config.ws_compression) == (20, 3, True)
    assert config.symbols == ("A", "B")


def test_rule_across_settings_names_their_sources(tmp_path, capsys):
    path = tmp_path / "dashboard.toml"
    path.write_text("[server]\nclient_max_frames = 10\n")
    message = refusal(capsys, ["--config", str(path)], {"DASHBOARD_CLIENT_CONFLATE_FRAMES": "11"})
    assert message == (
        f"{path} [server] client_max_frames, $DASHBOARD_CLIENT_CONFLATE_FRAMES: "
        "client_conflate_frames must be <= client_max_frames (10), not 11"
    )


def test_ticker_options_apply_to_the_ticker_feed():
    """--symbols, --rate and --seed with --feed ticker set that feed (they used
    to be ignored silently); a parameter on the feed itself wins."""
    argv = ["--feed", "ticker", "rate=4", "--symbols", "AA,BB", "--rate", "5", "--seed", "3"]
    sources = default_sources(config_from_args(argv, environ={}))
    assert [(s.info.name, s.info.rate) for s in sources] == [("AA", 4.0), ("BB", 4.0)]
    again = default_sources(config_from_args(argv, environ={}))
    assert [next(s.walk()) for s in sources] == [next(s.walk()) for s in again]  # seeded
    sources = default_sources(config_from_args(["--feed", "ticker", "--rate", "5"], environ={}))
    assert {s.info.rate for s in sources} == {5.0}


def test_ticker_options_without_a_ticker_feed_are_refused(tmp_path, capsys):
    message = refusal(capsys, ["--feed", "host", "--symbols", "AA", "--seed", "1"])
    assert message.startswith("--symbols, --seed: set the simulated tickers, but the feeds given")
    path = tmp_path / "dashboard.toml"
    path.write_text('[server]\nrate = 2.0\n\n[[feeds]]\nuse = "host"\n')
    assert refusal(capsys, ["--config", str(path)]).startswith(f"{path} [server] rate: set the")


def test_startup_lines_say_login_origins_and_scheme():
    """What the server prints on start: its URL, whether login is on, which
    origins may open the WebSockets, and whether ingest is on."""
    config = config_from_args(
        ["--viewer-token", "t0ken", "--allow-origin", "https://a.example"], environ={}
    )
    lines = startup_lines(config, "https://127.0.0.1:8443", ["ACME"])
    assert lines[0].startswith("Dashboard running at https://127.0.0.1:8443")
    assert "Login: on (viewer token)" in lines
    assert "Origins allowed to open the WebSockets: the page's own, https://a.example" in lines
    assert "Ingest: off" in lines
    open_config = config_from_args(["--allow-origin", "*"], environ={"DASHBOARD_INGEST_TOKEN": "x"})
    lines = startup_lines(open_config, "http://127.0.0.1:8000", ["ACME"])
    assert any(line.startswith("Login: off, anyone") for line in lines)
    assert "Origins allowed to open the WebSockets: any (*)" in lines
    assert "Ingest: on (ingest token)" in lines


def test_feed_path_parameters_are_relative_to_the_config_file(tmp_path):
    """A feed parameter typed Path (or str | Path) given relative in a config
    file is relative to the file's folder; a str one, an absolute one, or one
    from the command line (no folder) is left as given."""

    def replay_like(path: Path, extra: str | Path = "", label: str = "", other: Path | None = None):
        raise AssertionError("only its signature is read")

    config = tmp_path / "conf" / "dashboard.toml"
    config.parent.mkdir()
    config.write_text(
        '[[feeds]]\nuse = "x:y"\npath = "data/a.csv"\nextra = "b.csv"\nlabel = "c"\n'
        'other = "/abs/d.csv"\n'
    )
    (spec,) = read_config_file(config).feeds
    assert spec.base_dir == config.parent.resolve()
    params = coerce(replay_like, dict(spec.params), spec.base_dir)
    assert params == {
        "path": config.parent.resolve() / "data/a.csv",
        "extra": config.parent.resolve() / "b.csv",
        "label": "c",
        "other": Path("/abs/d.csv"),
    }
    assert coerce(replay_like, {"path": "data/a.csv"}) == {"path": Path("data/a.csv")}


def test_replay_path_in_a_config_file_is_relative_to_the_file(tmp_path, monkeypatch):
    """The built-in replay, configured in a file beside its data, plays that
    data when the dashboard is started from another folder."""
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "levels.csv").write_text("ts,level\n2024-05-01T09:30:00Z,1.5\n")
    config = folder / "dashboard.toml"
    config.write_text('[[feeds]]\nuse = "replay"\npath = "levels.csv"\n')
    monkeypatch.chdir(tmp_path)
    (spec,) = read_config_file(config).feeds
    (source,) = load(spec)
    assert source.info.name == "levels"
    assert [s.name for s in source.info.series] == ["level"]


def test_shutdown_timeout_from_option_environment_and_file(tmp_path, capsys):
    """--shutdown-timeout, $DASHBOARD_SHUTDOWN_TIMEOUT and shutdown_timeout in
    the file set the stop's grace (default 5 s); past 300 s it is refused."""
    assert config_from_args([], environ={}).shutdown_timeout == 5.0
    assert config_from_args(["--shutdown-timeout", "2.5"], environ={}).shutdown_timeout == 2.5
    environ = {"DASHBOARD_SHUTDOWN_TIMEOUT": "7"}
    assert config_from_args([], environ=environ).shutdown_timeout == 7.0
    path = tmp_path / "dashboard.toml"
    path.write_text("[server]\nshutdown_timeout = 1.5\n")
    assert config_from_args(["--config", str(path)], environ={}).shutdown_timeout == 1.5
    assert refusal(capsys, ["--shutdown-timeout", "301"]) == (
        '--shutdown-timeout must be a number > 0 and <= 300, not "301"'
    )


def test_transports_come_from_each_source_and_a_bad_one_is_one_line(tmp_path, capsys):
    assert config_from_args([], environ={}).transports == ("ws", "sse")
    assert config_from_args(["--transports", "sse"], environ={}).transports == ("sse",)
    assert config_from_args([], environ={"DASHBOARD_TRANSPORTS": "ws"}).transports == ("ws",)
    path = tmp_path / "dashboard.toml"
    path.write_text('[server]\ntransports = ["sse", "ws"]\n')
    assert config_from_args(["--config", str(path)], environ={}).transports == ("sse", "ws")
    assert refusal(capsys, ["--transports", "ws,carrier-pigeon"]) == (
        '--transports must be a non-empty list, each one of ws, sse, not "ws,carrier-pigeon"'
    )
    assert refusal(capsys, ["--transports", "ws,ws"]).endswith(": ws given twice")
