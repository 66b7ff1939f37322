"""``fanout.py --capacity``: the most viewers one process serves, project and ceiling.

A step runs one server (a fresh process) with N viewers for a short window
(``--capacity-window`` s after ``--capacity-warmup`` s) and passes when every
one of the N connected, the worst viewer got at least ``--capacity-delivered``
% of the points made in the window (counted by production time, so the
window's edges cost nothing) and the latency p99 is at most
``--capacity-p99`` ms. The search starts at ``--capacity-start`` viewers and
grows by ``--capacity-growth`` until a step fails, then bisects between the
last pass and the first failure ``--capacity-bisect`` times (or until the two
are within 5 %). It stops at ``--capacity-max-viewers``, after
``--capacity-max-steps`` steps or once ``--capacity-budget`` s have passed for
that server, and says which bound stopped it.

Both servers get the same nominal load: the project publishes S series at R
Hz (1 x 10 by default here: one point per frame, 10 frames/s per viewer);
the ceiling (bare ``websockets.broadcast()``) sends min(S x R, 20) frames/s
of S x R / that many points each, the project's nominal frames (one per
50 ms flush at most). The capacity is the largest passing N; with
``--runs`` the medians are printed, and the ratio project / ceiling per run
and its median.

On a machine the load generators share with the server, the generators'
CPU bounds what any server can be shown to serve: a step whose generators
used most of the machine says so (generator CPU is printed per step).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable

from _measure import measure

FLUSHES_PER_S = 20  # the project's 50 ms flush interval


def passes(figures: dict, wanted: int, args: argparse.Namespace) -> tuple[bool, str]:
    """Whether a step met the targets, and the first reason it did not."""
    if figures["clients"] < wanted:
        return False, f"only {figures['clients']} of {wanted} connected"
    worst = 100 * figures["worst_client_by_ts_fraction"]
    if not worst >= args.capacity_delivered:  # NaN fails
        return False, f"worst viewer {worst:.2f} % < {args.capacity_delivered:g} %"
    p99 = figures["latency_ms"]["p99"]
    if not p99 <= args.capacity_p99:
        return False, f"p99 {p99:.0f} ms > {args.capacity_p99:g} ms"
    closed = sum(figures["errors"]["closed_early"].values())
    if closed:
        return False, f"{closed} viewers closed early"
    return True, "ok"


def _step_line(name: str, n: int, figures: dict, ok: bool, why: str) -> str:
    worst = 100 * figures["worst_client_by_ts_fraction"]
    return (
        f"  {name:<8} {n:>6} viewers: {'pass' if ok else 'FAIL'}"
        f"  connected {figures['clients']}, worst {worst:.2f} %,"
        f" p99 {figures['latency_ms']['p99']:.0f} ms, server CPU {figures['server_cpu_cores']:.2f},"
        f" generators {figures['generator_cpu_cores']:.2f} cores,"
        f" connect {figures['connect_s']:.0f} s{'' if ok else ' (' + why + ')'}"
    )


def search(name: str, step: Callable[[int], dict], args: argparse.Namespace) -> dict:
    """The largest passing N for one server (see the module's docstring)."""
    started = time.monotonic()
    low, high = 0, None  # largest pass, smallest failure
    n, bisects, steps = args.capacity_start, 0, []
    stopped = "bisected"
    while True:
        if len(steps) >= args.capacity_max_steps:
            stopped = "max steps"
            break
        if time.monotonic() - started > args.capacity_budget:
            stopped = "time budget"
            break
        figures = step(n)
        ok, why = passes(figures, n, args)
        print(_step_line(name, n, figures, ok, why), flush=True)
        steps.append({"viewers": n, "pass": ok, "why": why, "figures": figures})
        if ok:
            low = max(low, n)
        else:
            high = n if high is None else min(high, n)
        if high is None:
            if n >= args.capacity_max_viewers:
                stopped = "max viewers"
                break
            n = min(args.capacity_max_viewers, math.ceil(n * args.capacity_growth))
            continue
        if bisects >= args.capacity_bisect or high - low <= max(10, 0.05 * high):
            break
        bisects += 1
        n = (low + high) // 2
    return {"capacity": low, "first_failure": high, "stopped": stopped, "steps": steps}


def nominal_ceiling(series: int, rate: float) -> tuple[float, int]:
    """(frames/s, points per frame) the project sends each viewer at S x R."""
    points_per_s = series * rate
    frame_rate = min(points_per_s, FLUSHES_PER_S)
    return frame_rate, max(1, round(points_per_s / frame_rate))


def capacity_run(
    args: argparse.Namespace, project_cmd: list[str], ceiling_cmd: list[str]
) -> dict[str, dict]:
    """One run: the search for the project, then for the ceiling."""
    window = argparse.Namespace(**vars(args))
    window.warmup, window.duration = args.capacity_warmup, args.capacity_window
    out = {}
    for name, cmd in (("project", project_cmd), ("ceiling", ceiling_cmd)):
        out[name] = search(name, lambda n, c=cmd, k=name: measure(k, c, window, clients=n), args)
    return out


def print_capacity(runs: list[dict[str, dict]], args: argparse.Namespace) -> None:
    frame_rate, points = nominal_ceiling(args.series, args.rate)
    print(
        f"\ncapacity: {args.series} series x {args.rate:g} Hz per viewer ({frame_rate:g} frames/s"
        f" of {points} point(s)); pass = all connected, worst viewer >= "
        f"{args.capacity_delivered:g} % delivered (by production time), p99 <= "
        f"{args.capacity_p99:g} ms; steps of {args.capacity_window:g} s after "
        f"{args.capacity_warmup:g} s; median of {len(runs)} run(s)"
    )
    for name in ("project", "ceiling"):
        values = [run[name]["capacity"] for run in runs]
        failures = [run[name]["first_failure"] for run in runs]
        stopped = [run[name]["stopped"] for run in runs]
        print(
            f"{name + ' capacity (viewers)':<30} {statistics.median(values):>8.0f}"
            f"  (runs: {values}; first failure: {failures}; stopped by: {stopped})"
        )
    ratios = [
        run["project"]["capacity"] / run["ceiling"]["capacity"]
        if run["ceiling"]["capacity"]
        else float("nan")
        for run in runs
    ]
    each = ", ".join(f"{r:.2f}" for r in ratios)
    print(f"capacity, project / ceiling: {statistics.median(ratios):.2f}  (runs: {each})")
