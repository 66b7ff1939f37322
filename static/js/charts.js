// One panel per feed with a Plotly trace per plotted series: a line for a
// `line` series, candles for an `ohlc` one. Rendering is driven by main.js's
// animation-frame loop, never by incoming messages.

import { decimate, decimateBars } from './decimate.js';
import { colorOf, lineColors } from './palette.js';
import { formatStatus, formatValue } from './format.js';
import { view } from './view.js';
import { chartDue, drawOrder, drawnPicture, nextWake } from './redraw.js';
import { chartColors } from './theme.js';

// Fixed margins: automargin would shift the plot sideways as tick labels change width.
const MARGIN = { l: 60, r: 12, t: 6, b: 22 };
const MAX_TICKS = 5;
const DAY_MS = 24 * 60 * 60 * 1000;
// Room per candle, in CSS px: past one candle per slot, candles are merged.
// Plotly leaves a gap of BOX_GAP of the slot between candles, so a body is
// about 3 px wide: still seen, and its colour still read.
const CANDLE_SLOT_PX = 4;
const BOX_GAP = 0.25;
// Beside candles, a line in another unit (a volume) would squash them flat on
// a shared axis: such lines get a strip of their own under the candles.
const STRIP = { lower: [0, 0.22], upper: [0.3, 1] };

const CONFIG = {
  displaylogo: false,
  responsive: true,
  displayModeBar: 'hover',
  showTips: false,
  // No uploading the data to Plotly's cloud from a live dashboard.
  modeBarButtonsToRemove: ['sendChartToCloud', 'select2d', 'lasso2d', 'autoScale2d'],
};

