"""Read a TOML config file: server settings and the feeds to run.

```toml
[server]
port = 8080
flush_interval = 0.05

[[feeds]]
use = "ticker"            # an installed feed, or module:object
symbols = ["ACME", "GLOBX"]

[[feeds]]
use = "mymodule:weather"  # mymodule.py beside this file, or importable
city = "Oslo"              # any other key is a parameter of the feed
```

Relative paths, of settings and of feed parameters typed ``Path``, and
``module:object`` modules are found from the file's folder.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dashboard.schema import SettingError
from dashboard.settings import Given, setting_names, unknown
from feeds.loader import FeedSpec

#: Settings holding a path: a relative one is relative to the file.
PATH_SETTINGS = ("static_dir", "certfile", "keyfile", "history_db")


class ConfigFileError(SettingError):
    pass


@dataclass(frozen=True)
class ConfigFile:
    settings: dict[str, Given]
    feeds: tuple[FeedSpec, ...]


def read_config_file(path: Path) -> ConfigFile:
    """The [server] settings (checked later, with the other sources) and [[feeds]] of *path*."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigFileError(f"config file {path} does not exist") from None
    except IsADirectoryError:
        raise ConfigFileError(f"config file {path} is a folder: give the TOML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise ConfigFileError(f"cannot read config file {path}: {reason}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigFileError(f"config file {path} is not valid TOML: {exc}") from None
    unknown_tables = sorted(set(data) - {"server", "feeds"})
    if unknown_tables:
        raise ConfigFileError(
            f"{path}: unknown section(s) {unknown_tables}; use [server], [[feeds]]"
        )
    server = data.get("server", {})
    if not isinstance(server, dict):
        raise ConfigFileError(f"{path}: [server] must be a table")
    known = setting_names()
    settings: dict[str, Given] = {}
    for key, value in server.items():
        label = f"{path} [server] {key}"
        if key not in known:
            raise unknown(label, key, known)
        settings[key] = Given(_as_read(path, key, value), label, typed=True)
    return ConfigFile(settings, _feeds(path, data.get("feeds", [])))


def _as_read(path: Path, key: str, value: Any) -> Any:
    """TOML arrays as the tuples the config holds; relative paths from the file's folder."""
    if isinstance(value, list):
        return tuple(value)
    if key in PATH_SETTINGS and isinstance(value, str) and value.strip():
        return path.parent / value
    return value


def _feeds(path: Path, feeds: Any) -> tuple[FeedSpec, ...]:
    if not isinstance(feeds, list):
        raise ConfigFileError(f"{path}: feeds must be an array of tables: [[feeds]]")
    specs = []
    for index, entry in enumerate(feeds, 1):
        if not isinstance(entry, dict) or not isinstance(entry.get("use"), str):
            raise ConfigFileError(f'{path}: feed #{index} needs use = "name" or "module:object"')
        params = {k: v for k, v in entry.items() if k != "use"}
        specs.append(FeedSpec(entry["use"], params, base_dir=path.resolve().parent))
    return tuple(specs)
