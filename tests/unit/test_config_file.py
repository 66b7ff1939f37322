"""Reading a TOML config file (dashboard/config_file.py) on its own: what
[server] and [[feeds]] become, and each way a file is refused. (The file
among the other sources of settings: test_config_sources.py.)"""

from pathlib import Path

import pytest

from dashboard.config_file import ConfigFileError, read_config_file
from dashboard.schema import SettingError
from feeds.loader import FeedSpec


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "livefeed.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_server_settings_are_labelled_with_file_and_key_and_arrays_become_tuples(tmp_path):
    path = write(
        tmp_path,
        '[server]\nport = 8080\nflush_interval = 0.05\nsymbols = ["ACME", "GLOBX"]\n',
    )
    read = read_config_file(path)
    assert {key: given.value for key, given in read.settings.items()} == {
        "port": 8080,
        "flush_interval": 0.05,
        "symbols": ("ACME", "GLOBX"),
    }
    assert read.settings["port"].label == f"{path} [server] port"
    assert all(given.typed for given in read.settings.values())  # TOML's types, not text
    assert read.feeds == ()


def test_relative_paths_are_relative_to_the_files_folder(tmp_path):
    path = write(
        tmp_path,
        '[server]\nhistory_db = "data/history.db"\ncertfile = "/etc/tls/cert.pem"\n',
    )
    settings = read_config_file(path).settings
    assert settings["history_db"].value == tmp_path / "data/history.db"
    assert settings["certfile"].value == Path("/etc/tls/cert.pem")


def test_feeds_keep_their_order_and_parameters_with_the_files_folder(tmp_path):
    path = write(
        tmp_path,
        '[[feeds]]\nuse = "ticker"\nsymbols = ["ACME"]\n\n'
        '[[feeds]]\nuse = "mymodule:weather"\ncity = "Oslo"\nspeed = 2.5\n',
    )
    base = tmp_path.resolve()
    assert read_config_file(path).feeds == (
        FeedSpec("ticker", {"symbols": ["ACME"]}, base_dir=base),
        FeedSpec("mymodule:weather", {"city": "Oslo", "speed": 2.5}, base_dir=base),
    )


def test_an_empty_file_gives_nothing(tmp_path):
    read = read_config_file(write(tmp_path, ""))
    assert read.settings == {} and read.feeds == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[server\nport = 1\n", "is not valid TOML"),
        ("[client]\nport = 1\n", "unknown section(s) ['client']; use [server], [[feeds]]"),
        ('server = "x"\n', "[server] must be a table"),
        ("[server]\nprot = 8080\n", "[server] prot is not a setting"),
        ('feeds = "ticker"\n', "feeds must be an array of tables: [[feeds]]"),
        ('[[feeds]]\nsymbols = ["A"]\n', 'feed #1 needs use = "name" or "module:object"'),
        ('[[feeds]]\nuse = "ticker"\n[[feeds]]\nuse = 3\n', "feed #2 needs use"),
    ],
)
def test_a_bad_file_is_one_clear_error_naming_the_file(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(SettingError) as refused:  # startup prints it as one line
        read_config_file(path)
    assert message in str(refused.value)
    assert str(path) in str(refused.value)


def test_an_unknown_server_key_suggests_the_setting_meant(tmp_path):
    with pytest.raises(SettingError, match=r"prot is not a setting \(did you mean port\?\)"):
        read_config_file(write(tmp_path, "[server]\nprot = 8080\n"))


def test_a_missing_file_or_a_folder_is_a_config_file_error(tmp_path):
    with pytest.raises(ConfigFileError, match="does not exist"):
        read_config_file(tmp_path / "nowhere.toml")
    with pytest.raises(ConfigFileError, match="is a folder: give the TOML file"):
        read_config_file(tmp_path)


def test_a_file_that_is_not_text_is_a_config_file_error(tmp_path):
    path = tmp_path / "binary.toml"
    path.write_bytes(b"\xff\xfe\x00port")
    with pytest.raises(ConfigFileError, match="cannot read config file"):
        read_config_file(path)
