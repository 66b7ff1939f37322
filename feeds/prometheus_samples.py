"""The prometheus feed's decisions, pure: which samples of an exposition it
plots, under which series names and units, and counters turned into rates.

No I/O and no clock of its own: the feed (feeds/prometheus.py) fetches the
body and passes the time of each scrape in.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families as text_families
from prometheus_client.samples import Sample

#: Sample suffixes plotted as per-second rates (a counter's ``_total``, a
#: histogram's or summary's ``_count`` and ``_sum``).
_RATED_TYPES = ("histogram", "summary")
#: Families never plotted: a state set or an info metric is a label, not a number.
_SKIPPED_TYPES = ("info", "stateset", "gaugehistogram")
#: Units read from a metric name's last word (or its OpenMetrics UNIT).
UNITS = {
    "seconds": "s",
    "bytes": "B",
    "bits": "bit",
    "percent": "%",
    "celsius": "°C",
    "volts": "V",
    "amperes": "A",
    "joules": "J",
    "watts": "W",
    "meters": "m",
    "grams": "g",
    "hertz": "Hz",
    "ratio": "",
}
_SERIES_CHARS = re.compile(r"[^A-Za-z0-9_.\-]+")
_MAX_NAME = 64
_MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)(.*)$")


class SelectionError(ValueError):
    """A ``metrics=`` or ``labels=`` setting that cannot be used; the message says why."""


@dataclass(frozen=True)
class Matcher:
    """One label matcher, as PromQL writes them: ``=``, ``!=``, ``=~``, ``!~``
    (regular expressions match the whole value, as in PromQL)."""

    label: str
    op: str
    value: str
    pattern: re.Pattern[str] | None = None

    @classmethod
    def parse(cls, text: str) -> Matcher:
        found = _MATCHER.match(text)
        if found is None:
            raise SelectionError(
                f"label matcher {text!r} is not name=value, name!=value, name=~regex or name!~regex"
            )
        label, op, value = found.groups()
        value = value.strip().strip('"')
        pattern = _compile(value, f"label matcher {text!r}") if "~" in op else None
        return cls(label, op, value, pattern)

    def matches(self, labels: dict[str, str]) -> bool:
        got = labels.get(self.label, "")  # a missing label is "", as in PromQL
        if self.pattern is not None:
            return (self.pattern.fullmatch(got) is not None) == (self.op == "=~")
        return (got == self.value) == (self.op == "=")


def _compile(text: str, what: str) -> re.Pattern[str]:
    try:
        return re.compile(text)
    except re.error as exc:
        raise SelectionError(f"{what}: bad regular expression: {exc}") from None


@dataclass(frozen=True)
class Selection:
    """Which samples are plotted: a metric name matching one of ``metrics``
    (each a regular expression matching the whole name; a plain name matches
    itself) and labels matching every one of ``labels``."""

    metrics: tuple[re.Pattern[str], ...]
    labels: tuple[Matcher, ...] = ()

    @classmethod
    def parse(cls, metrics: Iterable[str], labels: Iterable[str] = ()) -> Selection:
        names = [m.strip() for m in metrics if m.strip()]
        if not names:
            raise SelectionError(
                "metrics= names no metric: give names or patterns, e.g. up,node_.*"
            )
        patterns = tuple(_compile(n, f"metrics pattern {n!r}") for n in names)
        matchers = tuple(Matcher.parse(m) for m in labels if m.strip())
        return cls(patterns, matchers)

    def wants(self, names: Sequence[str], labels: dict[str, str]) -> bool:
        """Whether a sample whose metric is called any of *names* (the sample's
        own name, its family's) and has *labels* is plotted."""
        named = any(p.fullmatch(n) for p in self.metrics for n in names)
        return named and all(m.matches(labels) for m in self.labels)


@dataclass(frozen=True)
class Reading:
    """One selected sample of one scrape."""

    key: str  # the metric and its labels as Prometheus writes them: a{b="c"}
    metric: str
    labels: dict[str, str]
    value: float
    rate: bool  # a cumulative count: plotted as its per-second rate
    unit: str


def parse(body: str, content_type: str = "") -> Iterator[tuple[str, str, str, Sample]]:
    """``(family name, type, unit, sample)`` for every sample of an exposition
    in the text format, or OpenMetrics when *content_type* says so. Raises
    ValueError (or what the parser raises) for a body neither parser reads."""
    openmetrics = content_type.split(";")[0].strip().lower() == "application/openmetrics-text"
    # The text parser has no annotations; both yield Metric families.
    families = openmetrics_families(body) if openmetrics else text_families(body)  # type: ignore[no-untyped-call]
    for family in families:
        for sample in family.samples:
            yield family.name, family.type, family.unit, sample


def select(body: str, content_type: str, selection: Selection) -> list[Reading]:
    """The samples of *body* that *selection* picks, each once, in exposition order."""
    readings: dict[str, Reading] = {}
    for family, kind, unit, sample in parse(body, content_type):
        name, labels = sample.name, dict(sample.labels)
        rate = _rated(family, kind, name, labels)
        if rate is None or not selection.wants((name, family), labels):
            continue
        value = float(sample.value)
        if not math.isfinite(value):
            continue  # NaN (an empty summary) and infinities are not plotted
        key = sample_key(name, labels)
        readings.setdefault(key, Reading(key, name, labels, value, rate, unit_of(name, unit, rate)))
    return list(readings.values())


def _rated(family: str, kind: str, name: str, labels: dict[str, str]) -> bool | None:
    """True: a sample plotted as a rate; False: as its value; None: not plotted
    (``_created``, buckets, quantiles, info and state sets)."""
    if kind in _SKIPPED_TYPES or name.endswith("_created"):
        return None
    if kind == "counter":
        return True
    if kind in _RATED_TYPES:
        return True if name in (family + "_count", family + "_sum") else None
    return False  # gauge, unknown (untyped)


def sample_key(name: str, labels: dict[str, str]) -> str:
    """``name{a="1",b="2"}``, labels sorted, as Prometheus shows a series."""
    if not labels:
        return name
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def series_name(metric: str, labels: dict[str, str], key: str) -> str:
    """A dashboard series name (letters, digits, ``_.-``; at most 64) for a
    sample: ``metric.label-value.label-value``, labels sorted, any other
    character as ``_``; a longer one is cut, with a short hash of *key*."""
    parts = [metric] + [f"{k}-{v}" for k, v in sorted(labels.items())]
    name = _SERIES_CHARS.sub("_", ".".join(parts))
    if not name[0].isalnum():
        name = "m" + name
    return name if len(name) <= _MAX_NAME else f"{name[: _MAX_NAME - 7]}-{short_hash(key)}"


def short_hash(key: str) -> str:
    """Six hex digits of *key*: two series whose names came out alike stay apart."""
    return hashlib.sha1(key.encode()).hexdigest()[:6]


def unit_of(name: str, declared: str, rate: bool) -> str:
    """The unit shown for a sample: its family's UNIT, else the last unit word
    of its name (``_seconds`` -> ``s``; ``bytes_sent_total`` -> ``B``, as
    names do not all end with their unit), per second when plotted as a rate."""
    if declared:
        base = UNITS.get(declared, declared)
    else:
        words = [w for w in name.split("_") if w in UNITS]
        base = UNITS[words[-1]] if words else ""
    if name.endswith("_count"):
        base = ""  # a histogram's count counts observations, whatever they measure
    return f"{base}/s" if rate else base


@dataclass
class Rates:
    """Counters turned into per-second rates between two successive scrapes.

    The first scrape of a counter gives no rate. A counter lower than at the
    scrape before was reset (its process restarted): as Prometheus' ``rate()``
    does, the increase is taken as counted from 0, so the rate stays >= 0.
    """

    _last: dict[str, tuple[float, float]] = field(default_factory=dict)

    def rate(self, key: str, value: float, at: float) -> float | None:
        """The rate of counter *key* now at *value* (at *at*, in seconds on a
        monotonic clock) since the last call for it; None on its first call."""
        before = self._last.get(key)
        self._last[key] = (value, at)
        if before is None:
            return None
        last_value, last_at = before
        elapsed = at - last_at
        if elapsed <= 0:
            return None
        increase = value - last_value if value >= last_value else value
        return increase / elapsed

    def forget(self) -> None:
        """Start again: the next scrape of each counter gives no rate."""
        self._last.clear()
