// Min/max bucket decimation: a plot N pixels wide cannot show more than about
// 2N distinct y extremes, so keep, per pixel-wide bucket of x, the lowest and
// the highest point (in their original order). Spikes survive; cost is O(n).
//
// Candles (decimateBars) merge instead: a candle needs a few pixels to be
// seen at all, so past one candle per slot, each slot of x becomes one candle
// holding the whole slot's move (first open, max high, min low, last close).

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

/** [from, to): the rows within range, plus one beyond each end; all without a range. */
function visible(xs, range) {
  if (!range) return [0, xs.length];
  return [
    Math.max(0, lowerBound(xs, range[0]) - 1),
    Math.min(xs.length, lowerBound(xs, range[1]) + 1),
  ];
}

/**
 * Points of (xs, ys) to draw in `buckets` pixels, as {x, y} arrays.
 *
 * ys may hold null (a break: kept, one per bucket, so the line still breaks)
 * and NaN (no value: skipped). `range` [x0, x1] limits the work to what is
 * visible (one point beyond each end is kept so lines reach the edges); null
 * means everything.
 */
export function decimate(xs, ys, buckets, range = null) {
  const [from, to] = visible(xs, range);
  const x = [];
  const y = [];
  const emit = (i) => {
    x.push(xs[i]);
    y.push(ys[i]);
  };

  if (to - from <= 2 * buckets) {
    for (let i = from; i < to; i += 1) if (!Number.isNaN(ys[i])) emit(i);
    return { x, y };
  }

  const x0 = xs[from];
  const scale = buckets / ((xs[to - 1] - x0) || 1);
  let bucket = -1;
  let lo = -1;
  let hi = -1;
  let gap = -1;
  let lastValue = -1;
  const flush = () => {
    // Emit the bucket's extremes and break in index order so the line stays true.
    const picks = [lo, hi, gap].filter((i) => i >= 0).sort((a, b) => a - b);
    for (let k = 0; k < picks.length; k += 1) if (k === 0 || picks[k] !== picks[k - 1]) emit(picks[k]);
  };
  for (let i = from; i < to; i += 1) {
    const v = ys[i];
    if (v !== null && Number.isNaN(v)) continue;
    // Clamped: x is sorted in practice, but a clock jump must not break the loop.
    const b = Math.min(buckets - 1, Math.max(0, Math.floor((xs[i] - x0) * scale)));
    if (b !== bucket) {
      flush();
      bucket = b;
      lo = hi = gap = -1;
    }
    if (v === null) {
      if (gap < 0) gap = i;
      continue;
    }
    if (lo < 0 || v < ys[lo]) lo = i;
    if (hi < 0 || v > ys[hi]) hi = i;
    lastValue = i;
  }
  flush();
  // The live edge must show the newest value, not just its bucket's extremes.
  if (lastValue > Math.max(lo, hi, gap)) emit(lastValue);
  return { x, y };
}

/**
 * Candles of (xs, bars) to draw in `slots` candle-wide slots, as
 * {x, open, high, low, close} arrays.
 *
 * bars holds bar objects, null (a break) and NaN (no value). A break ends the
 * candle being merged, so no candle spans one; it is not drawn itself (a
 * candle has no line to cut, and Plotly would size every candle by the
 * distance from a break's x to its neighbour). Up to `slots` candles are
 * drawn as they are, at their own x. Past that, x is cut into `slots` equal
 * slots and each becomes one candle centred in its slot, so Plotly (which
 * makes candles as wide as the closest two allow) keeps them slot-wide. A
 * candle started right after a break, in a slot already drawn, takes the next
 * slot instead (and the points of that slot with it): never two at one x.
 */
export function decimateBars(xs, bars, slots, range = null) {
  const [from, to] = visible(xs, range);
  const out = { x: [], open: [], high: [], low: [], close: [] };
  let n = 0;
  for (let i = from; i < to; i += 1) if (isCandle(bars[i])) n += 1;

  if (n <= slots) {
    for (let i = from; i < to; i += 1) {
      const bar = bars[i];
      if (isCandle(bar)) push(out, xs[i], bar.open, bar.high, bar.low, bar.close);
    }
    return out;
  }

  const x0 = xs[from];
  const width = ((xs[to - 1] - x0) || 1) / slots;
  let slot = -1;        // the slot of the candle being merged, -1 for none
  let lastSlot = -1;    // the slot of the last candle drawn
  let open = 0;
  let high = 0;
  let low = 0;
  let close = 0;
  const flush = () => {
    if (slot < 0) return;
    push(out, x0 + (slot + 0.5) * width, open, high, low, close);
    lastSlot = slot;
    slot = -1;
  };
  for (let i = from; i < to; i += 1) {
    const bar = bars[i];
    if (bar === null) {
      flush();
      continue;
    }
    if (!isCandle(bar)) continue;
    // Clamped: x is sorted in practice, but a clock jump must not break the loop.
    const b = Math.min(slots - 1, Math.max(0, Math.floor((xs[i] - x0) / width)));
    if (slot >= 0 && b > slot) flush();
    if (slot < 0) {
      slot = Math.max(b, lastSlot + 1);
      ({ open, high, low, close } = bar);
    } else {
      if (bar.high > high) high = bar.high;
      if (bar.low < low) low = bar.low;
      close = bar.close;
    }
  }
  flush();
  return out;
}

function isCandle(v) {
  return v !== null && typeof v === 'object';
}

function push(out, x, open, high, low, close) {
  out.x.push(x);
  out.open.push(open);
  out.high.push(high);
  out.low.push(low);
  out.close.push(close);
}
