"""The table benchmarks/page_budget.py prints: medians over runs, page beside naive."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any


def fmt_ms(value: float, censored: bool = False) -> str:
    if value != value:  # NaN: nothing measured
        return "-"
    return ("≥" if censored else "") + f"{value:,.0f}"


def report(name: str, results: dict[str, list[dict[str, Any]]], saturated: dict[str, int]) -> None:
    """Medians over runs, page beside naive, and the page / naive ratio of busy."""
    rows: list[tuple[str, Callable[[dict[str, Any]], Any], str]] = [
        ("main thread busy %", lambda r: 100 * r["busy"], "{:.0f}"),
        ("frame interval p95 (ms)", lambda r: r["frame_p95"], "{:.0f}"),
        ("long tasks / min", lambda r: r["longtasks_per_min"], "{:.1f}"),
        ("value text lag p50 (ms)", lambda r: r["text_p50"], "{:,.0f}"),
        ("value text lag p95 (ms)", lambda r: r["text_p95"], "{:,.0f}"),
        ("chart lag p50 (ms)", lambda r: r["chart_p50"], "chart"),
        ("chart lag p95 (ms)", lambda r: r["chart_p95"], "chart"),
        ("chart draws / s", lambda r: r["draws_per_s"], "{:.1f}"),
        ("hidden: busy %", lambda r: 100 * r["hidden"]["busy"], "{:.0f}"),
        ("hidden: chart draws", lambda r: r["hidden"]["draws"], "{:.0f}"),
        ("visible again: all charts current (ms)", lambda r: r["hidden"]["catchup_ms"], "{:,.0f}"),
    ]
    kinds = [k for k in ("page", "naive") if results.get(k)]
    if not kinds:
        print(f"\n{name}: no run answered")
        return
    print(f"\n{name}: medians of {len(results[kinds[0]])} run(s)")
    print(f"  {'':40}" + "".join(f"{k:>14}" for k in kinds))
    for label, get, spec in rows:
        cells = []
        for kind in kinds:
            values = [v for v in (get(r) for r in results[kind]) if v is not None]
            if not values:
                cells.append("-")
            elif spec == "chart":
                censored = any(r["chart_censored"] for r in results[kind])
                cells.append(fmt_ms(statistics.median(values), censored))
            else:
                cells.append(spec.format(statistics.median(values)))
        print(f"  {label:40}" + "".join(f"{c:>14}" for c in cells))
    if "naive" in results and results["naive"]:
        ratio = statistics.median(r["busy"] for r in results["page"]) / max(
            1e-9, statistics.median(r["busy"] for r in results["naive"])
        )
        print(f"  ratio busy page / naive: {ratio:.2f}")
    for kind, count in saturated.items():
        if count:
            print(f"  {kind}: {count} run(s) saturated (stopped answering): not in the medians")
    for kind in kinds:
        closed = [r["closed"] for r in results[kind] if r["closed"] is not None]
        if closed:
            codes = sorted(set(closed))
            print(f"  {kind}: closed by the server in {len(closed)} run(s), codes {codes}")
    print("  hidden: emulated (document.hidden + visibilitychange; headless never hides a tab)")
    for r in results["page"][:1]:
        for control, value in r["controls"].items():
            print(f"  click to change, {control}: {value}")
