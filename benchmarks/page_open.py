"""How long the dashboard takes to show every chart, against a bare Plotly page.

    python benchmarks/page_open.py [--runs 7] [--warmup 30] [--symbols 8]
                                   [--throttled-runs 5] [--down-mbps 10] [--rtt-ms 40]

Starts ``python -m dashboard`` as a real process on a free loopback port, lets
it build up history for ``--warmup`` seconds (so the snapshot is realistic),
then opens the page in headless Chromium ``--runs`` times, each in a fresh
browser context (cold cache). It reports, as medians:

- page: navigation start to every panel's chart drawn with points, on a
  first visit (cold cache) and on a reload (warm cache: Plotly.js and the
  modules are cached as immutable);
- baseline, measured in the same run on the same server: a page holding only
  plotly.min.js (the same file, same server) that draws one two-point chart.
  No Plotly page can be faster than that, so the ratio says what the
  dashboard's own work (connect, snapshot, state, eight charts) adds.
- throttled: a first visit (cold cache) over Chromium's emulated network
  (CDP ``Network.emulateNetworkConditions``: ``--down-mbps`` down and up,
  ``--rtt-ms`` round trip), with compression (Chromium's own Accept-Encoding:
  the server sends Brotli) and without (the context sends
  ``Accept-Encoding: identity``; CDP's ``Network.setAcceptedEncodings`` is
  missing from Debian's Chromium 156), interleaved in the same run. Each run
  checks the Content-Encoding plotly.min.js really came in and prints the
  bytes it took on the wire (resource timing's encodedBodySize).
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import re
import signal
import statistics
import sys

from playwright.async_api import async_playwright

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

BASELINE_HTML = """<!doctype html><html><head><script src="{plotly}"></script></head>
<body><div id="c" style="width:600px;height:300px"></div>
<script>Plotly.newPlot('c', [{{x: [1, 2], y: [1, 2]}}]);</script></body></html>"""

ALL_DRAWN = """(n) => {
  const charts = [...document.querySelectorAll('.panel .js-plotly-plot')];
  return charts.length === n && charts.every(c => c.data?.[0]?.x?.length > 0);
}"""


def _die_with_parent() -> None:
    """Linux: the server gets SIGTERM if this script dies (killed, timed out),
    so no benchmark server outlives its run."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


async def start_server(symbols: int) -> tuple[asyncio.subprocess.Process, str]:
    names = ",".join(f"S{i}" for i in range(symbols))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dashboard",
        "--port",
        "0",
        "--seed",
        "1",
        "--symbols",
        names,
        "--log-level",
        "warning",
        stdout=asyncio.subprocess.PIPE,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )
    line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
    url = re.search(r"http://\S+", line)
    if not url:
        process.kill()
        raise SystemExit(f"server printed no address: {line!r}")
    return process, url.group(0)


async def time_page(browser, url: str, symbols: int) -> tuple[float, float]:
    """(cold, warm): a first visit, then a reload with the browser's cache."""
    context = await browser.new_context(viewport={"width": 1400, "height": 900})
    page = await context.new_page()
    times = []
    for _ in range(2):
        await page.goto(url)
        await page.wait_for_function(ALL_DRAWN, arg=symbols, polling="raf", timeout=30_000)
        times.append(await page.evaluate("performance.now()"))
    await context.close()
    return times[0], times[1]


async def time_baseline(browser, url: str, plotly_path: str) -> float:
    context = await browser.new_context(viewport={"width": 1400, "height": 900})
    page = await context.new_page()
    html = BASELINE_HTML.format(plotly=plotly_path)
    await page.route(
        url + "/__baseline", lambda route: route.fulfill(body=html, content_type="text/html")
    )
    await page.goto(url + "/__baseline")
    await page.wait_for_function(
        "document.querySelector('.js-plotly-plot')?.data?.length === 1", polling="raf"
    )
    elapsed = await page.evaluate("performance.now()")
    await context.close()
    return elapsed


