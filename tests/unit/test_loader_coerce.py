"""What a feed parameter given as text becomes (feeds/loader.py's coerce):
``--feed name key=value`` gives text, which the feed's type hints convert;
a config file's typed values pass through as TOML gave them."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from feeds.loader import FeedLoadError, coerce


def weather(
    city: str,
    speed: float = 1.0,
    count: int = 3,
    loop: bool = False,
    path: Path | None = None,
    symbols: tuple[str, ...] = (),
    levels: list[int] | None = None,
    tags: list = (),  # noqa: B006 - never called, only read for its hints
    limit: int | None = None,
    size: int | float = 1,
    note=None,
):
    raise AssertionError("coerce reads the signature; it never calls the feed")


def converted(**text: str) -> dict:
    return coerce(weather, text)


@pytest.mark.parametrize(
    ("key", "text", "value"),
    [
        ("city", "Oslo", "Oslo"),  # str: as given
        ("city", "", ""),
        ("speed", "2.5", 2.5),
        ("speed", "10", 10.0),
        ("speed", "1e3", 1000.0),
        ("count", "42", 42),
        ("count", "-7", -7),
        ("path", "data/a.csv", Path("data/a.csv")),
        ("symbols", "ACME, GLOBX,,", ("ACME", "GLOBX")),  # tuple: split at commas, trimmed
        ("symbols", "", ()),
        ("levels", "1,2, 3", [1, 2, 3]),  # list[int]: each item converted
        ("tags", "a,b", ["a", "b"]),  # bare list: items as text
        ("limit", "5", 5),
        ("size", "2", 2),  # a union tries its types in order: int first
        ("size", "2.5", 2.5),
        ("note", "anything", "anything"),  # no hint: as given
    ],
)
def test_text_becomes_the_hinted_type(key, text, value):
    result = converted(**{key: text})[key]
    assert result == value and type(result) is type(value)


@pytest.mark.parametrize("text", ["1", "true", "TRUE", "yes", "on"])
def test_true_in_words(text):
    assert converted(loop=text) == {"loop": True}


@pytest.mark.parametrize("text", ["0", "false", "False", "no", "off"])
def test_false_in_words(text):
    assert converted(loop=text) == {"loop": False}


@pytest.mark.parametrize("text", ["", "none", "None", "null"])
def test_none_in_words_for_an_optional_parameter(text):
    assert converted(limit=text, path=text, levels=text) == {
        "limit": None,
        "path": None,
        "levels": None,
    }


def test_a_float_parameter_takes_infinities_and_nan():
    assert converted(speed="inf")["speed"] == math.inf
    assert math.isnan(converted(speed="nan")["speed"])


@pytest.mark.parametrize(
    ("key", "text", "message"),
    [
        ("count", "1.5", "parameter count='1.5': expected int"),
        ("count", "three", "parameter count='three': expected int"),
        ("speed", "fast", "parameter speed='fast': expected float"),
        ("loop", "maybe", "parameter loop='maybe': expected true or false"),
        ("levels", "1,x", "parameter levels='x': expected int"),
        ("size", "big", "parameter size='big': expected int; parameter size='big': expected float"),
    ],
)
def test_text_that_is_not_the_type_is_refused_naming_parameter_and_type(key, text, message):
    with pytest.raises(FeedLoadError) as refused:
        converted(**{key: text})
    assert str(refused.value) == message


def test_typed_values_pass_through_unconverted():
    """A config file gives TOML's types: they are not read as text again."""
    given = {"count": 3, "speed": 2, "symbols": ["A"], "loop": True}
    assert coerce(weather, given) == given


def test_an_unknown_parameter_is_refused_listing_the_known_ones():
    with pytest.raises(FeedLoadError) as refused:
        converted(town="Oslo")
    assert str(refused.value).startswith("unknown parameter 'town' (parameters: city, speed,")


def test_keyword_arguments_take_unknown_parameters_as_given():
    def anything(rate: float = 1.0, **options):
        raise AssertionError("never called")

    assert coerce(anything, {"rate": "2", "colour": "red"}) == {"rate": 2.0, "colour": "red"}


def test_relative_paths_are_relative_to_the_base_folder(tmp_path):
    assert coerce(weather, {"path": "a.csv"}, tmp_path) == {"path": tmp_path / "a.csv"}
    assert coerce(weather, {"path": "/data/a.csv"}, tmp_path) == {"path": Path("/data/a.csv")}
    assert coerce(weather, {"city": "a.csv"}, tmp_path) == {"city": "a.csv"}  # not a Path


def test_a_class_is_read_by_its_init():
    class Replay:
        def __init__(self, path: Path, speed: float = 1.0) -> None:
            raise AssertionError("never called")

    assert coerce(Replay, {"path": "x.csv", "speed": "4"}) == {"path": Path("x.csv"), "speed": 4.0}
