// The page's data: what every feed has sent, bounded in time and count. No DOM here.
//
// A feed holds one row per point: `ts` (ms) and, per series, a value array
// aligned with it. A value is a number for a `line` series and the bar
// object itself, {open, high, low, close}, for an `ohlc` series (the parsed
// point's own object: no copy, four doubles each; 6,000 of them are a few
// hundred kB). Two non-values have meanings the chart relies on:
//   null — a gap marker (a break: missed points, a server restart, or a
//          point flagged `gap: true`); Plotly draws a break at a null y when
//          connectgaps is false, and no candle is ever merged across one.
//   NaN  — this point carried no value for this series; skipped when drawing.

export const WINDOW_MS = 5 * 60 * 1000;
// A feed whose newest point is this far from the page's clock is on a clock of
// its own (a file replayed with its own dates, clock=file): a window measured
// back from the live edge would keep one month of ten years, so only the count
// bounds it.
export const OWN_CLOCK_MS = 60 * 60 * 1000;
export const MAX_POINTS = 6000;

/** Whether v is a bar: an object with finite open, high, low and close. */
export function isBar(v) {
  return v !== null && typeof v === 'object'
    && Number.isFinite(v.open) && Number.isFinite(v.high)
    && Number.isFinite(v.low) && Number.isFinite(v.close);
}

class Feed {
  constructor(name, index) {
    this.name = name;
    this.index = index;        // order of first appearance (picks the feed's colour)
    this.meta = null;          // the hello's description of the feed, once known
    this.kinds = new Map();    // series name -> kind, from meta
    this.epoch = null;         // the epoch of lastSeq
    this.lastSeq = 0;
    this.ts = [];
    this.values = new Map();   // series name -> array aligned with ts
    this.last = new Map();     // series name -> newest value (an ohlc series': its close)
    this.lastBar = new Map();  // ohlc series name -> newest bar
    this.fractional = new Set(); // series that have carried a non-integer (for formatting)
    this.count = 0;            // points held (rows that are not gap markers)
    this.gaps = 0;             // breaks seen (missed points, epoch changes, gap flags)
    this.missed = 0;           // points known to be missing behind those breaks
    this.status = null;        // the producer's state from the last status message
    this.version = 0;          // bumped on every change, for the renderer
  }

  /** Series names in hello order, then any that only points have named. */
  seriesNames() {
    const names = this.meta ? this.meta.series.map((s) => s.name) : [];
    for (const name of this.values.keys()) if (!names.includes(name)) names.push(name);
    return names;
  }

  /** Takes the hello's description of the feed. */
  describe(meta) {
    this.meta = meta;
    this.kinds = new Map((meta.series ?? []).map((s) => [s.name, s.kind]));
  }

  /** The series' kind ('line' or 'ohlc') as the hello declares it, or null. */
  kind(series) {
    return this.kinds.get(series) ?? null;
  }

  /**
   * First value held for the series (the base of change and change %), or
   * null. For an ohlc series it is the first bar's open: change is then close
   * now minus open at the window's start, what one candle spanning the whole
   * window would show (the first close would leave out the first bar's move).
   */
  first(series) {
    const ys = this.values.get(series);
    if (!ys) return null;
    for (const y of ys) {
      if (typeof y === 'number') {
        if (!Number.isNaN(y)) return y;
      } else if (y !== null) {
        return y.open;
      }
    }
    return null;
  }

  column(series) {
    let ys = this.values.get(series);
    if (!ys) {
      ys = new Array(this.ts.length).fill(NaN);
      this.values.set(series, ys);
    }
    return ys;
  }

  pushGap(ts) {
    // With no series yet there is no line to break; this also keeps isGapRow exact.
    if (this.values.size === 0) return;
    this.ts.push(ts);
    for (const ys of this.values.values()) ys.push(null);
  }

  push(point) {
    this.ts.push(point.ts);
    for (const ys of this.values.values()) ys.push(NaN);
    const row = this.ts.length - 1;
    for (const [series, value] of Object.entries(point.values)) {
      // A value of the wrong shape for its series' kind is not stored: a
      // column holds numbers or bars, never both.
      const kind = this.kind(series);
      if (typeof value === 'number') {
        if (kind === 'ohlc') continue;
        this.column(series)[row] = value;
        this.last.set(series, value);
        if (!Number.isInteger(value)) this.fractional.add(series);
      } else if (kind !== 'line' && isBar(value)) {
        this.column(series)[row] = value;
        this.last.set(series, value.close);
        this.lastBar.set(series, value);
        if (!(Number.isInteger(value.open) && Number.isInteger(value.high)
          && Number.isInteger(value.low) && Number.isInteger(value.close))) {
          this.fractional.add(series);
        }
      }
    }
    this.count += 1;
  }

