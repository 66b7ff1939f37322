"""The printed report of benchmarks/scaleout.py: medians over runs, ratios per run."""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable

from _report import _fmt, _median, machine


def _processes(r: dict, index: int, key: str = "cpu_cores") -> float:
    procs = r["processes"]
    return procs[index][key] if index < len(procs) else float("nan")


def _rss(r: dict) -> list[float]:
    return [p["rss_mb"] for p in r["processes"]] or [float("nan")]


def _redis(key: str) -> Callable[[dict], float]:
    return lambda r: r["redis"][key] if r.get("redis") else float("nan")


ROWS: list[tuple[str, Callable[[dict], float], str]] = [
    ("clients connected", lambda r: r["clients"], ".0f"),
    ("connect time (s)", lambda r: r["connect_s"], ".1f"),
    ("points/s delivered", lambda r: r["points_per_s"], ",.0f"),
    ("points/s produced (all feeds)", lambda r: r["produced_points_per_s"], ",.1f"),
    ("delivered / produced (%)", lambda r: 100 * r["delivered_fraction"], ".2f"),
    ("delivered / offered (%)", lambda r: 100 * r["offered_fraction"], ".2f"),
    ("worst client: delivered / produced (%)", lambda r: 100 * r["worst_client_fraction"], ".2f"),
    ("latency p50 (ms)", lambda r: r["latency_ms"]["p50"], ".1f"),
    ("latency p99 (ms)", lambda r: r["latency_ms"]["p99"], ".1f"),
    ("latency max (ms)", lambda r: r["latency_ms"]["max"], ".1f"),
    ("latency samples", lambda r: r["latency_ms"]["samples"], ".0f"),
    ("gaps (missing seqs)", lambda r: r["gaps"], ".0f"),
    ("duplicates", lambda r: r["duplicates"], ".0f"),
    ("dashboard CPU, all processes (cores)", lambda r: r["server_cpu_cores"], ".2f"),
    ("dashboard CPU, process 1 (cores)", lambda r: _processes(r, 0), ".2f"),
    ("dashboard CPU, process 2 (cores)", lambda r: _processes(r, 1), ".2f"),
    ("clients held by process 1", lambda r: _processes(r, 0, "clients"), ".0f"),
    ("clients held by process 2", lambda r: _processes(r, 1, "clients"), ".0f"),
    ("dashboard RSS, largest process (MB)", lambda r: max(_rss(r)), ".0f"),
    ("Redis CPU (cores)", _redis("cpu_cores"), ".3f"),
    ("Redis commands/s", _redis("commands_per_s"), ",.0f"),
    ("Redis memory used (MB)", _redis("used_mb"), ".1f"),
    ("Redis RSS (MB)", _redis("rss_mb"), ".1f"),
    ("Redis peak memory (MB)", _redis("peak_mb"), ".1f"),
    ("generator CPU (cores)", lambda r: r["generator_cpu_cores"], ".2f"),
    ("errors: connect", lambda r: r["errors"]["connect"], ".0f"),
    ("errors: closed early", lambda r: sum(r["errors"]["closed_early"].values()), ".0f"),
    ("errors: other", lambda r: r["errors"]["other"], ".0f"),
]

RATIOS: list[tuple[str, Callable[[dict], float]]] = [
    ("latency p99", lambda r: r["latency_ms"]["p99"]),
    ("latency p50", lambda r: r["latency_ms"]["p50"]),
    ("delivered / produced", lambda r: r["delivered_fraction"]),
    ("dashboard CPU, all processes", lambda r: r["server_cpu_cores"]),
]

BASELINE = "memory-1"


def ratios(run: dict[str, dict], setups: list[str]) -> dict[str, float]:
    """Each setup against the in-memory single process of the same run."""
    base = run.get(BASELINE)
    out: dict[str, float] = {}
    if base is None:
        return out
    for setup in setups:
        if setup == BASELINE or setup not in run:
            continue
        for label, get in RATIOS:
            b = get(base)
            out[f"{label}, {setup} / {BASELINE}"] = get(run[setup]) / b if b else float("nan")
    return out


def _cell(values: list[float], spec: str, many: bool) -> str:
    cell = _fmt(_median(values), spec)
    if many and values:
        cell += f" [{_fmt(min(values), spec)}-{_fmt(max(values), spec)}]"
    return cell


