"""What benchmarks/page_budget.py puts in the pages it measures.

PROBE_JS runs in every measured page (the dashboard and the naive page alike,
before their own scripts) and records, only while ``__probe.recording``:

- frame intervals (a rAF loop: the page's own frames, at most the display's);
- long tasks (PerformanceObserver);
- value-text changes: [Date.now(), feed, newest ts held for that feed] each
  time a ``.panel-last`` text changes;
- chart draws: [Date.now(), feed, newest x drawn] each time a chart's first
  trace ends at another x (both pages always draw the newest point: the
  dashboard's decimation keeps it).

Changes are looked for in a task queued from each animation frame, so after
that frame's rendering: the times are when the change reached the screen,
give or take a frame. A 250 ms interval looks too, as rAF stops in a hidden
tab. ``__probe.setHidden`` emulates a hidden tab (headless Chromium never
hides one). The page tells the probe its newest ts per feed through
``window.__newestTs(feed)`` (the naive page) or ``window.livefeed.state``.

NAIVE_HTML is what a tutorial would write: one chart per feed, and for every
point of every batch ``Plotly.extendTraces`` and a text update.
"""

PROBE_JS = r"""
(() => {
  const P = {
    recording: false, frames: [], longtasks: 0, texts: [], draws: [], hiddenDraws: 0,
    returned: null, catchupMs: null, click: null,
  };
  window.__probe = P;
  const newest = (feed) => {
    if (window.__newestTs) return window.__newestTs(feed);
    const f = window.livefeed?.state.feeds.get(feed);
    return f && f.ts.length ? f.ts[f.ts.length - 1] : null;
  };
  try {
    new PerformanceObserver((list) => {
      if (P.recording) P.longtasks += list.getEntries().length;
    }).observe({ type: 'longtask' });
  } catch (e) { /* no long task API: reported as 0 */ }

  const lastText = new Map();
  const lastX = new Map();
  const charts = () => [...document.querySelectorAll('.panel')].map((panel) => ({
    feed: panel.dataset.feed, panel, gd: panel.querySelector('.js-plotly-plot'),
  }));
  const chartKey = (gd) => {
    const x = gd?.data?.[0]?.x;
    const range = gd?._fullLayout?.xaxis?.range;
    return `${x && x.length ? x[x.length - 1] : ''}|${range ? range.join(',') : ''}`;
  };

  function scan() {
    const now = Date.now();
    for (const { feed, panel, gd } of charts()) {
      const text = panel.querySelector('.panel-last')?.textContent;
      if (text !== undefined && text !== lastText.get(feed)) {
        lastText.set(feed, text);
        const ts = newest(feed);
        if (P.recording && ts !== null) P.texts.push([now, feed, ts]);
      }
      const x = gd?.data?.[0]?.x;
      if (!x || !x.length) continue;
      const last = x[x.length - 1];
      if (last !== lastX.get(feed)) {
        lastX.set(feed, last);
        if (P.recording) {
          if (document.hidden) P.hiddenDraws += 1;
          else P.draws.push([now, feed, typeof last === 'number' ? last : Date.parse(last)]);
        }
      }
    }
    if (P.returned && !document.hidden) {
      const targets = Object.entries(P.returned.targets);
      const behind = targets.some(([feed, ts]) => !(lastX.get(feed) >= ts));
      if (!behind) {
        P.catchupMs = performance.now() - P.returned.at;
        P.returned = null;
      }
    }
    const c = P.click;
    if (c && c.at !== null && c.doneMs === null && c.changed()) c.doneMs = performance.now() - c.at;
  }

  let lastFrame = 0;
  function tick(t) {
    if (P.recording && lastFrame) P.frames.push(t - lastFrame);
    lastFrame = t;
    setTimeout(scan, 0);
    requestAnimationFrame(tick);
  }
  requestAnimationFrame(tick);
  setInterval(scan, 250);

  document.addEventListener('visibilitychange', () => {
    lastFrame = 0;
    if (document.hidden) return;
    const targets = {};
    for (const { feed } of charts()) {
      const ts = newest(feed);
      if (ts !== null) targets[feed] = ts;
    }
    P.returned = { at: performance.now(), targets };
  });

  /** Headless Chromium never hides a tab (a tab behind another, a minimized
      window: still "visible"), so hiding is emulated the way a page sees it. */
  P.setHidden = (hidden) => {
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => hidden });
    Object.defineProperty(document, 'visibilityState', {
      configurable: true, get: () => (hidden ? 'hidden' : 'visible'),
    });
    document.dispatchEvent(new Event('visibilitychange'));
  };

  /** Arms a click measure: kind 'control' (the clicked control's label or
      pressed state changes) or 'charts' (every chart's picture changes). */
  P.arm = (kind) => {
    const before = new Map(charts().map(({ feed, gd }) => [feed, chartKey(gd)]));
    const click = { kind, at: null, doneMs: null, target: null, before: '' };
    const state = (el) => [el.textContent, el.getAttribute('aria-pressed'),
      el.getAttribute('aria-checked')].join('|');
    click.changed = kind === 'control'
      ? () => click.target !== null && state(click.target) !== click.before
      : () => charts().every(({ feed, gd }) => chartKey(gd) !== before.get(feed));
    document.addEventListener('click', (e) => {
      click.at = performance.now();
      click.target = e.target.closest('button, [role], select, input') ?? e.target;
      click.before = state(click.target);
    }, { capture: true, once: true });
    P.click = click;
  };
})();
"""

