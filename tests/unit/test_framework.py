"""The Hypercorn and Quart overrides (dashboard/web/framework.py): put in
place when serving starts, not on import, and configured by declared settings."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from dashboard import DashboardConfig, create_app
from dashboard.web.framework import ServerConfig
from dashboard.web.server import server_config
from dashboard.web.state import runtime_of
from dashboard.web.stopping import Connections

ROOT = Path(__file__).resolve().parents[2]

#: Run in a fresh interpreter: every attribute of every loaded Hypercorn,
#: Quart and wsproto module and class, before and after a step.
SNAPSHOT = textwrap.dedent(
    """
    import importlib, sys

    FRAMEWORKS = ("hypercorn", "quart", "wsproto")

    def snapshot():
        seen = {}
        for name, module in list(sys.modules.items()):
            if name.split(".")[0] not in FRAMEWORKS:
                continue
            for key, value in vars(module).items():
                seen[f"{name}.{key}"] = id(value)
                if isinstance(value, type) and value.__module__ == name:
                    for attr, held in vars(value).items():
                        seen[f"{name}.{key}.{attr}"] = id(held)
        return seen

    def changed(before, after):
        # Submodules imported meanwhile add their names to their packages: not a change.
        return sorted(
            key for key in after
            if before.get(key, None) != after[key]
            and (key in before or not isinstance(eval_attr(key), type(sys)))
        )

    def eval_attr(key):
        module, _, attr = key.rpartition(".")
        found = sys.modules.get(module)
        return getattr(found, attr, None) if found is not None else None

    import hypercorn.asyncio.run, hypercorn.protocol.h11, hypercorn.protocol.h2
    import quart, quart.app, quart.asgi, wsproto
    before = snapshot()
    for name in ("app", "server", "cli", "framework", "probing", "stopping"):
        importlib.import_module(f"dashboard.web.{name}")
    print("import:", changed(before, snapshot()))

    from quart import Quart
    from dashboard.web.framework import install
    app = Quart("probe")
    install(app)
    print("install:", changed(before, snapshot()))
    print("app:", app.asgi_websocket_class.__name__)
    """
)


def test_importing_the_web_modules_changes_no_framework_attribute() -> None:
    """Hypercorn's and Quart's classes are swapped by install(), which serve()
    calls, never by an import (a plain Hypercorn server in the same process
    stays plain until then)."""
    result = subprocess.run(
        [sys.executable, "-c", SNAPSHOT], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(": ", 1) for line in result.stdout.splitlines())
    assert lines["import"] == "[]"
    assert lines["install"] == str(
        [
            "hypercorn.asyncio.run.TCPServer",
            "hypercorn.protocol.h11.WSStream",
            "hypercorn.protocol.h2.WSStream",
        ]
    )
    assert lines["app"] == "BoundedWebsocketConnection"


def test_a_misspelt_setting_is_refused() -> None:
    """A setting Hypercorn and ServerConfig do not declare is an error, not
    an attribute nobody reads (which would silently turn a limit off)."""
    config = ServerConfig()
    with pytest.raises(AttributeError, match="viewer_max_mesage_size"):
        config.viewer_max_mesage_size = 1  # type: ignore[attr-defined]
    config.viewer_max_message_size = 1  # declared here
    config.websocket_ping_interval = 5.0  # declared by Hypercorn
    config.application_path = "x"  # declared by Hypercorn, by annotation only
    config.bind = "127.0.0.1:0"  # Hypercorn's property
    assert config.bind == ["127.0.0.1:0"]


def test_mypy_refuses_a_misspelt_setting(tmp_path: Path) -> None:
    """The same mistake is a type error: the settings are declared, typed."""
    api = pytest.importorskip("mypy.api", reason="mypy comes with the test extras")
    snippet = tmp_path / "misspelt.py"
    snippet.write_text(
        "from dashboard.web.framework import ServerConfig\n"
        "config = ServerConfig()\n"
        "config.viewer_max_mesage_size = 1\n"
        "config.viewer_probe_spacing = 'often'\n"
    )
    out, _, status = api.run(
        ["--strict", "--follow-imports=silent", "--no-error-summary", str(snippet)]
    )
    assert status == 1
    assert '"ServerConfig" has no attribute "viewer_max_mesage_size"' in out
    assert 'expression has type "str", variable has type "float"' in out


def test_server_config_carries_the_dashboard_settings() -> None:
    settings = DashboardConfig(
        port=0,
        ingest_max_bytes=2_000_000,
        viewer_max_message_bytes=4096,
        max_viewer_lag=2.0,
        ws_compression=True,
        ws_ping_interval=2.5,
        read_timeout=7.5,
        listen_backlog=512,
        shutdown_timeout=3.0,
    )
    runtime = runtime_of(create_app(settings))
    connections = Connections()
    config = server_config(runtime, 99, connections)
    assert config.bind == ["fd://99"]
    assert config.websocket_max_message_size == 2_000_000  # the ingest limit, the larger
    assert config.viewer_max_message_size == 4096
    assert config.viewer_probe_spacing == 2.0  # one probe per max_viewer_lag
    assert config.count_violation == runtime.limits.count
    assert config.websocket_compression is True
    assert config.websocket_ping_interval == 2.5
    assert config.read_timeout == 7.5
    assert config.backlog == 512
    assert config.graceful_timeout == 3.0
    assert config.open_connections is connections
    assert config.accesslog is None and config.certfile is None

    off = replace(settings, ws_ping_interval=0, read_timeout=0)
    config = server_config(runtime_of(create_app(off)), 99, connections)
    assert config.websocket_ping_interval is None and config.read_timeout is None  # 0: none
