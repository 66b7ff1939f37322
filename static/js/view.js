// What the charts show: the time window, the live edge or a user's zoom per
// chart, pause, the picks, and history reduced by the server for windows
// longer than the page holds. Pure: no DOM, no Plotly, no fetch; charts.js
// asks it, controls.js and backfill.js change it.

import { WINDOWS, DEFAULT_WINDOW } from './urlstate.js';
import { WINDOW_MS as HELD_MS, OWN_CLOCK_MS } from './state.js';

export const WINDOW_SPANS = { '1m': 60_000, '5m': 300_000, '15m': 900_000, '1h': 3_600_000, all: Infinity };

/** Whether a window reaches further back than the page holds at full rate. */
export function needsServerHistory(windowKey) {
  return WINDOW_SPANS[windowKey] > HELD_MS;
}

/** Index of the first x >= value in the sorted array xs. */
function lowerBound(xs, value) {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid] < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Reduced history points (the history API's, oldest first) as columns like
 * a Feed's: `ts` and per series an array aligned with it, NaN where a point
 * carries no value of that series, and a row of nulls before a point flagged
 * `gap` (the line breaks there).
 */
export function columnsOf(points) {
  const names = new Set();
  for (const p of points) for (const name of Object.keys(p.values)) names.add(name);
  const ts = [];
  const values = new Map([...names].map((n) => [n, []]));
  for (const p of points) {
    if (p.gap && ts.length) {
      ts.push(p.ts);
      for (const ys of values.values()) ys.push(null);
    }
    ts.push(p.ts);
    for (const [name, ys] of values) {
      const v = p.values[name];
      ys.push(typeof v === 'number' ? v : NaN);
    }
  }
  return { ts, values };
}

export class View {
  /** `clock()`: the page's time in ms, to tell a feed on a clock of its own (tests pass theirs). */
  constructor({
    window = DEFAULT_WINDOW, feeds = null, series = null, paused = false, clock = () => Date.now(),
  } = {}) {
    this.clock = clock;
    this.window = WINDOWS.includes(window) ? window : DEFAULT_WINDOW;
    this.feeds = feeds;          // picked feed names, or null for all
    this.series = series;        // picked series names (in any feed), or null for all
    this.paused = paused;
    // Points received when paused (see newSince); null: paused since the page
    // loaded, counted from its first picture (see settle).
    this.pausedAt = paused ? null : 0;
    this.detached = new Map();   // feed -> the user's x range [ms, ms]
    this.revisions = new Map();  // feed -> bumped on Live: Plotly forgets the user's zoom
    this.backfill = new Map();   // feed -> columns of reduced server history
    this.version = 0;            // bumped on every change a chart must redraw for
  }

  changed() {
    this.version += 1;
  }

  /** Takes what the URL asks for (urlstate.js's parseView). */
  restore({ window, feeds, series, paused }) {
    if (WINDOWS.includes(window)) this.window = window;
    this.feeds = feeds;
    this.series = series;
    this.paused = paused;
    this.pausedAt = paused ? null : 0;
    this.changed();
  }

  /** Once the first picture is drawn: a page loaded paused counts new points from here. */
  settle(received) {
    if (this.paused && this.pausedAt === null) this.pausedAt = received;
  }

  setWindow(windowKey) {
    if (!WINDOWS.includes(windowKey) || windowKey === this.window) return;
    this.window = windowKey;
    this.backfill.clear();       // it was reduced for the old window's span
    this.live();                 // a new window starts at the live edge
  }

  /** A zoom or pan of feed's chart (range in ms), or null: back to live. */
  zoomed(feed, range) {
    if (range) this.detached.set(feed, range);
    else this.attach(feed);
    this.changed();
  }

  attach(feed) {
    if (!this.detached.delete(feed)) return;
    this.revisions.set(feed, (this.revisions.get(feed) ?? 0) + 1);
    this.changed();
  }

  /** The Live button: every chart back at the live edge. */
  live() {
    for (const feed of [...this.detached.keys()]) this.attach(feed);
    this.changed();
  }

  /** Plotly's uirevision for feed's chart: kept while zoomed, new after Live. */
  revision(feed) {
    return `${feed}:${this.revisions.get(feed) ?? 0}`;
  }

  pause(received) {
    if (this.paused) return;
    this.paused = true;
    this.pausedAt = received;
    this.changed();
  }

  resume() {
    this.paused = false;
    this.changed();
  }

  /** Points received since the pause (a page loaded paused: since its first picture). */
  newSince(received) {
    return this.paused && this.pausedAt !== null ? Math.max(0, received - this.pausedAt) : 0;
  }

  /** Whether a chart drawn once must stay as it is (paused). */
  holds(drawnOnce) {
    return this.paused && drawnOnce;
  }

  showsFeed(name) {
    return this.feeds === null || this.feeds.includes(name);
  }

  pickSeries(series) {
    return this.series === null ? series : series.filter((s) => this.series.includes(s.name));
  }

  /**
   * The x range (ms) feed's chart shows: the user's, or the window ending at
   * the live edge (starting at the oldest point drawn while the data is
   * shorter than the window, so a young feed fills its chart); null: all.
   */
  xRange(feed) {
    const user = this.detached.get(feed.name);
    if (user) return user;
    const span = WINDOW_SPANS[this.window];
    const n = feed.ts.length;
    if (!Number.isFinite(span) || n === 0) return null;
    const newest = feed.ts[n - 1];
    // A feed on a clock of its own (a file replayed on its own dates, see
    // state.js): the page holds it whole, and a window measured back from its
    // newest point would show its last minutes of years.
    if (Math.abs(this.clock() - newest) > OWN_CLOCK_MS) return null;
    const oldest = Math.min(feed.ts[0], this.backfill.get(feed.name)?.ts[0] ?? Infinity);
    if (newest === oldest) return null;
    return [Math.max(newest - span, oldest), newest];
  }

  /**
   * [xs, ys] of one series to draw: the server's reduced history before the
   * first point the page holds, then the page's own points.
   */
  column(feed, name) {
    const live = feed.values.get(name) ?? [];
    const back = this.backfill.get(feed.name);
    const backYs = back?.values.get(name);
    if (!backYs || feed.ts.length === 0) return [feed.ts, live];
    const cut = lowerBound(back.ts, feed.ts[0]);
    if (cut === 0) return [feed.ts, live];
    return [back.ts.slice(0, cut).concat(feed.ts), backYs.slice(0, cut).concat(live)];
  }
}

/** The view the page uses (charts.js, controls.js, backfill.js share it). */
export const view = new View();
