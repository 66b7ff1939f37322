"""What the page costs the browser while it stays open, against a naive page.

    python benchmarks/page_budget.py --quick                       # smoke check, ~35 s
    python benchmarks/page_budget.py                               # the issue's full run
    python benchmarks/page_budget.py --scenarios S1,S2 --runs 1 --steady 30 --long-minutes 0

For each scenario (S1 8 feeds x 10 Hz, S2 20 x 10 Hz, S2full the same after a
full 5-minute window of history, S3 50 x 10 Hz, S4 8 x 50 Hz) it starts
``python -m dashboard`` on a free loopback port, lets history build up, then
opens, in headless Chromium at 1400x900, the dashboard page and the naive
page (same plotly.min.js, same server, ``Plotly.extendTraces`` per point;
benchmarks/_page_probe.py) alternately, ``--runs`` times each, and measures
over ``--steady`` seconds:

- main-thread busy fraction (CDP Performance.getMetrics TaskDuration / wall);
- frame interval p95 and long tasks per minute;
- point to value text: from a point's ``ts`` to the text showing it;
- point to chart: from each point's ``ts`` (every point, as a separate
  WebSocket client of the same server receives them) to the first draw of its
  chart whose newest x is at or past it; "≥" when some were never drawn
  within the run (counted as drawn at its end);
- click to change for Pause and the window selector (15m), when the page has
  them (by accessible role and name), else "not present";
- hidden: another tab is brought to the front for ``--hidden`` seconds:
  busy fraction and chart draws while hidden, then the time from the page
  becoming visible to every chart showing its feed's newest point.

Then, with ``--long-minutes``, the page alone on S2 for that long: the JS heap
after a forced GC every 30 s. Medians over runs, and page / naive ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import websockets
from playwright.async_api import (
    Browser,
    BrowserContext,
    CDPSession,
    Locator,
    Page,
    async_playwright,
)
from playwright.async_api import Error as PlaywrightError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _page_probe import NAIVE_HTML, PROBE_JS  # noqa: E402
from _page_report import report  # noqa: E402
from page_open import ALL_DRAWN, CHROMIUM_ARGS, _die_with_parent  # noqa: E402

SCENARIOS = {  # name: (feeds, updates/s per feed, seconds of history before measuring)
    "S1": (8, 10.0, 0.0),
    "S2": (20, 10.0, 0.0),
    "S2full": (20, 10.0, 305.0),
    "S3": (50, 10.0, 0.0),
    "S4": (8, 50.0, 0.0),
}
HEAP_EVERY_S = 30.0
OPEN_WITHIN_S = 180.0  # page load (120 s) and first paint (60 s) on a loaded machine
Result = dict[str, Any]  # one page's figures in one run
Draw = tuple[float, str, float]  # (Date.now(), feed, newest x drawn)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def start_cli(feeds: int, rate: float) -> tuple[asyncio.subprocess.Process, str]:
    symbols = ",".join(f"S{i}" for i in range(feeds))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dashboard", "--host", "127.0.0.1", "--port", "0",
        "--seed", "1", "--symbols", symbols, "--rate", f"{rate:g}", "--log-level", "warning",
        stdout=asyncio.subprocess.PIPE,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )  # fmt: skip
    assert process.stdout is not None
    line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
    url = re.search(r"http://\S+", line)
    if not url:
        process.kill()
        raise SystemExit(f"server printed no address: {line!r}")
    return process, url.group(0).rstrip("/")


async def record_points(url: str, points: list[tuple[str, int]]) -> None:
    """Every live point's (feed, ts), as another viewer of the same server gets it."""
    async with websockets.connect(url.replace("http://", "ws://") + "/ws") as ws:
        async for raw in ws:
            msg = json.loads(raw)
            if msg.get("type") == "batch":
                points.extend((p["feed"], p["ts"]) for p in msg["points"])


