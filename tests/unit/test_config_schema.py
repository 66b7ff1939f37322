"""Every setting goes through one schema, whichever source gives it: a wrong
value stops the start with exit status 2 and ONE line that names where it came
from (the file and key, the environment variable, the option), what was
expected and what was given; never a traceback.

The keys come from DashboardConfig's fields and the wrong values from each
field's annotation (its type, bounds, pattern): a setting added later is
covered here with no change to this file.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import re
import string
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic.fields import FieldInfo

from dashboard.config import DashboardConfig
from dashboard.schema import describe, field_types, shown
from dashboard.settings import env_name, setting_names
from dashboard.web.cli import build_parser, config_from_args, program_name

SETTINGS = setting_names()
HINTS = field_types(DashboardConfig)
#: The words pydantic's lax mode reads as a bool.
BOOL_WORDS = {"0", "1", "t", "f", "y", "n", "on", "off", "yes", "no", "true", "false"}
#: Text TOML strings and environment variables can hold (no surrogates).
TEXT = st.text(st.characters(max_codepoint=0xFFFF, exclude_categories=("Cs",)), max_size=10)
WORDS = st.text(string.ascii_letters, min_size=1, max_size=10)


@dataclass
class Shape:
    """What the schema says a setting takes."""

    base: Any  # bool, int, float, str, Path, tuple or a Literal[...]
    bounds: dict[str, Any] = field(default_factory=dict)  # gt, ge, lt, le, min_length
    pattern: str | None = None


def shape_of(hint: Any) -> Shape:
    shape = Shape(None)
    while True:
        origin = typing.get_origin(hint)
        if origin is Annotated:
            hint, *extras = typing.get_args(hint)
            for item in (
                m for info in extras if isinstance(info, FieldInfo) for m in info.metadata
            ):
                for name in ("gt", "ge", "lt", "le", "min_length"):
                    if hasattr(item, name):
                        shape.bounds[name] = getattr(item, name)
                shape.pattern = getattr(item, "pattern", None) or shape.pattern
        elif origin in (types.UnionType, typing.Union):
            (hint,) = [a for a in typing.get_args(hint) if a is not type(None)]
        else:
            shape.base = tuple if origin is tuple else hint
            return shape


def has_toml_type(shape: Shape, value: Any) -> bool:
    """Whether *value* (as TOML reads it) is of the type *shape* asks for."""
    if shape.base is bool:
        return isinstance(value, bool)
    if shape.base is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if shape.base is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if shape.base is tuple:
        return isinstance(value, list)
    return isinstance(value, str)  # str, Path, Literal


def out_of_range(shape: Shape) -> list[st.SearchStrategy[Any]]:
    """Numbers of the right type beyond the bounds (and inf, nan for a float)."""
    if shape.base not in (int, float):
        return []
    whole = shape.base is int
    numbers: list[st.SearchStrategy[Any]] = []
    if shape.base is float:
        numbers.append(st.sampled_from([math.inf, -math.inf, math.nan]))
    finite = {"allow_nan": False, "allow_infinity": False}
    for name, value in shape.bounds.items():
        if name in ("ge", "gt"):
            top = value - 1 if (whole and name == "ge") else value
            numbers.append(
                st.integers(-(2**63), top)
                if whole
                else st.floats(max_value=value, exclude_max=name == "ge", **finite)
            )
        elif name in ("le", "lt"):
            bottom = value + 1 if (whole and name == "le") else value
            numbers.append(
                st.integers(bottom, 2**63 - 1)
                if whole
                else st.floats(min_value=value, exclude_min=name == "le", **finite)
            )
    return numbers


def wrong_toml_values(shape: Shape) -> st.SearchStrategy[Any]:
    scalars = st.one_of(TEXT, st.integers(-(2**63), 2**63 - 1), st.floats(), st.booleans())
    anything = st.one_of(scalars, st.lists(scalars, max_size=3))
    parts = [anything.filter(lambda v: not has_toml_type(shape, v)), st.just(""), st.just(" ")]
    parts += out_of_range(shape)
    if typing.get_origin(shape.base) is Literal:
        parts.append(TEXT.filter(lambda t: t not in typing.get_args(shape.base)))
    if shape.pattern:
        parts.append(TEXT.filter(lambda t: not re.fullmatch(shape.pattern, t)))
    if shape.bounds.get("min_length") and shape.base is tuple:
        parts.append(st.just([]))
    return st.one_of(parts)


def wrong_texts(shape: Shape) -> st.SearchStrategy[str]:
    """Text (an option's, an environment variable's) that is no right value."""
    parts = [st.sampled_from(["", " ", "\t"])]
    numbers = [s.map(str) for s in out_of_range(shape)]
    if shape.base is int:
        parts += [WORDS, st.just("2.5"), *numbers]
    elif shape.base is float:
        parts += [WORDS.filter(lambda w: w.lower() not in ("e",)), *numbers]
    elif shape.base is bool:
        parts.append(WORDS.filter(lambda w: w.lower() not in BOOL_WORDS))
    elif typing.get_origin(shape.base) is Literal:
        parts.append(WORDS.filter(lambda w: w not in typing.get_args(shape.base)))
    if shape.pattern:
        parts.append(WORDS.map(lambda w: w + " " + w))
    if shape.bounds.get("min_length") and shape.base is tuple:
        parts.append(st.just(","))
    return st.one_of(parts)


def toml(value: Any) -> str:
    """*value* written as TOML."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value)  # JSON's escapes of BMP text are TOML's
    return str(value)


