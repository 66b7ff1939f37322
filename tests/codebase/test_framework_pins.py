"""The canary for dashboard/web/framework.py: the Hypercorn, Quart and wsproto
internals it overrides or reaches into are still there, as they were on the
versions it was written for, and the installed versions are the pinned ones.

On a new Hypercorn or Quart this fails naming each attribute that moved or
changed its signature: check the override against the new code, then record
what is installed here and move the pin.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import re
import tomllib
from pathlib import Path
from typing import Any

from hypercorn.config import Config
from packaging.requirements import Requirement
from packaging.version import Version

from dashboard.web import framework, framework_connection, server_config

ROOT = Path(__file__).resolve().parents[2]
PINNED = ("hypercorn", "quart")

#: What the overrides replace or call, with its signature as written for.
SIGNATURES = {
    "hypercorn.protocol.ws_stream.WSStream.__init__": (
        "(self, app: 'AppWrapper', config: 'Config', context: 'WorkerContext', "
        "task_group: 'TaskGroup', ssl: 'bool', client: 'tuple[str, int] | None', "
        "server: 'tuple[str, int] | None', send: 'Callable[[Event], Awaitable[None]]', "
        "stream_id: 'int') -> 'None'"
    ),
    "hypercorn.protocol.ws_stream.WSStream.handle": "(self, event: 'Event') -> 'None'",
    "hypercorn.protocol.ws_stream.WSStream.app_send": (
        "(self, message: 'ASGISendEvent | None') -> 'None'"
    ),
    "hypercorn.protocol.ws_stream.WSStream._accept": (
        "(self, message: 'WebsocketAcceptEvent') -> 'None'"
    ),
    "hypercorn.protocol.ws_stream.WSStream._handle_events": "(self) -> 'None'",
    "hypercorn.protocol.ws_stream.WSStream._send_pings": "(self) -> 'None'",
    "hypercorn.protocol.ws_stream.WSStream._send_wsproto_event": (
        "(self, event: 'WSProtoEvent') -> 'None'"
    ),
    "hypercorn.protocol.ws_stream.WebsocketBuffer.__init__": "(self, max_length: 'int') -> 'None'",
    "hypercorn.protocol.ws_stream.WebsocketBuffer.extend": "(self, event: 'Message') -> 'None'",
    "hypercorn.protocol.ws_stream.WebsocketBuffer.clear": "(self) -> 'None'",
    "hypercorn.asyncio.tcp_server.TCPServer.run": "(self) -> 'None'",
    "hypercorn.asyncio.tcp_server.TCPServer._close": "(self) -> 'None'",
    "hypercorn.asyncio.task_group.TaskGroup.spawn_app": (
        "(self, app: 'AppWrapper', config: 'Config', scope: 'Scope', "
        "send: 'Callable[[ASGISendEvent | None], Awaitable[None]]') "
        "-> 'Callable[[ASGIReceiveEvent], Awaitable[None]]'"
    ),
    "hypercorn.asyncio.serve": (
        "(app: 'Framework', config: 'Config', *, "
        "shutdown_trigger: 'Callable[..., Awaitable] | None' = None, "
        "mode: \"Literal['asgi', 'wsgi'] | None\" = None) -> 'None'"
    ),
    "quart.asgi.ASGIWebsocketConnection.__init__": (
        "(self, app: 'Quart', scope: 'WebsocketScope') -> 'None'"
    ),
    "quart.asgi.ASGIWebsocketConnection.handle_messages": (
        "(self, receive: 'ASGIReceiveCallable') -> 'None'"
    ),
    "quart.asgi.ASGIWebsocketConnection.handle_websocket": (
        "(self, websocket: 'Websocket', send: 'ASGISendCallable') -> 'None'"
    ),
    "quart.app.Quart.log_exception": (
        "(self, exception_info: 'tuple[type, BaseException, TracebackType] | "
        "tuple[None, None, None]') -> 'None'"
    ),
    "wsproto.connection.Connection.events": "(self) -> 'Generator[Event, None, None]'",
    "wsproto.connection.Connection.send": "(self, event: 'Event') -> 'bytes'",
}

#: Instance attributes the overrides read or set: each class still assigns them.
ATTRIBUTES = {
    "hypercorn.protocol.ws_stream.WSStream": (
        "app_put",
        "buffer",
        "client",
        "closed",
        "config",
        "connection",
        "handshake",
        "scope",
        "send",
        "state",
        "stream_id",
    ),
    "hypercorn.protocol.ws_stream.Handshake": ("accepted", "extensions", "http_version"),
    "hypercorn.protocol.ws_stream.WebsocketBuffer": ("max_length",),
    "hypercorn.asyncio.tcp_server.TCPServer": ("config", "writer"),
    "quart.asgi.ASGIWebsocketConnection": ("queue", "_closed"),
}

#: Names install() replaces, and values the overrides compare against.
PRESENT = (
    "hypercorn.asyncio.run.TCPServer",
    "hypercorn.protocol.h11.WSStream",
    "hypercorn.protocol.h2.WSStream",
    "quart.app.Quart.asgi_websocket_class",
    "quart.signals.websocket_received",
    "hypercorn.protocol.ws_stream.ASGIWebsocketState.CONNECTED",
    "hypercorn.protocol.ws_stream.FrameTooLargeError",
    "hypercorn.config.Config.websocket_ping_interval",
    "hypercorn.config.Config.max_app_queue_size",
    "wsproto.connection.ConnectionState.OPEN",
    "wsproto.connection.ConnectionState.REMOTE_CLOSING",
)

#: Behaviour the overrides rely on, as the source says it.
SOURCE = {
    # ViewerAwareStream._put_while_app_runs reads the queue behind app_put.
    "hypercorn.asyncio.task_group.TaskGroup.spawn_app": "return app_queue.put",
    # The scope setter runs before the app starts (a probe goes in first).
    "hypercorn.protocol.ws_stream.WSStream.handle": "self.scope = {",
    # The fast send path: a connection's streams are built in its run() task
    # (where the writer is found), Hypercorn writes to that same writer (so
    # control frames and direct data stay in order), and a stream over HTTP/2
    # says so in its handshake (it never takes the direct path).
    "hypercorn.asyncio.tcp_server.TCPServer.run": "await self._read_data()",
    "hypercorn.asyncio.tcp_server.TCPServer.protocol_send": "self.writer.write(event.data)",
    "hypercorn.protocol.h2.H2Protocol._create_stream": 'http_version="2"',
    # The buffer is made from this setting, then replaced per stream.
    "hypercorn.protocol.ws_stream.WSStream.__init__": (
        "self.buffer = WebsocketBuffer(config.websocket_max_message_size)"
    ),
}


def resolve(dotted: str) -> Any:
    """The object named *dotted* (a module, then attributes); AttributeError
    or ImportError when any part is missing."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            found = getattr(found, name)
        return found
    raise ImportError(dotted)