def print_report(runs: list[dict], args: argparse.Namespace) -> None:
    load = args.clients * args.series * args.rate
    print(
        f"\nload: {args.clients} clients x {args.series} series x {args.rate:g} Hz"
        f" = {load:,.0f} points/s offered; window {args.duration:g} s after {args.warmup:g} s"
        f" warm-up; {args.generators} generator processes; Redis appendfsync"
        f" {args.appendfsync}; {machine()}"
    )
    many = len(runs) > 1
    print(f"median of {len(runs)} run(s)" + (" (min-max in brackets)" if many else ""))
    width = max(len(label) for label, _, _ in ROWS)
    col = 24 if many else 12
    print(f"{'':<{width}}  " + "  ".join(f"{name:>{col}}" for name in args.setups))
    for label, get, spec in ROWS:
        cells = [_cell([get(r[s]) for r in runs], spec, many) for s in args.setups]
        print(f"{label:<{width}}  " + "  ".join(f"{c:>{col}}" for c in cells))
    held = {s: [r[s]["feeds_run_per_instance"] for r in runs] for s in args.setups}
    print(f"{'feeds produced per instance, per run':<{width}}  {json.dumps(held)}")
    for setup in args.setups:
        if runs[0][setup].get("redis"):
            names = runs[0][setup]["redis"]["commands_per_s_by_name"]
            busiest = ", ".join(f"{name} {rate:,.0f}" for name, rate in names.items())
            print(f"Redis commands/s by name, {setup} (first run): {busiest}")
    per_run = [ratios(r, args.setups) for r in runs]
    if per_run[0]:
        print()
        for key in per_run[0]:
            values = [r[key] for r in per_run]
            each = ", ".join(_fmt(v, ".2f") for v in values)
            print(f"{key}: {_fmt(_median(values), '.2f')}  (runs: {each})")


FAULT_ROWS = {
    "failover": [
        ("takeover: kill -> next point on the other (s)", "takeover_s", ".2f"),
        ("hole in the series (s between points)", "hole_s", ".2f"),
        ("seq gaps", "gaps", ".0f"),
        ("duplicates", "duplicates", ".0f"),
        ("points marked gap after the takeover", "gap_marks", ".0f"),
        ("price jump / typical step", "price_jump", ".1f"),
    ],
    "restart": [
        ("acknowledged ingest points", "acknowledged", ".0f"),
        ("refused with 503 while down", "refused_503", ".0f"),
        ("other ingest errors", "other_errors", ".0f"),
        ("acknowledged, lost for a viewer (worst)", "lost_viewers", ".0f"),
        ("acknowledged, missing from history (worst)", "lost_history", ".0f"),
        ("seq gaps seen by viewers", "gaps", ".0f"),
        ("duplicates seen by viewers", "duplicates", ".0f"),
        ("epoch changes", "epoch_changes", ".0f"),
        ("recovery: Redis up -> ticker point at both viewers (s)", "recovery_s", ".2f"),
        ("recovery: Redis up -> first ingest 200 (s)", "ingest_recovery_s", ".2f"),
        ("ticker points dropped while paused", "producer_dropped", ".0f"),
        ("viewers whose connection ended", "viewers_closed", ".0f"),
    ],
}


def print_faults(runs: list[dict], args: argparse.Namespace) -> None:
    for kind, rows in FAULT_ROWS.items():
        events = [e for r in runs for e in r.get(kind, [])]
        if not events:
            continue
        title = {
            "failover": f"failover: SIGKILL of the lease holder, ticker at {args.rate:g} Hz",
            "restart": f"Redis restart (appendfsync always, SIG{args.restart_signal.upper()},"
            f" down {args.down:g} s)",
        }[kind]
        print(f"\n{title}: {len(events)} event(s); median [min-max], and worst")
        width = max(len(label) for label, _, _ in rows)
        for label, key, spec in rows:
            values = [e[key] for e in events]
            finite = [v for v in values if not (isinstance(v, float) and math.isinf(v))]
            worst = max(values, key=lambda v: -math.inf if v != v else v)
            print(
                f"{label:<{width}}  {_cell(finite, spec, True):>20}  worst {_fmt(worst, spec)}"
                + (f"  ({len(values) - len(finite)} not seen)" if len(finite) < len(values) else "")
            )
