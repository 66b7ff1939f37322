// The summary table: one row per feed. Its main series (the first plotted one)
// gets Last, Change and Change % against the first value held in the window
// (for an ohlc series: the last close against the first open, see
// Feed.first); the other series' last values share one compact column, a bar
// as "name O … H … L … C …".
//
// Names and titles come from the server: they only ever go in as textContent.
// Cells are written only when their text changes, so a frame of updates costs
// a few text nodes, not a table re-layout.

import { colorOf } from './palette.js';
import { direction, formatChange, formatPercent, formatStatus, formatValue } from './format.js';

function cell(tr, className) {
  const td = document.createElement('td');
  td.className = className;
  tr.append(td);
  return td;
}

/** One other series' newest value, as the "Other series" column shows it. */
function formatOther(feed, series) {
  const fractional = feed.fractional.has(series);
  const bar = feed.lastBar.get(series);
  if (bar === undefined) return `${series} ${formatValue(feed.last.get(series), fractional)}`;
  const f = (v) => formatValue(v, fractional);
  return `${series} O ${f(bar.open)} H ${f(bar.high)} L ${f(bar.low)} C ${f(bar.close)}`;
}

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

class Row {
  constructor(feed) {
    this.tr = document.createElement('tr');
    this.tr.dataset.feed = feed.name;
    const name = cell(this.tr, 'feed');
    const swatch = document.createElement('span');
    swatch.className = 'swatch';
    swatch.style.background = colorOf(feed.index);
    this.name = document.createElement('span');
    this.name.className = 'feed-name';
    name.append(swatch, this.name);
    this.last = cell(this.tr, 'num');
    this.change = cell(this.tr, 'num trend');
    this.percent = cell(this.tr, 'num trend');
    this.others = cell(this.tr, 'others');
    this.status = cell(this.tr, 'status-cell');
    this.meta = null;          // the description last laid out (see Table.layout)
    this.drawnVersion = -1;
  }

  describe(feed) {
    this.meta = feed.meta;
    const series = feed.seriesNames();
    const plotted = feed.meta?.series.find((s) => s.plot);
    this.main = plotted ? plotted.name : series[0];
    this.rest = series.filter((s) => s !== this.main);
    setText(this.name, feed.meta?.title || feed.name);
    this.name.title = this.name.textContent; // whole, where the cell cuts it
    this.drawnVersion = -1;
  }

  render(feed) {
    if (feed.version === this.drawnVersion) return;
    this.drawnVersion = feed.version;
    const last = feed.last.get(this.main) ?? null;
    const first = feed.first(this.main);
    const fractional = feed.fractional.has(this.main);
    const change = last !== null && first !== null ? last - first : null;
    const percent = change !== null && first !== 0 ? (change / Math.abs(first)) * 100 : null;
    setText(this.last, formatValue(last, fractional));
    setText(this.change, formatChange(change, fractional));
    setText(this.percent, formatPercent(percent));
    setText(this.others, this.rest.map((s) => formatOther(feed, s)).join(' · '));
    const { label, title } = formatStatus(feed.status);
    setText(this.status, label);
    if (this.status.title !== title) this.status.title = title;
    const state = feed.status?.state ?? 'running';
    if (this.tr.dataset.state !== state) this.tr.dataset.state = state;
    const trend = ['down', 'flat', 'up'][direction(change) + 1];
    if (this.tr.dataset.trend !== trend) this.tr.dataset.trend = trend;
  }
}

export class Table {
  constructor(tbody) {
    this.tbody = tbody;
    this.rows = new Map();
  }

  /** Makes a row for every described feed; updates those whose description changed. */
  layout(state) {
    for (const feed of state.feeds.values()) {
      if (!feed.meta) continue;
      let row = this.rows.get(feed.name);
      if (!row) {
        row = new Row(feed);
        this.rows.set(feed.name, row);
        this.tbody.append(row.tr);
      }
      if (row.meta !== feed.meta) row.describe(feed);
    }
  }

  render(state) {
    for (const [name, row] of this.rows) row.render(state.feeds.get(name));
  }
}