def chart_lags(
    points: list[tuple[str, int]], draws: list[Draw], start: float, end: float
) -> tuple[list[float], bool]:
    """Per point made in [start, end - 1 s): ms to the first draw showing it; and
    whether some were never drawn (then counted as drawn at `end`)."""
    by_feed: dict[str, list[tuple[float, float]]] = {}
    for at, feed, newest in draws:
        by_feed.setdefault(feed, []).append((at, newest))
    lags, censored = [], 0
    for feed, ts in points:
        if not start <= ts < end - 1000:
            continue
        shown = next((at for at, newest in by_feed.get(feed, ()) if newest >= ts), None)
        if shown is None:
            censored += 1
            shown = end
        lags.append(shown - ts)
    return lags, censored > 0.05 * max(1, len(lags))


async def busy_over(cdp: CDPSession, seconds: float) -> float:
    async def metrics() -> dict[str, float]:
        got = await cdp.send("Performance.getMetrics")
        return {m["name"]: m["value"] for m in got["metrics"]}

    before = await metrics()
    await asyncio.sleep(seconds)
    after = await metrics()
    return (after["TaskDuration"] - before["TaskDuration"]) / (
        after["Timestamp"] - before["Timestamp"]
    )


async def find_window_control(page: Page) -> Locator | None:
    for role in ("button", "radio", "tab", "option"):
        control = page.get_by_role(role, name="15m", exact=True)
        if await control.count():
            return control.first
    return None


async def click_to_change(page: Page, control: Locator, kind: str) -> float | None:
    await page.evaluate("(kind) => window.__probe.arm(kind)", kind)
    await control.click()
    try:
        await page.wait_for_function("window.__probe.click.doneMs !== null", timeout=5000)
    except PlaywrightError:
        return None
    done: float = await page.evaluate("window.__probe.click.doneMs")
    return done


async def measure_controls(page: Page) -> dict[str, str]:
    out = {}
    pause = page.get_by_role("button", name="Pause", exact=True)
    if await pause.count():
        ms = await click_to_change(page, pause.first, "control")
        out["pause"] = f"{ms:.0f} ms" if ms is not None else "no change within 5 s"
        resume = page.get_by_role("button", name=re.compile("^Resume"))
        if await resume.count():
            ms = await click_to_change(page, resume.first, "charts")
            out["resume"] = f"{ms:.0f} ms" if ms is not None else "no change within 5 s"
    else:
        out["pause"] = "not present"
    window = await find_window_control(page)
    if window is None:
        out["window 15m"] = "not present"
    else:
        ms = await click_to_change(page, window, "charts")
        out["window 15m"] = f"{ms:.0f} ms" if ms is not None else "no change within 5 s"
    return out


async def measure_hidden(page: Page, cdp: CDPSession, seconds: float) -> Result:
    """Busy and chart draws while hidden, then ms until every chart is current."""
    await page.evaluate("window.__probe.hiddenDraws = 0; window.__probe.recording = true")
    await page.evaluate("window.__probe.setHidden(true)")
    busy = await busy_over(cdp, seconds)
    draws = await page.evaluate("window.__probe.hiddenDraws")
    await page.evaluate("window.__probe.setHidden(false)")
    try:
        await page.wait_for_function("window.__probe.catchupMs !== null", timeout=10_000)
        catchup = await page.evaluate("window.__probe.catchupMs")
    except PlaywrightError:
        catchup = None
    return {"busy": busy, "draws": draws, "catchup_ms": catchup}


async def open_page(
    browser: Browser, url: str, kind: str, plotly: str, feeds: int
) -> tuple[BrowserContext, Page, CDPSession]:
    context = await browser.new_context(viewport={"width": 1400, "height": 900})
    await context.add_init_script(PROBE_JS)
    page = await context.new_page()
    target = url + "/"
    if kind == "naive":
        html = NAIVE_HTML.format(plotly=plotly)
        target = url + "/__naive"
        await page.route(target, lambda r: r.fulfill(body=html, content_type="text/html"))
    await page.goto(target, timeout=120_000)  # a loaded machine parses Plotly slowly
    await page.wait_for_function(ALL_DRAWN, arg=feeds, polling=500, timeout=60_000)
    cdp = await context.new_cdp_session(page)
    await cdp.send("Performance.enable")
    return context, page, cdp


