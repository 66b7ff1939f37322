// Candles beside the line view: a "Lines | Candles" switch with an interval on
// each panel of a feed with a level series (a price), drawing the bars the
// server builds (docs/protocol.md, "candles") with their volume under them.
// Bars only come in messages; drawing is done by main.js's frame loop calling
// render(), like the line charts.

import { BarBook, INTERVALS, barsThatFit, parseCandlesParam, serializeCandlesParam } from './candlebars.js';
import { chartColors } from './theme.js';

const URL_KEY = 'candles';
const MARGIN = { l: 60, r: 12, t: 6, b: 22 };
// The volume panel under the candles, and the candles above it (paper fractions).
const DOMAINS = { volume: [0, 0.22], candles: [0.28, 1] };
const CONFIG = { displaylogo: false, responsive: true, displayModeBar: false, showTips: false };

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text) node.textContent = text;
  return node;
}

// The theme's colours (theme.js resolves light-dark() to what Plotly takes),
// read at each draw: a theme switch shows at the next bar.
const colors = chartColors;

/** The first level line series of a feed's description, or null. */
function levelSeries(meta) {
  return meta?.series?.find((s) => s.level && s.kind === 'line') ?? null;
}

/** One panel's switch and candle chart. */
class CandleView {
  constructor(panel, series, owner) {
    this.panel = panel;
    this.feed = panel.name;
    this.series = series;
    this.owner = owner;
    this.book = null;       // the bars while candles are shown, else null
    this.drawn = -1;        // the book version last drawn
    this.width = 0;

    const unit = series.unit ? ` ${series.unit}` : '';
    this.unit = unit;
    this.control = el('div', 'view-switch');
    this.control.setAttribute('role', 'group');
    this.control.setAttribute('aria-label', `${this.feed}: lines or candles`);
    this.linesButton = el('button', 'view-lines', 'Lines');
    this.candlesButton = el('button', 'view-candles', 'Candles');
    for (const button of [this.linesButton, this.candlesButton]) button.type = 'button';
    this.intervalSelect = el('select', 'view-interval');
    this.intervalSelect.setAttribute('aria-label', `${this.feed}: candle interval`);
    for (const interval of INTERVALS) this.intervalSelect.append(new Option(interval, interval));
    this.intervalSelect.value = '5s';
    this.control.append(this.linesButton, this.candlesButton, this.intervalSelect);
    panel.root.querySelector('.panel-head').append(this.control);

    this.chart = el('div', 'panel-candles');
    this.chart.hidden = true;
    panel.chart.after(this.chart);
    new ResizeObserver(([entry]) => {
      this.width = entry.contentRect.width;
      this.drawn = -1;
      owner.requestRender();
    }).observe(this.chart);

    this.linesButton.addEventListener('click', () => this.show(null));
    this.candlesButton.addEventListener('click', () => this.show(this.intervalSelect.value));
    this.intervalSelect.addEventListener('change', () => this.show(this.intervalSelect.value));
    this.reflect();
  }

  get interval() {
    return this.book?.interval ?? null;
  }

  /** Shows candles at `interval`, or the lines (null); asks the server and keeps it in the URL. */
  show(interval) {
    if (interval === this.interval) return;
    this.book = interval ? new BarBook(interval) : null;
    if (interval) this.intervalSelect.value = interval;
    this.drawn = -1;
    this.subscribe();
    this.reflect();
    this.owner.saveUrl();
    if (!interval) this.panel.invalidate(); // the lines were not drawn meanwhile
    this.owner.requestRender();
  }

  subscribe() {
    this.owner.send({ type: 'candles', feed: this.feed, series: this.series.name, interval: this.interval });
  }

  reflect() {
    const candles = this.interval !== null;
    // charts.js draws no lines for a panel showing candles (Panel.needsDraw).
    if (candles) this.panel.root.dataset.view = 'candles';
    else delete this.panel.root.dataset.view;
    this.chart.hidden = !candles;
    this.panel.chart.hidden = candles;
    // The lines' legend has nothing to toggle on candles; the candles take the lines' height.
    if (this.panel.legend) this.panel.legend.root.hidden = candles;
    if (this.panel.chart.style.height) this.chart.style.height = this.panel.chart.style.height;
    // The interval only beside candles: the header of a narrow panel keeps room for its title.
    this.intervalSelect.hidden = !candles;
    this.linesButton.setAttribute('aria-pressed', String(!candles));
    this.candlesButton.setAttribute('aria-pressed', String(candles));
  }

  receive(msg) {
    return this.book !== null && msg.series === this.series.name && this.book.apply(msg);
  }

  /** Draws if the bars changed; returns whether Plotly was called. */
  render() {
    const book = this.book;
    if (!book || book.version === this.drawn || !this.width) return false;
    const bars = book.columns(barsThatFit(this.width - MARGIN.l - MARGIN.r));
    Plotly.react(this.chart, this.traces(bars), this.layout(bars), CONFIG);
    this.drawn = book.version;
    return true;
  }

