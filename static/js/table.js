// The summary table: one row per feed. Its main series (the first plotted one)
// gets Last; Change and Change % against the first value held in the window
// only when that series is declared a level (a price; for an ohlc series: the
// last close against the first open, see Feed.first). A CPU % or a counter
// gets none: a percent change of them would mislead. The other series' last
// values share one compact column, a bar as "name O … H … L … C …".
//
// Sorted by a header's button (aria-sort says how) and filtered by a text box;
// tableview.js decides, this module only moves rows.
//
// Names and titles come from the server: they only ever go in as textContent.
// Cells are written only when their text changes, so a frame of updates costs
// a few text nodes, not a table re-layout.

import { colorOf } from './palette.js';
import { direction, formatChange, formatPercent, formatStatus, formatValue } from './format.js';
import { matchesFilter, nextSort, orderRows, sameOrder } from './tableview.js';

function cell(tr, className, tag = 'td') {
  const td = document.createElement(tag);
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

function setData(node, key, value) {
  if (node.dataset[key] !== value) node.dataset[key] = value;
}

class Row {
  constructor(feed) {
    this.key = feed.name;
    this.tr = document.createElement('tr');
    this.tr.dataset.feed = feed.name;
    // The feed's name heads its row: a screen reader says it with each cell.
    const name = cell(this.tr, 'feed', 'th');
    name.scope = 'row';
    const swatch = document.createElement('span');
    swatch.className = 'swatch';
    swatch.style.background = colorOf(feed.index);
    this.name = document.createElement('span');
    this.name.className = 'feed-name';
    name.append(swatch, this.name);
    this.last = cell(this.tr, 'num last');
    this.change = cell(this.tr, 'num trend change');
    this.percent = cell(this.tr, 'num trend percent');
    this.others = cell(this.tr, 'others');
    this.status = cell(this.tr, 'status-cell');
    this.meta = null;          // the description last laid out (see Table.layout)
    this.drawnVersion = -1;
    this.values = {};          // per sortable column, what it is sorted by
    this.searchText = feed.name;
  }

  describe(feed) {
    this.meta = feed.meta;
    const series = feed.seriesNames();
    const plotted = feed.meta?.series.find((s) => s.plot);
    this.main = plotted ? plotted.name : series[0];
    this.rest = series.filter((s) => s !== this.main);
    this.level = feed.meta?.series.find((s) => s.name === this.main)?.level === true;
    setData(this.tr, 'level', String(this.level));
    setText(this.name, feed.meta?.title || feed.name);
    this.name.title = this.name.textContent; // whole, where the cell cuts it
    this.searchText = [feed.name, feed.meta?.title ?? '', ...series].join(' ');
    this.drawnVersion = -1;
  }

  render(feed) {
    if (feed.version === this.drawnVersion) return false;
    this.drawnVersion = feed.version;
    const last = feed.last.get(this.main) ?? null;
    const first = this.level ? feed.first(this.main) : null;
    const fractional = feed.fractional.has(this.main);
    const change = last !== null && first !== null ? last - first : null;
    const percent = change !== null && first !== 0 ? (change / Math.abs(first)) * 100 : null;
    setText(this.last, formatValue(last, fractional));
    // Not a level: the cells stay empty (a dash would say "no data yet").
    setText(this.change, this.level ? formatChange(change, fractional) : '');
    setText(this.percent, this.level ? formatPercent(percent) : '');
    setText(this.others, this.rest.map((s) => formatOther(feed, s)).join(' · '));
    const { label, title } = formatStatus(feed.status);
    setText(this.status, label);
    if (this.status.title !== title) this.status.title = title;
    setData(this.tr, 'state', feed.status?.state ?? 'running');
    // The arrow (style.css) and the sign say the direction; colour only repeats it.
    setData(this.tr, 'trend', ['down', 'flat', 'up'][direction(change) + 1]);
    this.values = {
      feed: this.name.textContent,
      last,
      change,
      percent,
      status: label,
    };
    return true;
  }
}

export class Table {
  /**
   * `table`: the #feeds table (its header buttons sort); `filter`: the text
   * box; `noMatch`: shown when the filter hides every row; `result`: says
   * "3 of 8 feeds" while filtering (a live region: read out as one types).
   */
  constructor(table, { filter = null, noMatch = null, result = null } = {}) {
    this.table = table;
    this.tbody = table.tBodies[0];
    this.filter = filter;
    this.noMatch = noMatch;
    this.result = result;
    this.rows = new Map();
    this.sort = null;
    this.order = [];
    for (const th of table.tHead.querySelectorAll('th[data-sort]')) {
      th.querySelector('button').addEventListener('click', () => {
        this.sort = nextSort(this.sort, th.dataset.sort);
        this.showSort();
        this.arrange(true);
      });
    }
    filter?.addEventListener('input', () => this.arrange(true));
  }

  showSort() {
    for (const th of this.table.tHead.querySelectorAll('th[data-sort]')) {
      if (this.sort?.column === th.dataset.sort) th.setAttribute('aria-sort', this.sort.direction);
      else th.removeAttribute('aria-sort');
    }
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
    this.arrange(true);
  }

  render(state) {
    let changed = false;
    for (const [name, row] of this.rows) changed = row.render(state.feeds.get(name)) || changed;
    // Values move rows only under a sort; the filter depends on names alone.
    if (changed && this.sort) this.arrange(false);
  }

  /**
   * Puts the rows in the sorted order, moving DOM nodes only when the order
   * changed, and hides those the filter rules out (`filtering`: re-test them).
   */
  arrange(filtering) {
    const rows = [...this.rows.values()];
    const order = orderRows(rows, this.sort);
    if (!sameOrder(order, this.order)) {
      this.order = order;
      this.tbody.append(...order.map((key) => this.rows.get(key).tr));
    }
    if (!filtering) return;
    const query = this.filter?.value ?? '';
    let shown = 0;
    for (const row of rows) {
      const match = matchesFilter(row.searchText, query);
      row.tr.hidden = !match;
      if (match) shown += 1;
    }
    if (this.noMatch) this.noMatch.hidden = shown > 0 || rows.length === 0;
    if (this.result) setText(this.result, query.trim() ? `${shown} of ${rows.length} feeds` : '');
  }
}
