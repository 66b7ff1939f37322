// Candle bars as the server sends them, and the `candles` URL key. No DOM here.
//
// The server builds the bars (docs/protocol.md, "candles"): a `reset` message
// holds all of them, later ones only the bars a flush opened or changed. The
// page keeps them in time order and replaces a bar by its `t`.

export const INTERVALS = ['1s', '5s', '1m'];
// The server holds at most this many bars per interval; older ones may go.
export const MAX_BARS = 720;

/** The bars of one feed's series at one interval. */
export class BarBook {
  constructor(interval) {
    this.interval = interval;
    this.bars = [];      // {t, open, high, low, close, volume}, oldest first
    this.version = 0;    // bumped on every change, for the renderer
    this.received = false; // a reset has come: the bars are the server's
  }

  /**
   * Takes one `candles` message; returns false (and changes nothing) when it
   * is for another interval: a switch the server has not answered yet.
   */
  apply(msg) {
    if (msg.interval !== this.interval) return false;
    if (msg.reset) {
      this.bars = [];
      this.received = true;
    } else if (!this.received) {
      return false; // changes to bars this page never got whole
    }
    for (const bar of msg.bars ?? []) this.put(bar);
    if (this.bars.length > MAX_BARS) this.bars.splice(0, this.bars.length - MAX_BARS);
    this.version += 1;
    return true;
  }

  put(bar) {
    const bars = this.bars;
    // Nearly always the newest bar, or a new one after it: look from the end.
    let i = bars.length - 1;
    while (i >= 0 && bars[i].t > bar.t) i -= 1;
    if (i >= 0 && bars[i].t === bar.t) bars[i] = bar;
    else bars.splice(i + 1, 0, bar);
  }

  /** The newest `count` bars, as Plotly's column arrays; volume null when none has one. */
  columns(count) {
    const shown = this.bars.slice(-count);
    const hasVolume = shown.some((b) => b.volume !== null && b.volume !== undefined);
    return {
      t: shown.map((b) => b.t),
      open: shown.map((b) => b.open),
      high: shown.map((b) => b.high),
      low: shown.map((b) => b.low),
      close: shown.map((b) => b.close),
      volume: hasVolume ? shown.map((b) => b.volume ?? 0) : null,
      up: shown.map((b) => b.close >= b.open),
    };
  }
}

/**
 * Reads the `candles` URL value: `ACME:5s,GLOBX:1m` (per feed), or a bare
 * interval (`5s`) for every feed that has a level series. Returns
 * {all, feeds: Map(feed -> interval), errors: [one line per bad entry]}; a bad
 * entry is left out, the good ones kept.
 */
export function parseCandlesParam(value) {
  const result = { all: null, feeds: new Map(), errors: [] };
  if (!value) return result;
  for (const entry of value.split(',')) {
    const text = entry.trim();
    if (!text) continue;
    const colon = text.lastIndexOf(':');
    const feed = colon < 0 ? null : text.slice(0, colon);
    const interval = colon < 0 ? text : text.slice(colon + 1);
    if (!INTERVALS.includes(interval)) {
      result.errors.push(`candles: ${JSON.stringify(text)} has no interval of ${INTERVALS.join(', ')}; left out`);
    } else if (feed === null) {
      result.all = interval;
    } else if (!feed) {
      result.errors.push(`candles: ${JSON.stringify(text)} names no feed; left out`);
    } else {
      result.feeds.set(feed, interval);
    }
  }
  return result;
}

/** The `candles` URL value for feed -> interval (null when none shows candles). */
export function serializeCandlesParam(feeds) {
  const entries = [...feeds].map(([feed, interval]) => `${feed}:${interval}`);
  return entries.length ? entries.join(',') : null;
}

/** How many bars fit in `plotWidthPx` (about 6 px each: a body and a gap). */
export function barsThatFit(plotWidthPx) {
  return Math.max(20, Math.min(MAX_BARS, Math.floor(plotWidthPx / 6)));
}