  traces(bars) {
    const { up, down } = colors();
    const candles = {
      type: 'candlestick',
      name: this.series.name,
      x: bars.t,
      open: bars.open,
      high: bars.high,
      low: bars.low,
      close: bars.close,
      increasing: { line: { color: up, width: 1 }, fillcolor: up },
      decreasing: { line: { color: down, width: 1 }, fillcolor: down },
      whiskerwidth: 0,
      meta: [this.unit],
      hovertemplate: 'O %{open:,.4~f} H %{high:,.4~f} L %{low:,.4~f} C %{close:,.4~f}%{meta[0]}<extra></extra>',
    };
    if (!bars.volume) return [candles];
    const volume = {
      type: 'bar',
      name: 'volume',
      x: bars.t,
      y: bars.volume,
      yaxis: 'y2',
      marker: { color: bars.up.map((isUp) => (isUp ? up : down)), opacity: 0.6 },
      hovertemplate: 'vol %{y:,}<extra></extra>',
    };
    return [candles, volume];
  }

  layout(bars) {
    const { ink, grid } = colors();
    const hasVolume = bars.volume !== null;
    const axis = { gridcolor: grid, zeroline: false, tickfont: { size: 10 } };
    return {
      uirevision: `${this.feed}:${this.interval}`, // keeps a zoom until the interval changes
      margin: MARGIN,
      paper_bgcolor: 'rgba(0,0,0,0)',
      plot_bgcolor: 'rgba(0,0,0,0)',
      font: { family: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif', size: 10, color: ink },
      showlegend: false,
      hovermode: 'x',
      bargap: 0.25,
      annotations: bars.t.length ? [] : [{
        text: 'waiting for bars', showarrow: false, xref: 'paper', yref: 'paper',
        x: 0.5, y: 0.5, font: { size: 12, color: ink },
      }],
      xaxis: {
        type: 'date', gridcolor: grid, linecolor: grid, tickformat: '%H:%M:%S', nticks: 5,
        tickfont: { size: 10 }, rangeslider: { visible: false }, anchor: hasVolume ? 'y2' : 'y',
        visible: bars.t.length > 0,
      },
      yaxis: { ...axis, domain: hasVolume ? DOMAINS.candles : [0, 1], visible: bars.t.length > 0 },
      ...(hasVolume && {
        yaxis2: { ...axis, domain: DOMAINS.volume, anchor: 'x', nticks: 3, tickformat: '~s', rangemode: 'tozero' },
      }),
    };
  }
}

export class Candles {
  /** send(message): to the server if connected (a hello re-sends what is shown). */
  constructor({ send, requestRender }) {
    this.send = send;
    this.requestRender = requestRender;
    this.views = new Map();   // feed name -> CandleView
    const wanted = parseCandlesParam(new URLSearchParams(location.search).get(URL_KEY));
    for (const error of wanted.errors) console.warn(`livefeed: ${error}`);
    this.wanted = wanted;     // what the URL asked for, applied as panels appear
    // A theme change follows the system: redraw in its colours.
    matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => this.redrawAll());
  }

  /** Adds the switch to each new panel whose feed has a level series. */
  layout(state, panels) {
    for (const [name, panel] of panels) {
      if (this.views.has(name)) continue;
      const series = levelSeries(state.feeds.get(name)?.meta);
      if (!series) continue;
      const view = new CandleView(panel, series, this);
      this.views.set(name, view);
      const interval = this.wanted.feeds.get(name) ?? this.wanted.all;
      if (interval) view.show(interval);
    }
  }

  /** After a (re)connect's hello: the server forgot this page's candles. */
  connected() {
    for (const view of this.views.values()) {
      if (view.interval) view.subscribe();
    }
  }

  receive(msg) {
    if (this.views.get(msg.feed)?.receive(msg)) this.requestRender();
  }

  /** Draws every candle view whose bars changed; returns how many were drawn. */
  render() {
    let drawn = 0;
    for (const view of this.views.values()) if (view.render()) drawn += 1;
    return drawn;
  }

  redrawAll() {
    for (const view of this.views.values()) view.drawn = -1;
    this.requestRender();
  }

  /** Shown intervals, per feed (for tests and the console). */
  shown() {
    return Object.fromEntries([...this.views].filter(([, v]) => v.interval).map(([f, v]) => [f, v.interval]));
  }

  saveUrl() {
    const shown = new Map(Object.entries(this.shown()));
    // Feeds the URL named that have no panel yet keep their entry.
    for (const [feed, interval] of this.wanted.feeds) if (!this.views.has(feed)) shown.set(feed, interval);
    const params = new URLSearchParams(location.search);
    const value = serializeCandlesParam(shown);
    if (value) params.set(URL_KEY, value);
    else params.delete(URL_KEY);
    const query = params.toString();
    history.replaceState(history.state, '', `${location.pathname}${query ? `?${query}` : ''}${location.hash}`);
  }
}
