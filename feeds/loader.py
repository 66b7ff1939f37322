"""Find and build feeds from names: ``module:object`` or an installed entry point.

What a name may point at: a ``@feed`` function, a :class:`~feeds.api.Feed`
subclass, a ready feed source, or a factory returning one or a list of them.
Parameters come as strings from the command line (converted by the target's
type hints) or typed from a TOML file.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import sys
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

from feeds.api import LAST, Feed, FunctionFeed
from feeds.base import FeedSource

ENTRY_POINT_GROUP = "dashboard.feeds"


class FeedLoadError(Exception):
    """A feed could not be found or built; the message says why and what to do."""


@dataclass(frozen=True)
class FeedSpec:
    """``use`` is ``module:object`` or an entry-point name; ``params`` go to it.

    ``base_dir`` (a config file's folder) is where its module is looked for
    first and what its relative ``Path`` parameters are relative to.
    """

    use: str
    params: Mapping[str, Any] = field(default_factory=dict)
    base_dir: Path | None = None

    @classmethod
    def parse(cls, words: Sequence[str]) -> FeedSpec:
        """From command-line words: ``["replay", "path=x.csv", "speed=10"]``."""
        if not words:
            raise FeedLoadError(
                "--feed needs a name, e.g. --feed ticker or --feed mymodule:weather"
            )
        params: dict[str, str] = {}
        for word in words[1:]:
            key, sep, value = word.partition("=")
            if not sep or not key.isidentifier():
                raise FeedLoadError(f"feed parameter {word!r} is not key=value")
            params[key] = value
        return cls(words[0], params)


@dataclass(frozen=True)
class Available:
    name: str
    target: str
    origin: str


def _origin(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return f"{dist.name} {dist.version}" if dist is not None else "unknown package"


def available() -> list[Available]:
    """Every feed installed under the ``dashboard.feeds`` entry-point group."""
    found = {
        Available(ep.name, ep.value, _origin(ep)) for ep in entry_points(group=ENTRY_POINT_GROUP)
    }
    return sorted(found, key=lambda a: (a.name, a.origin))


def check_unique(found: Sequence[Available]) -> None:
    """Two packages giving a feed the same name (a plugin calling itself ``ticker``):
    which one ``--feed NAME`` runs would depend on install order. Refused."""
    by_name: dict[str, list[Available]] = {}
    for item in found:
        by_name.setdefault(item.name, []).append(item)
    for name, items in sorted(by_name.items()):
        if len(items) > 1:
            providers = " and ".join(f"{a.origin} ({a.target})" for a in items)
            raise FeedLoadError(
                f"the feed name {name!r} is provided by both {providers}: uninstall one, "
                "or name the feed you mean as module:object"
            )


def resolve(use: str, base_dir: Path | None = None) -> tuple[Any, str]:
    """The object *use* names and a description of where it came from; a
    module is looked for in *base_dir* first, then the current directory."""
    if ":" in use:
        module_name, _, attr = use.partition(":")
        # `python -m dashboard` runs from the current directory; the installed
        # `livefeed` script does not have it on sys.path, so add it.
        if os.getcwd() not in sys.path:
            sys.path.append(os.getcwd())
        if base_dir is not None and str(base_dir) not in sys.path:
            sys.path.insert(0, str(base_dir))  # as `python file.py` puts the file's folder
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise FeedLoadError(f"cannot import {module_name!r} for feed {use!r}: {exc}") from exc
        obj: Any = module
        for part in attr.split("."):
            if not hasattr(obj, part):
                raise FeedLoadError(f"module {module_name!r} has no {attr!r} (feed {use!r})")
            obj = getattr(obj, part)
        return obj, f"{module_name} ({getattr(module, '__file__', None) or 'built-in'})"
    matches = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == use]
    if not matches:
        known = ", ".join(sorted({a.name for a in available()})) or "none installed"
        raise FeedLoadError(
            f"no feed named {use!r}: use module:object, or one of the installed feeds ({known})"
        )
    check_unique([a for a in available() if a.name == use])
    ep = matches[0]
    try:
        obj = ep.load()
    except Exception as exc:  # a plugin's import error is the plugin's, reported as such
        raise FeedLoadError(f"feed {use!r} ({ep.value}) failed to load: {exc}") from exc
    dist = getattr(ep, "dist", None)
    return obj, f"entry point {use!r} = {ep.value} from {dist.name if dist else 'unknown package'}"


def load(spec: FeedSpec) -> list[FeedSource]:
    """Build the feed sources *spec* describes."""
    obj, origin = resolve(spec.use, spec.base_dir)
    try:
        return _instantiate(obj, dict(spec.params), spec.base_dir)
    except (FeedLoadError, TypeError, ValueError, OSError) as exc:
        raise FeedLoadError(f"feed {spec.use!r} ({origin}): {exc}") from exc


def _instantiate(obj: Any, params: dict[str, Any], base_dir: Path | None) -> list[FeedSource]:
    if isinstance(obj, FunctionFeed):
        return [obj.create(**coerce(obj.function, params, base_dir))]
    if isinstance(obj, type) and issubclass(obj, Feed):
        return [obj(**coerce(obj, params, base_dir))]
    if isinstance(obj, FeedSource) and not isinstance(obj, type):
        if params:
            raise FeedLoadError(f"{obj!r} is a ready feed and takes no parameters")
        return [obj]
    if callable(obj):
        made = obj(**coerce(obj, params, base_dir))
        sources = [made] if isinstance(made, FeedSource) else _sources(made)
        if sources is not None:
            return sources
    raise FeedLoadError(
        f"{obj!r} is not a feed: use @feed on an async generator, subclass feeds.Feed, "
        "or give a function returning feed sources"
    )


def _sources(made: Any) -> list[FeedSource] | None:
    if isinstance(made, Iterable) and not isinstance(made, str | bytes | Mapping):
        items = list(made)
        if items and all(isinstance(i, FeedSource) for i in items):
            return items
    return None


def parameters(obj: Any) -> list[str]:
    """The parameters *obj* (what a feed name points at) takes, as ``name: type = default``
    with defaults written as on the command line (``symbols=ACME,GLOBX``)."""
    if isinstance(obj, FunctionFeed):
        target = obj.function
    elif isinstance(obj, type) or (callable(obj) and not isinstance(obj, FeedSource)):
        target = obj
    else:
        return []  # a ready feed source takes none
    # A @feed function's `last` is the dashboard's to pass, not a setting.
    passed_in = {LAST} if isinstance(obj, FunctionFeed) and obj.takes_last else set()
    lines = []
    for parameter in _signature(target).parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if parameter.name in passed_in:
            continue
        line = parameter.name
        if parameter.annotation is not parameter.empty:
            written = inspect.formatannotation(parameter.annotation)
            line += ": " + re.sub(r"\b(?:collections\.abc|typing|pathlib)\.", "", written)
        if parameter.default is parameter.empty:
            line += " (required)"
        else:
            line += f" = {_as_text(parameter.default)}"
        lines.append(line)
    return lines


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "none"
    if isinstance(value, list | tuple):
        return ",".join(str(item) for item in value)
    return str(value)


def _signature(target: Any) -> inspect.Signature:
    try:
        return inspect.signature(target, eval_str=True)
    except (NameError, TypeError, ValueError):
        return inspect.signature(target)


def coerce(target: Any, params: dict[str, Any], base_dir: Path | None = None) -> dict[str, Any]:
    """Convert string parameters by *target*'s type hints; typed values pass
    through. A relative ``Path`` is made relative to *base_dir* when given."""
    signature = _signature(target)
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    out: dict[str, Any] = {}
    for key, value in params.items():
        parameter = signature.parameters.get(key)
        if parameter is None:
            if accepts_any:
                out[key] = value
                continue
            names = ", ".join(p for p in signature.parameters if p != "self") or "none"
            raise FeedLoadError(f"unknown parameter {key!r} (parameters: {names})")
        if isinstance(value, str):
            value = _convert(key, value, parameter.annotation)
        if base_dir is not None and _takes_path(parameter.annotation):
            if isinstance(value, str | Path) and not Path(value).is_absolute():
                value = base_dir / value
        out[key] = value
    return out


def _takes_path(annotation: Any) -> bool:
    """``Path``, or a union with it (``str | Path``, ``Path | None``)."""
    if typing.get_origin(annotation) in (types.UnionType, typing.Union):
        return Path in typing.get_args(annotation)
    return annotation is Path


def _convert(key: str, text: str, annotation: Any) -> Any:
    if annotation is inspect.Parameter.empty or annotation is str or annotation is Any:
        return text
    origin = typing.get_origin(annotation)
    if origin in (types.UnionType, typing.Union):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        if text.lower() in ("", "none", "null") and len(options) < len(typing.get_args(annotation)):
            return None
        errors = []
        for option in options:
            try:
                return _convert(key, text, option)
            except FeedLoadError as exc:
                errors.append(str(exc))
        raise FeedLoadError("; ".join(errors))
    if origin in (list, tuple, Sequence, typing.Sequence) or annotation in (list, tuple):
        items = [item.strip() for item in text.split(",") if item.strip()]
        (item_type,) = typing.get_args(annotation)[:1] or (str,)
        converted = [_convert(key, item, item_type) for item in items]
        return tuple(converted) if origin is tuple or annotation is tuple else converted
    if annotation is bool:
        lowered = text.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise FeedLoadError(f"parameter {key}={text!r}: expected true or false")
    if annotation in (int, float, Path):
        try:
            return annotation(text)
        except ValueError:
            raise FeedLoadError(
                f"parameter {key}={text!r}: expected {annotation.__name__}"
            ) from None
    return text