def changed_internals(
    signatures: dict[str, str],
    attributes: dict[str, tuple[str, ...]],
    present: tuple[str, ...],
    source: dict[str, str],
) -> list[str]:
    """One line per recorded internal that is missing or not as recorded."""
    problems = []
    for name in (*signatures, *attributes, *present, *source):
        try:
            resolve(name)
        except (AttributeError, ImportError):
            problems.append(f"{name}: missing")
    for name, recorded in signatures.items():
        try:
            installed = str(inspect.signature(resolve(name)))
        except (AttributeError, ImportError):
            continue
        if installed != recorded:
            problems.append(f"{name}: signature was {recorded}, is now {installed}")
    for owner, names in attributes.items():
        try:
            text = inspect.getsource(resolve(owner))
        except (AttributeError, ImportError):
            continue
        for attr in names:
            if not re.search(rf"self\.{re.escape(attr)}\s*[:=]", text):
                problems.append(f"{owner}.{attr}: no longer assigned by {owner}")
    for name, code in source.items():
        try:
            text = inspect.getsource(resolve(name))
        except (AttributeError, ImportError):
            continue
        if code not in text:
            problems.append(f"{name}: no longer does `{code}`")
    return problems


def test_overridden_internals_are_as_written_for() -> None:
    """Every internal framework.py overrides or reaches into is present, with
    the signature recorded on the versions it was written for."""
    problems = changed_internals(SIGNATURES, ATTRIBUTES, PRESENT, SOURCE)
    installed = {name: importlib.metadata.version(name) for name in framework.WRITTEN_FOR}
    assert not problems, (
        f"dashboard/web/framework.py was written for {framework.WRITTEN_FOR}, "
        f"installed: {installed}; these changed:\n" + "\n".join(problems)
    )