  /**
   * Drops rows past the cap and, for a live feed, rows older than the window
   * (measured from the newest point). `now` is the page's clock (ms).
   */
  trim(now) {
    const n = this.ts.length;
    if (n === 0) return;
    const newest = this.ts[n - 1];
    const cutoff = Math.abs(now - newest) > OWN_CLOCK_MS ? -Infinity : newest - WINDOW_MS;
    let drop = Math.max(0, n - MAX_POINTS);
    while (drop < n && this.ts[drop] < cutoff) drop += 1;
    // A break with nothing before it means nothing: drop leading gap markers too.
    while (drop < n && this.isGapRow(drop)) drop += 1;
    if (drop === 0) return;
    for (let i = 0; i < drop; i += 1) if (!this.isGapRow(i)) this.count -= 1;
    this.ts.splice(0, drop);
    for (const ys of this.values.values()) ys.splice(0, drop);
  }

  isGapRow(i) {
    // Gap markers are null in every series; a point is never null in any.
    const [ys] = this.values.values();
    return ys !== undefined && ys[i] === null;
  }
}

export class State {
  /** `clock()`: the page's time in ms (Date.now); tests pass their own. */
  constructor({ clock = () => Date.now() } = {}) {
    this.clock = clock;
    this.feeds = new Map();     // name -> Feed, in order of first appearance
    this.epoch = null;          // the epoch of the current (or last) connection's hello
    this.received = 0;          // points accepted
    this.duplicates = 0;        // points dropped as already held
    this.metaVersion = 0;       // bumped when a hello or feeds message describes feeds
  }

  feed(name) {
    let feed = this.feeds.get(name);
    if (!feed) {
      feed = new Feed(name, this.feeds.size);
      this.feeds.set(name, feed);
    }
    return feed;
  }

  /** Takes a hello: the epoch for the batches that follow and the feeds' descriptions. */
  hello(msg) {
    this.epoch = msg.epoch;
    for (const meta of msg.feeds ?? []) this.feed(meta.name).describe(meta);
    this.metaVersion += 1;
  }

  /** Takes a `feeds` message's `added`: feeds created since the hello, described alike. */
  addFeeds(added) {
    for (const meta of added ?? []) this.feed(meta.name).describe(meta);
    this.metaVersion += 1;
  }

  /**
   * Adds points (oldest first) of the given epoch; batches carry no epoch, so
   * they come with the hello's.
   */
  ingest(points, epoch = this.epoch) {
    const touched = new Set();
    for (const point of points) {
      const feed = this.feed(point.feed);
      if (feed.epoch === epoch && point.seq <= feed.lastSeq) {
        this.duplicates += 1;
        continue;
      }
      if (feed.lastSeq > 0 && (feed.epoch !== epoch || point.seq > feed.lastSeq + 1)) {
        // A restarted server counts from 1 again: everything before this seq is missing.
        const missing = feed.epoch === epoch ? point.seq - feed.lastSeq - 1 : point.seq - 1;
        feed.gaps += 1;
        feed.missed += missing;
        // Between the two points, so the line breaks exactly in the hole.
        feed.pushGap((feed.ts[feed.ts.length - 1] + point.ts) / 2);
      } else if (point.gap === true && feed.count > 0 && !feed.isGapRow(feed.ts.length - 1)) {
        // The feed itself says its line breaks here (it yielded a break, or
        // restarted without continuing from its last point): nothing is missing.
        feed.gaps += 1;
        feed.pushGap((feed.ts[feed.ts.length - 1] + point.ts) / 2);
      }
      feed.push(point);
      feed.epoch = epoch;
      feed.lastSeq = point.seq;
      touched.add(feed);
      this.received += 1;
    }
    const now = this.clock();
    for (const feed of touched) {
      feed.trim(now);
      feed.version += 1;
    }
  }

  /** Takes a status message: each feed's producer state (running, restarting, ...). */
  setStatus(feeds) {
    for (const [name, status] of Object.entries(feeds ?? {})) {
      const feed = this.feed(name);
      feed.status = status;
      feed.version += 1;
    }
  }

  /** What a reconnect sends as `resume`, or null when nothing is held yet. */
  resume() {
    const seqs = {};
    for (const feed of this.feeds.values()) {
      if (feed.epoch === this.epoch && feed.lastSeq > 0) seqs[feed.name] = feed.lastSeq;
    }
    return Object.keys(seqs).length ? { epoch: this.epoch, seqs } : null;
  }
}
