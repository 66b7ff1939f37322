// When a chart is worth redrawing: only when a person could see its picture
// change. No DOM, no Plotly, no clock of its own (times are passed in), so
// node --test covers every rule (tests/js/redraw.test.js).
//
// A chart of `span` ms across `plotWidthPx` pixels moves one pixel every
// span / plotWidthPx ms: a 5-minute window on a 300 px plot moves once a
// second, so redrawing it 5 times a second (a full Plotly.react each) shows
// nothing new. A chart is due when:
//   - it must be drawn whatever the data (never drawn, resized, re-described,
//     zoomed, a user's action, the tab coming back): `forced`, drawn at once;
//   - a new point lies outside the y extent drawn for its series: the y axis
//     rescales, which moves the whole picture;
//   - the visible live edge moved by at least a pixel's worth of time;
//   - it has undrawn points and a pixel's worth of wall time has passed since
//     it was drawn (the edge's last segment moves up or down within its pixel
//     column), but at most MAX_WAIT_MS: a long window still shows a new value
//     within a second.
// The latest value's text is not decided here: it is cheap, so main.js
// writes it every frame.

export const MAX_WAIT_MS = 1000;

/** Time one pixel of the plot stands for, in ms (0 for an empty or point-wide span). */
export function msPerPixel(spanMs, plotWidthPx) {
  if (!(spanMs > 0) || !(plotWidthPx > 0)) return 0;
  return spanMs / Math.max(1, plotWidthPx);
}

function extendExtent(extent, v) {
  let lo;
  let hi;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return;
    lo = v;
    hi = v;
  } else if (v !== null && typeof v === 'object') {
    lo = v.low;
    hi = v.high;
    if (!Number.isFinite(lo) || !Number.isFinite(hi)) return;
  } else {
    return; // null: a gap marker, not a value
  }
  if (lo < extent[0]) extent[0] = lo;
  if (hi > extent[1]) extent[1] = hi;
}

/** [min, max] of a column's values (numbers, or bars by low/high) in rows [from, to). */
export function extentOf(values, from = 0, to = values.length) {
  const extent = [Infinity, -Infinity];
  for (let i = from; i < to; i += 1) extendExtent(extent, values[i]);
  return extent;
}

/** The newest x a chart shows: the data's newest, or the zoomed range's end if before it. */
function visibleEdge(ts, range) {
  const newest = ts.length ? ts[ts.length - 1] : -Infinity;
  return range ? Math.min(newest, range[1]) : newest;
}

/**
 * What a draw put on screen, kept to compare later data against.
 * feed: {ts, values: Map(series -> column), version}; series: plotted names;
 * range: the zoomed [x0, x1] in ms or null; now: the page's clock (ms).
 */
export function drawnPicture(feed, series, range, now) {
  const extents = new Map();
  for (const name of series) extents.set(name, extentOf(feed.values.get(name) ?? []));
  return {
    at: now,
    version: feed.version,
    newest: feed.ts.length ? feed.ts[feed.ts.length - 1] : -Infinity,
    edge: visibleEdge(feed.ts, range),
    extents,
  };
}

/** Whether a point appended since the draw lies outside its series' drawn y extent. */
function leavesExtent(feed, drawn) {
  const { ts } = feed;
  let from = ts.length;
  while (from > 0 && ts[from - 1] > drawn.newest) from -= 1;
  if (from === ts.length) return false;
  for (const [name, [lo, hi]] of drawn.extents) {
    const fresh = extentOf(feed.values.get(name) ?? [], from);
    if (fresh[0] < lo || fresh[1] > hi) return true;
  }
  return false;
}

/**
 * The decision for one chart: {due, forced, waitMs}. waitMs, when not due
 * but holding undrawn points, is how long until it will be due with no new
 * points (the frame loop sleeps that long instead of spinning); null when
 * nothing is waiting.
 *
 * chart: {forced, drawn (from drawnPicture, or null), plotWidthPx, range};
 * feed as for drawnPicture; now in the same clock as drawnPicture's.
 */
export function chartDue(chart, feed, now) {
  const { drawn } = chart;
  if (chart.forced || !drawn) return { due: true, forced: true, waitMs: null };
  if (feed.version === drawn.version) return { due: false, forced: false, waitMs: null };
  const { ts } = feed;
  const first = ts.length ? ts[0] : 0;
  const span = chart.range ? chart.range[1] - chart.range[0] : visibleEdge(ts, null) - first;
  const pixel = msPerPixel(span, chart.plotWidthPx);
  if (visibleEdge(ts, chart.range) - drawn.edge >= pixel) return { due: true, forced: false, waitMs: null };
  if (leavesExtent(feed, drawn)) return { due: true, forced: false, waitMs: null };
  if (feed.ts.length === 0 || visibleEdge(ts, null) <= drawn.newest) {
    // Only a status or trim changed the version: nothing new to plot.
    return { due: false, forced: false, waitMs: null };
  }
  const waitMs = Math.max(0, Math.min(pixel, MAX_WAIT_MS) - (now - drawn.at));
  return { due: waitMs === 0, forced: false, waitMs: waitMs === 0 ? null : waitMs };
}

/**
 * Which due charts to draw now. Forced ones all at once (a user's action or
 * the tab's return must not trickle in over several frames); the others
 * least recently drawn first, for the frame loop to draw until its budget is
 * spent. items: [{key, due: chartDue's result, drawnAt}].
 */
export function drawOrder(items) {
  const forced = [];
  const budgeted = [];
  for (const item of items) {
    if (!item.due.due) continue;
    (item.due.forced ? forced : budgeted).push(item);
  }
  budgeted.sort((a, b) => a.drawnAt - b.drawnAt);
  return { forced: forced.map((i) => i.key), budgeted: budgeted.map((i) => i.key) };
}

/** The shortest wait among charts not yet due, or null: when the frame loop must look again. */
export function nextWake(dues) {
  let wait = null;
  for (const due of dues) {
    if (due.waitMs !== null && (wait === null || due.waitMs < wait)) wait = due.waitMs;
  }
  return wait;
}