async def measure(
    browser: Browser,
    url: str,
    kind: str,
    plotly: str,
    feeds: int,
    points: list[tuple[str, int]],
    args: argparse.Namespace,
) -> Result | None:
    """One page's figures, or None when it stopped answering (saturated)."""
    limit = OPEN_WITHIN_S + args.steady + args.hidden + args.answer_within
    if kind == "naive" and args.naive_within:
        limit = args.naive_within
    try:
        return await asyncio.wait_for(
            _measure(browser, url, kind, plotly, feeds, points, args), limit
        )
    except (TimeoutError, PlaywrightError) as error:
        print(f"  {kind}: no answer within {limit:.0f} s ({type(error).__name__}): saturated")
        return None


async def _measure(
    browser: Browser,
    url: str,
    kind: str,
    plotly: str,
    feeds: int,
    points: list[tuple[str, int]],
    args: argparse.Namespace,
) -> Result:
    context, page, cdp = await open_page(browser, url, kind, plotly, feeds)
    try:
        await asyncio.sleep(args.settle)
        start = time.time() * 1000
        await page.evaluate("window.__probe.recording = true")
        busy = await busy_over(cdp, args.steady)
        await page.evaluate("window.__probe.recording = false")
        end = time.time() * 1000
        probe = await page.evaluate(
            "({frames: __probe.frames, longtasks: __probe.longtasks, texts: __probe.texts,"
            " draws: __probe.draws})"
        )
        lags, censored = chart_lags(points, probe["draws"], start, end)
        result = {
            "busy": busy,
            "frame_p95": percentile(probe["frames"], 0.95),
            "longtasks_per_min": probe["longtasks"] / (args.steady / 60),
            "text_p50": percentile([t - ts for t, _, ts in probe["texts"]], 0.5),
            "text_p95": percentile([t - ts for t, _, ts in probe["texts"]], 0.95),
            "chart_p50": percentile(lags, 0.5),
            "chart_p95": percentile(lags, 0.95),
            "chart_censored": censored,
            "draws_per_s": len(probe["draws"]) / args.steady,
        }
        result["controls"] = await measure_controls(page) if kind == "page" else {}
        result["hidden"] = await measure_hidden(page, cdp, args.hidden)
        result["closed"] = await page.evaluate("window.__closed ?? null")
        return result
    finally:
        await context.close()


async def heap_run(
    browser: Browser, url: str, plotly: str, feeds: int, minutes: float
) -> list[tuple[float, float]]:
    context, page, cdp = await open_page(browser, url, "page", plotly, feeds)
    samples = []
    began = time.monotonic()
    try:
        while True:
            await cdp.send("HeapProfiler.collectGarbage")
            used = (await cdp.send("Runtime.getHeapUsage"))["usedSize"] / 2**20
            samples.append(((time.monotonic() - began) / 60, used))
            print(f"  heap at {samples[-1][0]:4.1f} min: {used:5.1f} MB", flush=True)
            if time.monotonic() - began >= minutes * 60:
                return samples
            await asyncio.sleep(HEAP_EVERY_S)
    finally:
        await context.close()


