// How many columns the panels take and how tall a chart is, from the number
// of feeds and the viewport: a pure decision (no DOM) charts.js applies as CSS
// variables on the grid.

/** Narrowest panel that still reads (a time axis of 4-5 ticks, a value axis). */
export const MIN_COLUMN = 290;
/** Past this many feeds the page is a wall: as many columns as fit, all in view if it can be. */
export const WALL_FEEDS = 16;
const MAX_COLUMNS = 4;

function clamp(x, lo, hi) {
  return Math.min(hi, Math.max(lo, x));
}

/**
 * { columns, chartHeight } for `count` panels in a grid `width` CSS px wide
 * on a viewport `height` px tall, `gap` px between panels.
 * - one feed fills the width, and half the height;
 * - up to WALL_FEEDS feeds: at most four columns, two rows of charts and the
 *   table's top in view on a laptop screen;
 * - more: as many columns of at least MIN_COLUMN px as fit, charts as tall as
 *   lets every row show, but never shorter than a readable 150 px.
 */
export function gridPlan({ count, width, height, gap = 10 }) {
  const fit = Math.max(1, Math.floor((width + gap) / (MIN_COLUMN + gap)));
  const wall = count > WALL_FEEDS;
  const columns = clamp(Math.min(count, wall ? fit : Math.min(fit, MAX_COLUMNS)), 1, Infinity);
  const rows = Math.max(1, Math.ceil(count / columns));
  let chartHeight;
  if (count <= 1) chartHeight = clamp(height * 0.55, 220, 620);
  else if (wall) chartHeight = clamp((height - 60) / rows - 40, 150, 360);
  else chartHeight = clamp((height - 410) / 2, 160, 360);
  return { columns, chartHeight: Math.round(chartHeight) };
}

/**
 * A chart's height for `rows` stacked rows: each row past the first adds
 * half a chart, up to most of the viewport (never below one chart's height).
 */
export function chartHeightFor(base, rows, viewportHeight) {
  const wanted = base * (1 + 0.5 * Math.max(0, rows - 1));
  return Math.round(Math.min(wanted, Math.max(base, viewportHeight * 0.8)));
}
