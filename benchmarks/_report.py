"""The printed report of benchmarks/fanout.py: medians over runs, ratios per run."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
from collections.abc import Callable

VALUES_PER_POINT = 2  # ticker points: price and volume


def _fmt(value: float, spec: str) -> str:
    return "n/a" if value != value else format(value, spec)  # NaN


def _median(values: list[float]) -> float:
    values = [v for v in values if v == v]
    return statistics.median(values) if values else float("nan")


ROWS: list[tuple[str, Callable[[dict], float], str]] = [
    ("clients connected", lambda r: r["clients"], ".0f"),
    ("connect time (s)", lambda r: r["connect_s"], ".1f"),
    ("server CPU per connect (ms)", lambda r: r["server_cpu_ms_per_connect"], ".2f"),
    ("points/s delivered", lambda r: r["points_per_s"], ",.0f"),
    ("values/s delivered", lambda r: r["values_per_s"], ",.0f"),
    ("frames/s delivered", lambda r: r["frames_per_s"], ",.0f"),
    ("points/s produced (all feeds)", lambda r: r["produced_points_per_s"], ",.1f"),
    ("delivered / produced (%)", lambda r: 100 * r["delivered_fraction"], ".2f"),
    ("delivered / offered (%)", lambda r: 100 * r["offered_fraction"], ".2f"),
    ("worst client: delivered / produced (%)", lambda r: 100 * r["worst_client_fraction"], ".2f"),
    (
        "worst client, by production time (%)",
        lambda r: 100 * r["worst_client_by_ts_fraction"],
        ".2f",
    ),
    ("points per frame", lambda r: r["points_per_frame"], ".2f"),
    ("mean frame (bytes)", lambda r: r["mean_frame_bytes"], ",.0f"),
    ("latency p50 (ms)", lambda r: r["latency_ms"]["p50"], ".1f"),
    ("latency p95 (ms)", lambda r: r["latency_ms"]["p95"], ".1f"),
    ("latency p99 (ms)", lambda r: r["latency_ms"]["p99"], ".1f"),
    ("latency max (ms)", lambda r: r["latency_ms"]["max"], ".1f"),
    ("latency samples", lambda r: r["latency_ms"]["samples"], ".0f"),
    ("gaps (missing seqs)", lambda r: r["gaps"], ".0f"),
    ("server CPU (cores)", lambda r: r["server_cpu_cores"], ".2f"),
    ("server peak RSS (MB)", lambda r: r["server_peak_rss_mb"], ".0f"),
    ("server RSS at end (MB)", lambda r: r["server_rss_mb"], ".0f"),
    ("server RSS before clients (MB)", lambda r: r["server_rss_before_mb"], ".0f"),
    ("RSS per connection (KB)", lambda r: r["rss_kb_per_connection"], ".1f"),
    ("generator CPU (cores)", lambda r: r["generator_cpu_cores"], ".2f"),
    ("slow clients connected", lambda r: r["slow_clients"], ".0f"),
    ("slow clients closed (1008)", lambda r: r["slow_closed_by_server"], ".0f"),
    ("errors: connect", lambda r: r["errors"]["connect"], ".0f"),
    ("errors: other", lambda r: r["errors"]["other"], ".0f"),
]


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def ratios(run: dict[str, dict]) -> dict[str, float]:
    """The comparisons made within one run."""
    out: dict[str, float] = {}
    project = run.get("project")
    if project is None:
        return out
    if "naive" in run:
        out["values/s, project / naive"] = _ratio(
            project["values_per_s"], run["naive"]["values_per_s"]
        )
    if "ceiling" in run:
        out["frames/s, project / ceiling (bare websockets.broadcast)"] = _ratio(
            project["frames_per_s"], run["ceiling"]["frames_per_s"]
        )
        ceiling = run["ceiling"]
        out["latency p99, project / ceiling"] = _ratio(
            project["latency_ms"]["p99"], ceiling["latency_ms"]["p99"]
        )
        out["server CPU, project / ceiling"] = _ratio(
            project["server_cpu_cores"], ceiling["server_cpu_cores"]
        )
        out["RSS per connection (KB), project"] = project["rss_kb_per_connection"]
        out["RSS per connection (KB), ceiling"] = ceiling["rss_kb_per_connection"]
        out[
            "ceiling offered frames/s per client (the offered load in the project's frame size)"
        ] = ceiling.get("offered_frames_per_s_per_client", float("nan"))
    if "project+slow" in run:
        slow = run["project+slow"]
        out["slow readers: server RSS at end, MB above the run without"] = (
            slow["server_rss_mb"] - project["server_rss_mb"]
        )
        out["slow readers: peak RSS, MB above the run without"] = (
            slow["server_peak_rss_mb"] - project["server_peak_rss_mb"]
        )
        out["slow readers: reading clients' p99 / p99 without"] = _ratio(
            slow["latency_ms"]["p99"], project["latency_ms"]["p99"]
        )
    return out


def machine() -> str:
    model = ""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next((ln.split(":", 1)[1].strip() for ln in cpuinfo if "model name" in ln), "")
    except OSError:
        pass
    return (
        f"{os.cpu_count()} CPUs ({model or platform.machine()}), "
        f"Python {platform.python_version()}, Linux {platform.release()}"
    )


def print_report(runs: list[dict[str, dict]], args: argparse.Namespace) -> None:
    names = [name for name in runs[0]]
    load = args.clients * args.series * args.rate
    print(
        f"\nload: {args.clients} clients x {args.series} series (ticker feeds) x {args.rate:g} Hz"
        f" = {load:,.0f} points/s offered ({VALUES_PER_POINT} values each: price, volume);"
        f" clients {'offer no compression' if args.no_compression else 'offer permessage-deflate'},"
        f" the dashboard {'accepts' if args.server_compression else 'refuses'} it;"
        f" window {args.duration:g} s after {args.warmup:g} s warm-up;"
        f" {args.generators} generator processes; {machine()}"
    )
    print(f"median of {len(runs)} run(s)" + (" (min-max in brackets)" if len(runs) > 1 else ""))
    width = max(len(label) for label, _, _ in ROWS)
    col = 24 if len(runs) > 1 else 14
    print(f"{'':<{width}}  " + "  ".join(f"{name:>{col}}" for name in names))
    for label, get, spec in ROWS:
        cells = []
        for name in names:
            values = [get(run[name]) for run in runs if name in run]
            cell = _fmt(_median(values), spec)
            if len(values) > 1:
                cell += f" [{_fmt(min(values), spec)}-{_fmt(max(values), spec)}]"
            cells.append(f"{cell:>{col}}")
        print(f"{label:<{width}}  " + "  ".join(cells))
    closed = {name: [run[name]["errors"]["closed_early"] for run in runs] for name in names}
    print(f"{'errors: closed early, per run':<{width}}  {json.dumps(closed)}")
    per_run = [ratios(run) for run in runs]
    if per_run[0]:
        print()
        for key in per_run[0]:
            values = [r[key] for r in per_run]
            each = ", ".join(_fmt(v, ".2f") for v in values)
            print(f"{key}: {_fmt(_median(values), '.2f')}  (runs: {each})")