def refusal(argv: list[str], environ: dict[str, str] | None = None) -> str:
    """The one line a wrong setting gets; the start must stop with status 2."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), pytest.raises(SystemExit) as exited:
        config_from_args(argv, environ=environ or {})
    assert exited.value.code == 2
    lines = err.getvalue().splitlines()
    assert len(lines) == 1, err.getvalue()
    assert "Traceback" not in lines[0]
    assert lines[0].startswith(f"{program_name()}: error: ")
    return lines[0]


def assert_names_all(line: str, where: str, key: str, given: Any) -> None:
    """The line says where, what was expected (type and range), and what was given."""
    assert where in line
    assert f"must be {describe(HINTS[key])}, not {shown(given)}" in line


PROPERTY = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def test_every_field_is_a_setting_with_a_type_described():
    """The schema covers each field but feeds, and says in words what each takes."""
    assert set(SETTINGS) == {name for name in HINTS if name != "feeds"}
    for name in SETTINGS:
        assert not describe(HINTS[name]).startswith("a typing"), name


@pytest.mark.parametrize("key", SETTINGS)
@PROPERTY
@given(data=st.data())
def test_wrong_value_in_the_config_file(key, data, tmp_path):
    """`--config file.toml` with a wrong [server] value: status 2, one line
    naming the file and key, the expected type and range, and the value."""
    value = data.draw(wrong_toml_values(shape_of(HINTS[key])), label=key)
    path = tmp_path / "dashboard.toml"
    path.write_text(f"[server]\n{key} = {toml(value)}\n", encoding="utf-8")
    given_value = tuple(value) if isinstance(value, list) else value
    line = refusal(["--config", str(path)])
    assert_names_all(line, f"{path} [server] {key}", key, given_value)


@pytest.mark.parametrize("key", SETTINGS)
@PROPERTY
@given(data=st.data())
def test_wrong_value_in_the_environment(key, data):
    """DASHBOARD_<SETTING> with a wrong value: status 2, one line naming the
    variable, the expected type and range, and the value."""
    text = data.draw(wrong_texts(shape_of(HINTS[key])), label=key)
    variable = env_name(key)
    line = refusal([], environ={variable: text})
    assert_names_all(line, f"${variable}", key, text)


def flags() -> list[tuple[str, str, bool]]:
    """The options that set a setting from text (not the on/off switches):
    the setting, the option, and whether it repeats (each one an item)."""
    return sorted(
        (action.dest, action.option_strings[0], isinstance(action, argparse._AppendAction))
        for action in build_parser()._actions
        if action.dest in SETTINGS and action.nargs != 0
    )


@pytest.mark.parametrize(("key", "flag", "repeats"), flags())
@PROPERTY
@given(data=st.data())
def test_wrong_value_on_the_command_line(key, flag, repeats, data):
    """--option with a wrong value: status 2, one line naming the option, the
    expected type and range, and the value."""
    text = data.draw(wrong_texts(shape_of(HINTS[key])), label=key)
    line = refusal([f"{flag}={text}"])
    assert_names_all(line, flag, key, [text] if repeats else text)


def test_wrong_values_are_generated_for_every_kind_of_setting():
    """The generators above know every base type the schema uses: a new kind
    of setting must teach them what its wrong values are."""
    known = {bool, int, float, str, Path, tuple}
    for key in SETTINGS:
        base = shape_of(HINTS[key]).base
        assert base in known or typing.get_origin(base) is Literal, (key, base)