async def time_throttled(
    browser, url: str, symbols: int, link: dict[str, float], compressed: bool
) -> tuple[float, int]:
    """A first visit over the emulated *link*: (ms until every chart is drawn,
    plotly.min.js's bytes on the wire). Exits if the coding is not the one
    asked for, so a figure never hides a wrong setup."""
    headers = None if compressed else {"Accept-Encoding": "identity"}
    context = await browser.new_context(
        viewport={"width": 1400, "height": 900}, extra_http_headers=headers
    )
    page = await context.new_page()
    cdp = await context.new_cdp_session(page)
    await cdp.send("Network.enable")
    await cdp.send("Network.emulateNetworkConditions", {"offline": False, **link})
    codings: list[str | None] = []

    async def record(response) -> None:
        if response.url.endswith("/vendor/plotly.min.js"):
            codings.append((await response.all_headers()).get("content-encoding"))

    page.on("response", record)
    await page.goto(url)
    await page.wait_for_function(ALL_DRAWN, arg=symbols, polling="raf", timeout=120_000)
    elapsed = await page.evaluate("performance.now()")
    wire = await page.evaluate(
        "performance.getEntriesByType('resource')"
        ".find(e => e.name.endsWith('/vendor/plotly.min.js')).encodedBodySize"
    )
    await context.close()
    if (codings[0] in ("br", "gzip")) != compressed:
        raise SystemExit(f"plotly.min.js came with Content-Encoding {codings[0]!r}")
    return elapsed, wire


async def throttled(browser, url: str, args: argparse.Namespace) -> list[str]:
    """First visits over a slow link, compressed and not, interleaved: the
    report's lines."""
    bytes_per_s = args.down_mbps * 1e6 / 8
    link = {"latency": args.rtt_ms, "downloadThroughput": bytes_per_s,
            "uploadThroughput": bytes_per_s}  # fmt: skip
    results: dict[bool, list[tuple[float, int]]] = {True: [], False: []}
    for run in range(args.throttled_runs):
        for compressed in (True, False) if run % 2 == 0 else (False, True):  # either first
            results[compressed].append(
                await time_throttled(browser, url, args.symbols, link, compressed)
            )
    lines = [
        f"throttled: {args.down_mbps:g} Mbit/s, {args.rtt_ms:g} ms RTT, first visit (cold cache),"
        f" {args.throttled_runs} runs each"
    ]
    for compressed, label in ((True, "compressed (br)"), (False, "identity")):
        times = [elapsed for elapsed, _ in results[compressed]]
        wire = results[compressed][0][1]
        lines.append(_line(f"page, {label}, plotly {wire / 1e6:.2f} MB on the wire:", times))
    ratio = statistics.median(t for t, _ in results[True]) / statistics.median(
        t for t, _ in results[False]
    )
    lines.append(f"ratio throttled first visit compressed / identity: {ratio:.2f}")
    return lines


def _line(label: str, values: list[float]) -> str:
    return (
        f"{label:<52} median {statistics.median(values):5.0f} ms"
        f"  (min {min(values):.0f}, max {max(values):.0f})"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--warmup", type=float, default=30.0, help="seconds of history first")
    parser.add_argument("--symbols", type=int, default=8)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--throttled-runs", type=int, default=5, help="0: no throttled run")
    parser.add_argument("--down-mbps", type=float, default=10.0, help="throttled link speed")
    parser.add_argument("--rtt-ms", type=float, default=40.0, help="throttled round trip")
    args = parser.parse_args()

    process, url = await start_server(args.symbols)
    try:
        print(f"server {url}, {args.symbols} feeds at 10/s; warming up {args.warmup:.0f} s")
        await asyncio.sleep(args.warmup)  # history accumulates: this is the load being measured
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=args.chromium, args=CHROMIUM_ARGS
            )
            probe = await browser.new_page()
            await probe.goto(url)
            plotly_path = re.search(r'src="([^"]+plotly\.min\.js)"', await probe.content()).group(1)
            await probe.close()
            cold, warm, baselines = [], [], []
            for _ in range(args.runs):  # interleaved, so drift hits both alike
                baselines.append(await time_baseline(browser, url, plotly_path))
                first_visit, reload = await time_page(browser, url, args.symbols)
                cold.append(first_visit)
                warm.append(reload)
            slow_link = await throttled(browser, url, args) if args.throttled_runs > 0 else []
            await browser.close()
    finally:
        process.terminate()
        await process.wait()

    print(f"runs: {args.runs}, each in a fresh browser context")
    print(_line(f"page, first visit, all {args.symbols} charts drawn:", cold))
    print(_line("page, reload with a warm cache:", warm))
    print(_line("baseline, plotly.min.js + one chart:", baselines))
    ratio = statistics.median(cold) / statistics.median(baselines)
    print(f"ratio page (first visit) / baseline: {ratio:.2f}")
    for report_line in slow_link:
        print(report_line)


if __name__ == "__main__":
    asyncio.run(main())
