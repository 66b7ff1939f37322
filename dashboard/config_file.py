"""Read a TOML config file: server settings and the feeds to run.

```toml
[server]
port = 8080
flush_interval = 0.05

[[feeds]]
use = "ticker"            # an installed feed, or module:object
symbols = ["ACME", "GLOBX"]

[[feeds]]
use = "mymodule:weather"
city = "Oslo"              # any other key is a parameter of the feed
```
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any

from dashboard.config import DashboardConfig
from feeds.loader import FeedSpec

#: Settings a file may not set: they are not server settings.
NOT_IN_FILE = {"feeds"}


class ConfigFileError(ValueError):
    pass


def server_settings() -> list[str]:
    return sorted(f.name for f in dataclasses.fields(DashboardConfig) if f.name not in NOT_IN_FILE)


def read_config_file(path: Path) -> dict[str, Any]:
    """DashboardConfig keyword arguments from *path* (``feeds`` as FeedSpecs)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigFileError(f"config file {path} does not exist") from None
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
    known = server_settings()
    settings: dict[str, Any] = {}
    for key, value in server.items():
        if key not in known:
            raise ConfigFileError(f"{path}: unknown setting {key!r} in [server]; known: {known}")
        settings[key] = tuple(value) if isinstance(value, list) else value
    for key in ("static_dir", "certfile", "keyfile", "history_db"):  # relative to the file
        if isinstance(settings.get(key), str):
            settings[key] = path.parent / settings[key]
    feeds = data.get("feeds", [])
    if not isinstance(feeds, list):
        raise ConfigFileError(f"{path}: feeds must be an array of tables: [[feeds]]")
    specs = []
    for index, entry in enumerate(feeds, 1):
        if not isinstance(entry, dict) or not isinstance(entry.get("use"), str):
            raise ConfigFileError(f'{path}: feed #{index} needs use = "name" or "module:object"')
        params = {k: v for k, v in entry.items() if k != "use"}
        specs.append(FeedSpec(entry["use"], params))
    if specs:
        settings["feeds"] = tuple(specs)
    return settings