def test_the_canary_names_what_changed() -> None:
    """A changed signature, a missing attribute and changed code each get a line naming them."""
    problems = changed_internals(
        {"hypercorn.protocol.ws_stream.WSStream.handle": "(self) -> 'None'"},
        {"hypercorn.asyncio.tcp_server.TCPServer": ("no_such_attribute",)},
        ("hypercorn.protocol.h11.NoSuchStream",),
        {"hypercorn.asyncio.task_group.TaskGroup.spawn_app": "return something_else"},
    )
    assert problems == [
        "hypercorn.protocol.h11.NoSuchStream: missing",
        "hypercorn.protocol.ws_stream.WSStream.handle: signature was (self) -> 'None', "
        "is now (self, event: 'Event') -> 'None'",
        "hypercorn.asyncio.tcp_server.TCPServer.no_such_attribute: "
        "no longer assigned by hypercorn.asyncio.tcp_server.TCPServer",
        "hypercorn.asyncio.task_group.TaskGroup.spawn_app: no longer does `return something_else`",
    ]


def overriding_classes() -> list[tuple[type, type]]:
    """(class of framework.py or server_config.py, the Hypercorn or Quart class it extends)."""
    pairs = []
    modules = (framework.__name__, framework_connection.__name__, server_config.__name__)
    for cls in {**vars(framework), **vars(framework_connection), **vars(server_config)}.values():
        if isinstance(cls, type) and cls.__module__ in modules:
            for base in cls.__bases__:
                if base.__module__.split(".")[0] in framework.WRITTEN_FOR:
                    pairs.append((cls, base))
    return pairs


def test_every_override_is_recorded() -> None:
    """A method or attribute framework.py overrides is in the canary's tables,
    so a new override cannot go unchecked."""
    assert len(overriding_classes()) == 5
    unrecorded = []
    for cls, base in overriding_classes():
        owner = f"{base.__module__}.{base.__qualname__}"
        base_source = inspect.getsource(base)
        for name in vars(cls):
            if name.startswith("__") and name != "__init__":
                continue
            if hasattr(base, name):
                if f"{owner}.{name}" not in SIGNATURES and base is not Config:
                    unrecorded.append(f"{cls.__name__}.{name} overrides {owner}.{name}")
            elif re.search(rf"self\.{re.escape(name)}\s*[:=]", base_source):
                if name not in ATTRIBUTES.get(owner, ()):
                    unrecorded.append(f"{cls.__name__}.{name} replaces {owner}'s attribute")
    assert not unrecorded, "record these in SIGNATURES or ATTRIBUTES:\n" + "\n".join(unrecorded)


def test_server_config_adds_settings_hypercorn_does_not_have() -> None:
    """ServerConfig's own settings would shadow Hypercorn's, should it gain one by that name."""
    own = framework.ServerConfig.__annotations__
    assert own, "ServerConfig declares its settings"
    hypercorn_names = {n for c in Config.__mro__ for n in vars(c).get("__annotations__", {})}
    shadowing = sorted(n for n in own if hasattr(Config, n) or n in hypercorn_names)
    assert not shadowing, f"Hypercorn's Config now has {shadowing}: rename ServerConfig's"


def pins() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    found = {}
    for line in project["dependencies"]:
        requirement = Requirement(line)
        found[requirement.name.lower()] = requirement
    return found


def test_pins_are_the_versions_written_for() -> None:
    """pyproject allows exactly the minor version framework.py was written for."""
    for name in PINNED:
        written_for = Version(framework.WRITTEN_FOR[name])
        next_minor = Version(f"{written_for.major}.{written_for.minor + 1}")
        spec = pins()[name].specifier
        assert Version(f"{written_for}.0") in spec and next_minor not in spec, (
            f"pyproject pins {name}{spec}; framework.py was written for {written_for}: "
            f"pin {name}>={written_for},<{next_minor}"
        )


def test_installed_versions_are_the_pinned_ones() -> None:
    """What is installed satisfies the pins (else: pip install -e '.[test]' again)."""
    for name in PINNED:
        installed = importlib.metadata.version(name)
        spec = pins()[name].specifier
        assert spec.contains(installed, prereleases=True), (
            f"{name} {installed} is installed but pyproject pins {name}{spec} "
            "(dashboard/web/framework.py overrides its internals)"
        )