NAIVE_HTML = r"""<!doctype html><html><head><meta charset="utf-8">
<script src="{plotly}"></script>
<style>
  body {{ margin: 0; background: #0d1117; color: #ddd; font: 12px system-ui, sans-serif; }}
  #charts {{ display: grid; gap: 6px;
             grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); }}
  .panel-chart {{ height: 200px; }}
</style></head><body><div id="charts"></div><script>
const MAX_POINTS = 6000;
const panels = new Map();
const newestTs = new Map();
window.__newestTs = (feed) => newestTs.get(feed) ?? null;
const ws = new WebSocket(`ws://${{location.host}}/ws`);
function add(points) {{
  for (const p of points) {{
    const panel = panels.get(p.feed);
    const v = panel && p.values[panel.series];
    if (typeof v !== 'number') continue;
    Plotly.extendTraces(panel.chart, {{ x: [[p.ts]], y: [[v]] }}, [0], MAX_POINTS);
    panel.last.textContent = v.toFixed(2);
    newestTs.set(p.feed, p.ts);
  }}
}}
ws.onclose = (event) => {{ window.__closed = event.code; }};
ws.onmessage = (event) => {{
  const msg = JSON.parse(event.data);
  if (msg.type === 'hello') {{
    for (const feed of msg.feeds) {{
      const series = feed.series.find((s) => s.plot);
      if (!series) continue;
      const section = document.createElement('section');
      section.className = 'panel';
      section.dataset.feed = feed.name;
      const last = document.createElement('span');
      last.className = 'panel-last';
      const chart = document.createElement('div');
      chart.className = 'panel-chart';
      section.append(feed.name + ' ', last, chart);
      document.getElementById('charts').append(section);
      Plotly.newPlot(chart, [{{ x: [], y: [], mode: 'lines' }}],
        {{ margin: {{ l: 50, r: 10, t: 10, b: 20 }}, xaxis: {{ type: 'date' }} }});
      panels.set(feed.name, {{ series: series.name, chart, last }});
    }}
  }} else if (msg.type === 'snapshot') {{
    // Even a tutorial adds the history in one call per chart.
    const byFeed = new Map();
    for (const p of msg.points || []) {{
      const panel = panels.get(p.feed);
      const v = panel && p.values[panel.series];
      if (typeof v !== 'number') continue;
      if (!byFeed.has(p.feed)) byFeed.set(p.feed, {{ x: [], y: [] }});
      byFeed.get(p.feed).x.push(p.ts);
      byFeed.get(p.feed).y.push(v);
      newestTs.set(p.feed, p.ts);
    }}
    for (const [feed, {{ x, y }}] of byFeed) {{
      Plotly.extendTraces(panels.get(feed).chart, {{ x: [x], y: [y] }}, [0], MAX_POINTS);
    }}
  }} else if (msg.type === 'batch') {{
    add(msg.points || []);
  }}
}};
</script></body></html>"""