// Plotly renders trace names, axis titles and hover text as its own small
// HTML dialect: escape server-provided strings so they only ever show as text.
function plotlyText(s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

// Plotly takes epoch milliseconds on a date axis as the viewer's local time
// and reports axis ranges back as local "YYYY-MM-DD HH:MM:SS.ffff" strings.
function parseAxisDate(value) {
  if (typeof value === 'number') return value;
  const m = /^(\d{4})-(\d\d)-(\d\d)(?:[ T](\d\d)(?::(\d\d)(?::(\d\d(?:\.\d+)?))?)?)?/.exec(value);
  if (!m) return NaN;
  const [, y, mo, d, h = 0, mi = 0, s = 0] = m;
  return new Date(+y, +mo - 1, +d, +h, +mi).getTime() + parseFloat(s) * 1000;
}

function lineTrace(feed, s, color, buckets, range, strip) {
  const { x, y } = decimate(...view.column(feed, s.name), buckets, range);
  return {
    type: 'scatter',
    mode: 'lines',
    name: plotlyText(s.name),
    x,
    y,
    connectgaps: false,
    line: { color, width: 1.5 },
    yaxis: strip ? 'y2' : 'y',
    meta: [plotlyText(s.unit ?? '')],
    hovertemplate: '%{y:,.4~f} %{meta[0]}<extra></extra>',
  };
}

function candleTrace(feed, s, slots, range) {
  const { x, open, high, low, close } = decimateBars(feed.ts, feed.values.get(s.name) ?? [], slots, range);
  const { up, down } = chartColors();
  return {
    type: 'candlestick',
    name: plotlyText(s.name),
    x,
    open,
    high,
    low,
    close,
    // Solid bodies: Plotly's default half-transparent fill is lost at 3 px.
    increasing: { line: { color: up, width: 1 }, fillcolor: up },
    decreasing: { line: { color: down, width: 1 }, fillcolor: down },
    whiskerwidth: 0,
    meta: [plotlyText(s.unit ?? '')],
    hovertemplate: 'O %{open:,.4~f} H %{high:,.4~f} L %{low:,.4~f} C %{close:,.4~f} %{meta[0]}<extra></extra>',
  };
}

function el(tag, className) {
  const node = document.createElement(tag);
  node.className = className;
  return node;
}

class Panel {
  constructor(feed, requestRender) {
    this.name = feed.name;
    this.requestRender = requestRender;
    this.color = colorOf(feed.index);
    this.root = el('section', 'panel');
    this.root.dataset.feed = feed.name;
    this.root.style.setProperty('--feed-color', this.color);
    const head = el('header', 'panel-head');
    this.title = el('h2', 'panel-title');
    this.last = el('span', 'panel-last');
    this.unit = el('span', 'panel-unit');
    this.badge = el('span', 'panel-status');
    head.append(this.title, this.badge, this.last, this.unit);
    this.chart = el('div', 'panel-chart');
    this.root.append(head, this.chart);

    this.width = 0;            // the chart's width in CSS px, kept by the ResizeObserver
    this.range = null;         // the user's zoomed x range in epoch ms, or null for all
    this.meta = null;          // the description last laid out (see Charts.layout)
    this.drawnVersion = -1;
    this.drawn = null;         // what the last draw showed (redraw.js's drawnPicture)
    this.stale = true;         // must redraw even if the data did not change
    this.listening = false;
    new ResizeObserver(([entry]) => {
      this.width = entry.contentRect.width;
      this.invalidate();
    }).observe(this.chart);
  }

  invalidate() {
    this.stale = true;
    this.requestRender();
  }

  describe(meta) {
    this.meta = meta;
    this.series = meta.series.filter((s) => s.plot);
    this.title.textContent = meta.title || meta.name;
    this.title.title = this.title.textContent; // whole, where the header cuts it
    const units = [...new Set(this.series.map((s) => s.unit).filter(Boolean))];
    this.unitText = units.join(' / ');
    this.unit.textContent = this.unitText;
    this.unit.title = this.unitText;
    // Lines in the candles' unit share their axis (a price beside its bars);
    // lines in another unit go to the strip under them.
    const candles = this.series.find((s) => s.kind === 'ohlc');
    const apart = (s) => s.kind !== 'ohlc' && (s.unit ?? '') !== (candles.unit ?? '');
    this.strip = new Set(candles ? this.series.filter(apart).map((s) => s.name) : []);
    this.invalidate();
  }

  /** The header's last value: cheap, so kept current every frame, unlike the chart. */
  label(feed) {
    const { label, title } = formatStatus(feed.status);
    if (this.badge.textContent !== label) this.badge.textContent = label;
    if (this.badge.title !== title) this.badge.title = title;
    const state = feed.status?.state ?? 'running';
    if (this.root.dataset.state !== state) this.root.dataset.state = state;
    const first = this.series[0];
    if (!first) return;
    const text = formatValue(feed.last.get(first.name), feed.fractional.has(first.name));
    if (this.last.textContent !== text) this.last.textContent = text;
  }

  /** redraw.js's decision: {due, forced, waitMs}. `now` is performance.now()'s clock. */
  due(feed, now) {
    // Paused after its first picture, left out by the picker, or drawn as
    // candles by candles.js: nothing for this chart to draw.
    if (view.holds(this.drawnVersion >= 0) || this.root.hidden || this.root.dataset.view === 'candles') {
      return { due: false, forced: false, waitMs: null };
    }
    const plotWidthPx = (this.width || this.chart.clientWidth) - MARGIN.l - MARGIN.r;
    const range = view.xRange(feed); // the user's zoom, or the window at the live edge
    return chartDue({ forced: this.stale, drawn: this.drawn, plotWidthPx, range }, feed, now);
  }

  needsDraw(feed, now = performance.now()) {
    return this.due(feed, now).due;
  }

  /** Redraws if needed; returns whether Plotly was called. */
  render(feed, now = performance.now()) {
    if (!this.needsDraw(feed, now)) return false;

    const width = this.width || this.chart.clientWidth;
    const buckets = Math.max(50, Math.round(width - MARGIN.l - MARGIN.r));
    const slots = Math.max(10, Math.floor(buckets / CANDLE_SLOT_PX));
    const series = view.pickSeries(this.series);
    const range = view.xRange(feed); // the user's zoom, or the window at the live edge
    const lines = series.filter((s) => s.kind !== 'ohlc');
    const colors = lineColors(feed.index, lines.length, lines.length < series.length);
    const traces = series.map((s) => (s.kind === 'ohlc'
      ? candleTrace(feed, s, slots, range)
      : lineTrace(feed, s, colors[lines.indexOf(s)], buckets, range, this.strip.has(s.name))));
    const spanMs = feed.ts.length ? feed.ts[feed.ts.length - 1] - feed.ts[0] : 0;
    const hasData = feed.count > 0;
    Plotly.react(this.chart, traces, this.layout(traces.length, spanMs, hasData, range), CONFIG);
    if (!this.listening) {
      // gd.on exists once Plotly has drawn into the div.
      this.chart.on('plotly_relayout', (event) => this.zoomed(event));
      this.listening = true;
    }
    this.drawnVersion = feed.version;
    this.drawn = drawnPicture(feed, series.map((s) => s.name), range, now);
    this.stale = false;
    return true;
  }

  layout(traceCount, spanMs, hasData, range) {
    const { ink: INK, grid: GRID, hover, text } = chartColors(); // the theme's (theme.js)
    return {
      // An empty date axis would show a made-up year around 1970-2000: say
      // what is true instead.
      annotations: hasData ? [] : [{
        text: 'waiting for data', showarrow: false, xref: 'paper', yref: 'paper',
        x: 0.5, y: 0.5, font: { size: 12, color: INK },
      }],
      uirevision: view.revision(this.name), // keeps the user's zoom until Live
      margin: MARGIN,
      paper_bgcolor: 'rgba(0,0,0,0)',
      plot_bgcolor: 'rgba(0,0,0,0)',
      font: { family: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif', size: 10, color: INK },
      showlegend: traceCount > 1,
      legend: { orientation: 'h', x: 0, y: 1, yanchor: 'bottom', font: { size: 10 } },
      hovermode: 'x',
      boxgap: BOX_GAP,
      hoverlabel: { bgcolor: hover, bordercolor: this.color, font: { color: text, size: 11 } },
      xaxis: {
        visible: hasData,
        type: 'date',
        ...(range ? { range, autorange: false } : { autorange: true }),
        gridcolor: GRID,
        linecolor: GRID,
        // A live window is minutes long: the clock is enough, the date is
        // noise. Longer spans (a file replayed on its own dates) get Plotly's
        // own date ticks, which show days, months or years as the span needs.
        tickformat: spanMs > DAY_MS ? '' : '%H:%M:%S',
        // In the first seconds Plotly would tick every 200-500 ms and print
        // the same second twice: allow one tick per second of data. (nticks
        // is only an upper bound; pinning dtick instead would ask for
        // millions of ticks on an empty axis, which defaults to a year.)
        nticks: range ? MAX_TICKS : Math.max(2, Math.min(MAX_TICKS, Math.floor(spanMs / 1000) + 1)),
        hoverformat: spanMs > DAY_MS ? '%Y-%m-%d %H:%M' : '%H:%M:%S.%L',
        tickfont: { size: 10 },
        // Plotly adds a range slider under candles by default: it would take
        // most of the panel's height.
        rangeslider: { visible: false },
        // With a strip under the candles, the time axis goes under the strip.
        anchor: this.strip.size ? 'y2' : 'y',
      },
      // The unit is in the panel header: a rotated one-letter axis title
      // ("V" reads as ">") would only cost width.
      yaxis: {
        visible: hasData,
        gridcolor: GRID,
        zeroline: false,
        tickfont: { size: 10 },
        domain: this.strip.size ? STRIP.upper : [0, 1],
      },
      // Only when used: Plotly fails on a yaxis2 key holding undefined.
      ...(this.strip.size && {
        yaxis2: {
          visible: hasData,
          domain: STRIP.lower,
          anchor: 'x',
          gridcolor: GRID,
          zeroline: false,
          nticks: 3,
          tickformat: '~s',   // 4k, not 4000: the strip is short and its labels narrow
          tickfont: { size: 10 },
        },
      }),
    };
  }

  // Decimation works on what is visible: after a zoom, draw the zoomed span in
  // full detail instead of a zoomed-in picture of the whole window's decimation.
  zoomed(event) {
    let range;
    if (event['xaxis.autorange']) {
      range = null;
    } else if ('xaxis.range[0]' in event) {
      range = [event['xaxis.range[0]'], event['xaxis.range[1]']];
    } else if (Array.isArray(event['xaxis.range'])) {
      range = event['xaxis.range'];
    } else {
      return; // not about the x axis (a resize, a y-only zoom)
    }
    this.range = range && range.map(parseAxisDate);
    if (this.range && this.range.some(Number.isNaN)) this.range = null;
    view.zoomed(this.name, this.range); // a zoom or pan detaches; autorange is Live
    this.invalidate();
  }
}

export class Charts {
  constructor(container, requestRender) {
    this.container = container;
    this.requestRender = requestRender;
    this.panels = new Map();
  }

  /**
   * Makes a panel for every described feed that has a plotted series, and
   * updates those whose description changed (a new hello): a feed added by a
   * `feeds` message must not redraw every other panel.
   */
  layout(state) {
    for (const feed of state.feeds.values()) {
      if (!feed.meta || !feed.meta.series.some((s) => s.plot)) continue;
      let panel = this.panels.get(feed.name);
      if (!panel) {
        panel = new Panel(feed, this.requestRender);
        this.panels.set(feed.name, panel);
        this.container.append(panel.root);
      }
      if (panel.meta !== feed.meta) panel.describe(feed.meta);
    }
  }

  /** The panels' latest value text: cheap, so written every frame. */
  label(state) {
    for (const [name, panel] of this.panels) panel.label(state.feeds.get(name));
  }

  /**
   * Draws the charts redraw.js says are due: forced ones (never drawn,
   * resized, zoomed, redrawAll) all at once, then the others least recently
   * drawn first until `budgetMs` is spent (0: forced ones only). `now` is
   * performance.now()'s clock. Returns how many were drawn.
   */
  render(state, budgetMs, now = performance.now()) {
    const start = performance.now();
    const items = [...this.panels].map(([name, panel]) => ({
      key: name, due: panel.due(state.feeds.get(name), now), drawnAt: panel.drawn?.at ?? -Infinity,
    }));
    const { forced, budgeted } = drawOrder(items);
    let drawn = 0;
    const draw = (name) => this.panels.get(name).render(state.feeds.get(name), now);
    for (const name of forced) if (draw(name)) drawn += 1;
    for (const name of budgeted) {
      if (performance.now() - start >= budgetMs) break;
      if (draw(name)) drawn += 1;
    }
    return drawn;
  }

  /** Every chart drawn at the next frame, whatever changed: a user's action, the tab's return. */
  redrawAll() {
    for (const panel of this.panels.values()) panel.stale = true;
  }

  /** Ms until some chart is due (0: now), or null when no chart waits to be drawn. */
  wake(state, now = performance.now()) {
    const dues = [...this.panels].map(([name, panel]) => panel.due(state.feeds.get(name), now));
    if (dues.some((d) => d.due)) return 0;
    return nextWake(dues);
  }
}
