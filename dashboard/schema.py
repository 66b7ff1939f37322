"""One typed schema for every setting: each field of a settings dataclass is
checked against its own annotation (the type plus pydantic ``Field``
constraints), whichever source gave the value.

Values that arrive typed (a TOML file, code) are checked strictly: ``"false"``
is not a bool and ``2.5`` is not an int. Text from the command line or the
environment is parsed by the same types (pydantic's lax mode: ``"8080"`` is
the int 8080, ``"off"`` the bool False). A wrong value raises
:class:`SettingError`, whose message is one line: where the value came from,
the key, what was expected and what was given.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import annotated_types
from pydantic import ConfigDict, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from dashboard.backplane_url import redact_url

#: inf and nan are no setting's value (0 is "off" where off exists).
_PYDANTIC_CONFIG = ConfigDict(allow_inf_nan=False, arbitrary_types_allowed=True)
#: Shown values are cut to this many characters: the error stays one line.
MAX_SHOWN = 80

BOUNDS: dict[str, type] = {
    "gt": annotated_types.Gt,
    "ge": annotated_types.Ge,
    "lt": annotated_types.Lt,
    "le": annotated_types.Le,
    "min_length": annotated_types.MinLen,
}
_SIMPLE = {
    bool: "true or false",
    int: "an integer",
    float: "a number",
    str: "a string",
    Path: "a path",
}


class SettingError(ValueError):
    """A setting is wrong; the message is the one line to show the user."""


@functools.cache
def field_types(cls: type) -> dict[str, Any]:
    """Each field of the dataclass *cls* and its annotation, ``Annotated`` extras kept."""
    hints = typing.get_type_hints(cls, include_extras=True)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


#: Settings holding a URL that may carry a password.
URL_SETTINGS = frozenset({"backplane"})


@functools.cache
def _adapter(cls: type, name: str) -> TypeAdapter[Any]:
    return TypeAdapter(field_types(cls)[name], config=_PYDANTIC_CONFIG)


def parse_setting(cls: type, name: str, value: Any, *, label: str, strict: bool) -> Any:
    """*value* as field *name* of *cls* holds it, or SettingError.

    *label* says where the value came from (``--port``, ``$DASHBOARD_PORT``,
    ``dashboard.toml [server] port``). *strict* for values that came typed;
    otherwise text is parsed, a list from comma-separated items.
    """
    hint = field_types(cls)[name]
    expected = describe(hint)
    # A URL's password must not reach an error line (or a log holding it).
    given = redact_url(value) if isinstance(value, str) and name in URL_SETTINGS else value
    if isinstance(value, str) and not value.strip():
        # Never a setting, but the trace of one gone wrong: an unset shell
        # variable (`--viewer-token "$TYPO"`, `DASHBOARD_VIEWER_TOKEN=`) would
        # otherwise leave the dashboard open while looking configured.
        raise SettingError(f"{label} must be {expected}, not {shown(value)}")
    if not strict and isinstance(value, str):
        if takes_list(hint):
            value = [item.strip() for item in value.split(",") if item.strip()]
    try:
        return _adapter(cls, name).validate_python(value, strict=strict)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        wrong = f"{label} must be {expected}, not {shown(given)}"
        if error["type"] == "value_error":  # a validator's own words say what is wrong
            wrong += ": " + one_line(str(error["ctx"]["error"]))
        raise SettingError(wrong) from None


def takes_list(hint: Any) -> bool:
    """Whether *hint* (Annotated, Optional or not) is a tuple type."""
    while True:
        origin = typing.get_origin(hint)
        if origin is Annotated:
            hint = typing.get_args(hint)[0]
        elif origin in (types.UnionType, typing.Union):
            options = [a for a in typing.get_args(hint) if a is not type(None)]
            if len(options) != 1:
                return False
            hint = options[0]
        else:
            return origin is tuple


def check_fields(instance: Any) -> None:
    """Check every field of a settings dataclass *instance* against its annotation."""
    for field in dataclasses.fields(instance):
        parse_setting(
            type(instance), field.name, getattr(instance, field.name), label=field.name, strict=True
        )


def describe(hint: Any) -> str:
    """What a value of *hint* looks like, in words: ``an integer 0-65535``."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is Annotated:
        infos = [m for m in args[1:] if isinstance(m, FieldInfo)]
        worded = [info.description for info in infos if info.description]
        if worded:  # the type's own wording says it best
            return worded[0]
        return _with_bounds(describe(args[0]), [m for info in infos for m in info.metadata])
    if origin in (types.UnionType, typing.Union):
        return " or ".join(describe(a) for a in args if a is not type(None))
    if origin is Literal:
        return "one of " + ", ".join(str(a) for a in args)
    if origin is tuple:
        return f"a list, each {describe(args[0])}"
    return _SIMPLE.get(hint, f"a {getattr(hint, '__name__', hint)}")


def _with_bounds(text: str, metadata: list[Any]) -> str:
    """*text* with the bounds in *metadata* (what pydantic made of ``Field(ge=...)``)."""
    bounds: dict[str, Any] = {}
    for item in metadata:
        for name in ("gt", "ge", "lt", "le", "min_length"):
            if isinstance(item, BOUNDS[name]):
                bounds[name] = getattr(item, name)
    if bounds.get("min_length") == 1 and text.startswith(("a list", "a string")):
        text = "a non-empty " + text.removeprefix("a ")
    if "ge" in bounds and "le" in bounds:
        return f"{text} {bounds['ge']}-{bounds['le']}"
    signs = (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="))
    limits = [f"{sign} {_plain(bounds[name])}" for name, sign in signs if name in bounds]
    return " ".join([text, " and ".join(limits)]) if limits else text


def _plain(number: Any) -> str:
    """A bound as a person writes it: 34560000, not 3.456e+07 or 34560000.0."""
    if isinstance(number, float) and number.is_integer():
        return str(int(number))
    return str(number)


def shown(value: Any) -> str:
    """*value* as the user wrote it (TOML and JSON agree on strings, numbers, lists)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # inf, nan: as TOML writes them
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except ValueError:  # a circular structure: not from any file
        text = repr(value)
    # Escaped as JSON escapes them, so that the line stays one line (no
    # U+2028, no NEL) and shows what is really there.
    text = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def one_line(text: str) -> str:
    return " ".join(text.split())
