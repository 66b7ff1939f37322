// One panel per feed: a header (name, state, last value), the feed's state in
// words when it is not simply running, the chart, and its legend. The chart's
// rows and axes come from the feed's declaration (axes.js), its Plotly layout
// from chartlayout.js, its size from grid.js. Rendering is driven by main.js's
// animation-frame loop, never by incoming messages.

import { decimate, decimateBars } from './decimate.js';
import { colorOf, lineColors } from './palette.js';
import { formatStatus, formatValue } from './format.js';
import { hoverFormat, planAxes } from './axes.js';
import { plotLayout, margins } from './chartlayout.js';
import { chartHeightFor, gridPlan } from './grid.js';
import { Legend } from './legend.js';
import { panelState } from './panelstate.js';
import { view } from './view.js';
import { chartDue, drawOrder, drawnPicture, nextWake } from './redraw.js';
import { chartColors } from './theme.js';

// Room per candle, in CSS px: past one candle per slot, candles are merged.
// Plotly leaves a gap between candles, so a body is about 3 px wide: still
// seen, and its colour still read.
const CANDLE_SLOT_PX = 4;

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

// A number with a series' declared decimals (formatters built once each).
const fixedFormats = new Map();
function formatDecimals(v, decimals) {
  if (v === null || v === undefined || Number.isNaN(v)) return '—';
  if (!fixedFormats.has(decimals)) {
    fixedFormats.set(decimals, new Intl.NumberFormat(undefined, {
      minimumFractionDigits: decimals, maximumFractionDigits: decimals,
    }));
  }
  return fixedFormats.get(decimals).format(v);
}

function lineTrace(feed, s, { color, buckets, range, axis, hidden }) {
  // The server's reduced history for a long window, then the page's own points (view.js).
  const { x, y } = decimate(...view.column(feed, s.name), buckets, range);
  return {
    type: 'scatter',
    mode: 'lines',
    name: plotlyText(s.name),
    x,
    y,
    visible: !hidden,
    connectgaps: false,
    line: { color, width: 1.5, shape: s.step ? 'hv' : 'linear' },
    // Stacked areas of one axis sum up; min/max decimation gives each series
    // its own x, so a series is interpolated where another has a point.
    ...(s.stack && { stackgroup: axis, stackgaps: 'interpolate' }),
    yaxis: axis,
    meta: [plotlyText(s.unit ?? '')],
    hovertemplate: `%{y:${hoverFormat(s)}} %{meta[0]}<extra>${plotlyText(s.name)}</extra>`,
  };
}

