"""Where each setting comes from, and the config they make together.

Sources, each later one winning: the defaults, a TOML file (``--config``), the
environment (``DASHBOARD_<SETTING>``, any setting), the command line. Every
value goes through the one schema of :class:`DashboardConfig`
(dashboard/schema.py), so a wrong one stops the start with one line that says
where it came from.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dashboard.config import DashboardConfig
from dashboard.schema import SettingError, parse_setting
from feeds.loader import FeedSpec

ENV_PREFIX = "DASHBOARD_"
#: Fields that are not settings of their own: feeds come as [[feeds]] or --feed.
NOT_SETTINGS = frozenset({"feeds"})
#: Settings of the simulated tickers; given with feeds, they go to the ticker feed.
TICKER_SETTINGS = ("symbols", "rate", "seed", "drift", "volatility")
TICKER_FEEDS = frozenset({"ticker", "feeds.ticker:tickers"})


@dataclass(frozen=True)
class Given:
    """A setting's value as its source gave it."""

    value: Any
    #: Where it came from: ``--port``, ``$DASHBOARD_PORT``, ``x.toml [server] port``.
    label: str
    #: Typed at the source (a file): checked strictly. Text is parsed.
    typed: bool


def setting_names() -> list[str]:
    """Every setting, from the fields of DashboardConfig."""
    return [f.name for f in dataclasses.fields(DashboardConfig) if f.name not in NOT_SETTINGS]


def env_name(setting: str) -> str:
    return ENV_PREFIX + setting.upper()


def unknown(what: str, name: str, known: Sequence[str]) -> SettingError:
    """The error for a key that is no setting, with the likeliest one meant."""
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return SettingError(f"{what} is not a setting{hint}")


def from_environment(environ: Mapping[str, str]) -> dict[str, Given]:
    """``DASHBOARD_<SETTING>`` variables; one with that prefix naming no setting is an error."""
    settings = {env_name(name): name for name in setting_names()}
    found: dict[str, Given] = {}
    for variable, text in environ.items():
        if not variable.startswith(ENV_PREFIX):
            continue
        if variable not in settings:
            raise unknown(f"${variable}", variable, list(settings))
        found[settings[variable]] = Given(text, f"${variable}", typed=False)
    return found


def build_config(
    sources: Sequence[Mapping[str, Given]], feeds: tuple[FeedSpec, ...] = ()
) -> DashboardConfig:
    """The config from *sources* (later ones win) and the *feeds* to run, or SettingError."""
    given: dict[str, Given] = {}
    values: dict[str, Any] = {}
    for source in sources:  # each value is checked, also one that a later source overrides
        for name, g in source.items():
            values[name] = parse_setting(
                DashboardConfig, name, g.value, label=g.label, strict=g.typed
            )
            given[name] = g
    if feeds:
        values["feeds"] = with_ticker_settings(feeds, given, values)
    try:
        return DashboardConfig(**values)
    except SettingError:
        raise
    except ValueError as exc:  # a rule across fields: name where those fields came from
        mentioned = [g.label for name, g in given.items() if re.search(rf"\b{name}\b", str(exc))]
        where = ", ".join(mentioned) + ": " if mentioned else ""
        raise SettingError(f"{where}{exc}") from None


def with_ticker_settings(
    feeds: tuple[FeedSpec, ...], given: Mapping[str, Given], values: Mapping[str, Any]
) -> tuple[FeedSpec, ...]:
    """*feeds* with the ticker settings given (``--symbols``, ``--rate``...) passed to
    the ticker feed among them (its own parameters win); refused if none runs."""
    chosen = {name: values[name] for name in TICKER_SETTINGS if name in given}
    if not chosen:
        return feeds
    if not any(spec.use in TICKER_FEEDS for spec in feeds):
        labels = ", ".join(given[name].label for name in chosen)
        raise SettingError(
            f"{labels}: set the simulated tickers, but the feeds given do not include them: "
            "add the feed ticker, or leave these out"
        )
    return tuple(
        dataclasses.replace(spec, params={**chosen, **spec.params})
        if spec.use in TICKER_FEEDS
        else spec
        for spec in feeds
    )
