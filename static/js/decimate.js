// Min/max bucket decimation: a plot N pixels wide cannot show more than about
// 2N distinct y extremes, so keep, per pixel-wide bucket of x, the lowest and
// the highest point (in their original order). Spikes survive; cost is O(n).

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
 * Points of (xs, ys) to draw in `buckets` pixels, as {x, y} arrays.
 *
 * ys may hold null (a break: kept, one per bucket, so the line still breaks)
 * and NaN (no value: skipped). `range` [x0, x1] limits the work to what is
 * visible (one point beyond each end is kept so lines reach the edges); null
 * means everything.
 */
export function decimate(xs, ys, buckets, range = null) {
  let from = 0;
  let to = xs.length;
  if (range) {
    from = Math.max(0, lowerBound(xs, range[0]) - 1);
    to = Math.min(xs.length, lowerBound(xs, range[1]) + 1);
  }
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