function candleTrace(feed, s, { slots, range, axis, hidden }) {
  const { x, open, high, low, close } = decimateBars(feed.ts, feed.values.get(s.name) ?? [], slots, range);
  const { up, down } = chartColors();
  const f = hoverFormat(s);
  return {
    type: 'candlestick',
    name: plotlyText(s.name),
    x,
    open,
    high,
    low,
    close,
    visible: !hidden,
    yaxis: axis,
    // Solid bodies: Plotly's default half-transparent fill is lost at 3 px.
    increasing: { line: { color: up, width: 1 }, fillcolor: up },
    decreasing: { line: { color: down, width: 1 }, fillcolor: down },
    whiskerwidth: 0,
    meta: [plotlyText(s.unit ?? '')],
    hovertemplate: `O %{open:${f}} H %{high:${f}} L %{low:${f}} C %{close:${f}} %{meta[0]}<extra></extra>`,
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
    this.index = feed.index;
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
    // The producer's state in words, between the header and the chart: never over the plot.
    this.stateLine = el('p', 'panel-state');
    this.stateLine.hidden = true;
    this.stateLine.setAttribute('role', 'status');
    this.chart = el('div', 'panel-chart');
    this.legend = new Legend(() => this.invalidate());
    this.body = el('div', 'panel-body');
    this.body.append(this.chart, this.legend.root);
    this.root.append(head, this.stateLine, this.body);

    this.width = 0;            // the chart's width in CSS px, kept by the ResizeObserver
    this.height = 0;           // and its height
    this.range = null;         // the user's zoomed x range in epoch ms, or null for all
    this.meta = null;          // the description last laid out (see Charts.layout)
    this.plan = { rows: [], axisOf: new Map() };
    this.colors = new Map();   // series name -> line colour
    this.drawnVersion = -1;
    this.drawnPoints = false;  // whether a draw has shown points (not only "waiting for data")
    this.drawn = null;         // what the last draw showed (redraw.js's drawnPicture)
    this.stale = true;         // must redraw even if the data did not change
    this.listening = false;
    new ResizeObserver(([entry]) => {
      this.width = entry.contentRect.width;
      this.height = entry.contentRect.height;
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
    this.plan = planAxes(this.series);
    this.root.style.setProperty('--chart-rows', String(Math.max(1, this.plan.rows.length)));
    const lines = this.series.filter((s) => s.kind !== 'ohlc');
    const colors = lineColors(this.index, lines.length, lines.length < this.series.length);
    const { up } = chartColors();
    this.colors = new Map(this.series.map((s) => [s.name, s.kind === 'ohlc' ? up : colors[lines.indexOf(s)]]));
    // With more than one unit, the legend says which unit (axis) a series is read on.
    const named = units.length > 1;
    this.legend.describe(
      this.series.map((s) => ({ name: s.name, color: this.colors.get(s.name), unit: named ? s.unit : '' })),
      this.title.textContent,
    );
    this.invalidate();
  }

  /** Header and state line: cheap, so kept current every frame, unlike the chart. */
  label(feed) {
    const { label, title } = formatStatus(feed.status);
    if (this.badge.textContent !== label) this.badge.textContent = label;
    if (this.badge.title !== title) this.badge.title = title;
    const state = feed.status?.state ?? 'running';
    if (this.root.dataset.state !== state) this.root.dataset.state = state;
    const said = panelState(feed.status);
    const text = said ? said.text : '';
    if (this.stateLine.textContent !== text) {
      this.stateLine.textContent = text;
      this.stateLine.title = text;  // whole, where two lines cut it
      this.stateLine.hidden = !said;
    }
    const first = this.series[0];
    if (!first) return;
    const v = feed.last.get(first.name);
    const shown = Number.isInteger(first.decimals)
      ? formatDecimals(v, first.decimals)
      : formatValue(v, feed.fractional.has(first.name));
    if (this.last.textContent !== shown) this.last.textContent = shown;
  }

  /** redraw.js's decision: {due, forced, waitMs}. `now` is performance.now()'s clock. */
  due(feed, now) {
    // Paused after its first picture, left out by the picker, or drawn as
    // candles by candles.js: nothing for this chart to draw.
    // A paused page still draws each chart's first picture with points: one
    // drawn before its snapshot arrived would otherwise say "waiting" until Resume.
    if (view.holds(this.drawnPoints) || this.root.hidden || this.root.dataset.view === 'candles') {
      return { due: false, forced: false, waitMs: null };
    }
    const margin = margins(this.plan);
    const plotWidthPx = (this.width || this.chart.clientWidth) - margin.l - margin.r;
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
    const height = this.height || this.chart.clientHeight;
    const margin = margins(this.plan);
    const buckets = Math.max(50, Math.round(width - margin.l - margin.r));
    const slots = Math.max(10, Math.floor(buckets / CANDLE_SLOT_PX));
    const series = view.pickSeries(this.series);
    const range = view.xRange(feed); // the user's zoom, or the window at the live edge
    const traces = series.map((s) => {
      const options = {
        color: this.colors.get(s.name),
        buckets,
        slots,
        range,
        axis: this.plan.axisOf.get(s.name) ?? 'y',
        hidden: this.legend.isHidden(s.name),
      };
      return s.kind === 'ohlc' ? candleTrace(feed, s, options) : lineTrace(feed, s, options);
    });
    const spanMs = feed.ts.length ? feed.ts[feed.ts.length - 1] - feed.ts[0] : 0;
    const layout = plotLayout({
      plan: this.plan,
      height,
      hasData: feed.count > 0,
      spanMs,
      range,
      traceCount: traces.filter((t) => t.visible).length,
      color: this.color,
      colors: chartColors(),
      uirevision: view.revision(this.name), // keeps the user's zoom until Live
    });
    Plotly.react(this.chart, traces, layout, CONFIG);
    if (!this.listening) {
      // gd.on exists once Plotly has drawn into the div.
      this.chart.on('plotly_relayout', (event) => this.zoomed(event));
      this.listening = true;
    }
    this.drawnVersion = feed.version;
    this.drawnPoints ||= feed.count > 0;
    this.drawn = drawnPicture(feed, series.map((s) => s.name), range, now);
    this.stale = false;
    return true;
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
    this.arranged = '';        // the grid plan last applied, to skip unchanged ones
    window.addEventListener('resize', () => this.arrange());
  }

  /**
   * Columns and chart heights from the number of panels and the viewport
   * (grid.js): one feed fills the width, a wall of feeds stays readable.
   */
  arrange() {
    const gap = parseFloat(getComputedStyle(this.container).columnGap) || 10;
    const { columns, chartHeight } = gridPlan({
      count: this.panels.size,
      width: this.container.clientWidth,
      height: window.innerHeight,
      gap,
    });
    const key = `${columns}/${chartHeight}/${window.innerHeight}/${this.panels.size}`;
    if (key === this.arranged) return;
    this.arranged = key;
    this.container.style.setProperty('--columns', String(columns));
    this.container.dataset.columns = String(columns);
    for (const panel of this.panels.values()) {
      const rows = Math.max(1, panel.plan.rows.length);
      panel.chart.style.height = `${chartHeightFor(chartHeight, rows, window.innerHeight)}px`;
    }
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
      if (panel.meta !== feed.meta) {
        panel.describe(feed.meta);
        this.arranged = '';    // its rows may have changed its height
      }
    }
    this.arrange();
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

  /**
   * Whether some shown chart has points it has never drawn (the page's first
   * picture is not done); a feed with no points yet does not hold it up.
   */
  firstPaintPending(state) {
    for (const [name, panel] of this.panels) {
      const shown = !panel.root.hidden && panel.root.dataset.view !== 'candles';
      if (shown && !panel.drawnPoints && state.feeds.get(name)?.count > 0) return true;
    }
    return false;
  }
}