async def run_scenario(
    browser: Browser,
    plotly_for: Callable[[str], Awaitable[str]],
    name: str,
    args: argparse.Namespace,
) -> None:
    feeds, rate, history = SCENARIOS[name]
    process, url = await start_cli(feeds, rate)
    points: list[tuple[str, int]] = []
    recorder = asyncio.create_task(record_points(url, points))
    try:
        warm = max(args.warmup, history)
        print(
            f"{name}: {feeds} feeds x {rate:g}/s at {url}; {warm:.0f} s of history first",
            flush=True,
        )
        await asyncio.sleep(warm)
        plotly = await plotly_for(url)
        results: dict[str, list[Result]] = {"page": [], "naive": []}
        saturated = {"page": 0, "naive": 0}
        for run in range(args.runs):
            order = ["page", "naive"] if run % 2 == 0 else ["naive", "page"]
            for kind in order:
                if kind == "naive" and args.no_naive:
                    continue
                result = await measure(browser, url, kind, plotly, feeds, points, args)
                if result is None:
                    saturated[kind] += 1
                    continue
                results[kind].append(result)
                print(f"  run {run + 1} {kind}: busy {100 * result['busy']:.0f} %", flush=True)
        report(name, results, saturated)
        if args.long_minutes > 0 and name == args.long_scenario:
            print(f"\n{name}: the page alone for {args.long_minutes:g} min, heap after GC")
            try:
                samples = await heap_run(browser, url, plotly, feeds, args.long_minutes)
            except PlaywrightError as error:
                print(f"  heap run: the page did not open ({type(error).__name__})")
                samples = []
            later = [mb for minute, mb in samples if minute >= 2]
            if len(later) >= 2:
                growth = 100 * (later[-1] / later[0] - 1)
                print(f"  heap growth from minute 2 to the end: {growth:+.1f} %")
    finally:
        recorder.cancel()
        process.terminate()
        await process.wait()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", default="S1,S2,S2full,S3,S4")
    parser.add_argument("--runs", type=int, default=3, help="runs of each page (alternated)")
    parser.add_argument("--steady", type=float, default=60.0, help="seconds measured per run")
    parser.add_argument("--warmup", type=float, default=20.0, help="seconds of history first")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds after the first paint")
    parser.add_argument("--hidden", type=float, default=10.0, help="seconds behind another tab")
    parser.add_argument("--long-minutes", type=float, default=10.0, help="heap run; 0 skips it")
    parser.add_argument("--long-scenario", default="S2")
    parser.add_argument("--no-naive", action="store_true")
    parser.add_argument(
        "--answer-within",
        type=float,
        default=120.0,
        help="seconds past --steady and --hidden before a page counts as saturated",
    )
    parser.add_argument(
        "--naive-within",
        type=float,
        default=0.0,
        help="seconds the naive page gets in all before it counts as saturated (0: as the page)",
    )
    parser.add_argument("--quick", action="store_true", help="S1, one short run: a smoke check")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    if args.quick:
        args.scenarios, args.runs, args.steady, args.warmup = "S1", 1, 5.0, 3.0
        args.settle, args.hidden, args.long_minutes, args.answer_within = 1.0, 2.0, 0.0, 30.0
        # The naive page saturates its main thread: every probe call waits on
        # it, and a full measurement takes minutes. A smoke check only needs
        # to see it measured or reported saturated: 15 s is the page's own
        # quick run (open, 3 s warm-up, 5 s steady, 2 s hidden) with room to
        # spare, so a naive page that keeps up is still measured.
        args.naive_within = args.naive_within or 15.0
    unknown = [s for s in args.scenarios.split(",") if s not in SCENARIOS]
    if unknown:
        parser.error(
            f"unknown scenario(s) {', '.join(unknown)}: choose from {', '.join(SCENARIOS)}"
        )
    for flag in ("runs", "steady", "hidden"):
        if getattr(args, flag) <= 0:
            parser.error(f"--{flag} must be more than 0")
    return args


async def main() -> None:
    args = parse_args()

    async with async_playwright() as playwright:
        # A page fulfilled by Playwright (the naive one) counts as from a public
        # address: without this, its WebSocket to 127.0.0.1 is blocked.
        launch_args = [*CHROMIUM_ARGS, "--disable-features=LocalNetworkAccessChecks"]
        browser = await playwright.chromium.launch(executable_path=args.chromium, args=launch_args)

        async def plotly_for(url: str) -> str:
            with await asyncio.to_thread(urllib.request.urlopen, url + "/", timeout=60) as answer:
                html = answer.read().decode()
            found = re.search(r'src="([^"]+plotly\.min\.js)"', html)
            if found is None:
                raise SystemExit(f"no plotly.min.js in the page at {url}/")
            return found.group(1)

        for name in args.scenarios.split(","):
            await run_scenario(browser, plotly_for, name, args)
        await browser.close()


if __name__ == "__main__":
    asyncio.run(main())
