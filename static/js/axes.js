// Which series share a y axis, and how a feed's chart is cut into rows that
// share its time axis: a pure plan from the feed's declaration (no DOM, no
// Plotly calls), so charts.js only turns it into a Plotly layout.
//
// Rules (docs/protocol.md, "Drawing hints"):
// - series with different units never share a y axis;
// - series declaring the same `panel` share a row; the others are grouped by unit;
// - a row holds at most two units: the second gets a y axis on the right;
// - with no panels declared, no candles and exactly two units, both units
//   share one row (left and right axes); more units are stacked rows;
// - candles get a taller row, and lines in another unit a row below them.

/** Row heights relative to each other. */
export const CANDLE_WEIGHT = 3;
export const LINE_WEIGHT = 1;

function groupKey(s) {
  return s.panel ? `panel:${s.panel}` : `unit:${s.unit ?? ''}`;
}

function unitsOf(list) {
  return [...new Set(list.map((s) => s.unit ?? ''))];
}

/** Groups of series in order of first appearance: by panel hint, else by unit. */
function groups(plotted) {
  const byKey = new Map();
  for (const s of plotted) {
    const key = groupKey(s);
    if (!byKey.has(key)) byKey.set(key, { key, panel: s.panel || '', series: [] });
    byKey.get(key).series.push(s);
  }
  // A panel with more than two units (a server that did not check it): the
  // units past the second get a row of their own each.
  const out = [];
  for (const group of byKey.values()) {
    const units = unitsOf(group.series);
    if (units.length <= 2) {
      out.push(group);
      continue;
    }
    out.push({ ...group, series: group.series.filter((s) => units.slice(0, 2).includes(s.unit ?? '')) });
    for (const unit of units.slice(2)) {
      out.push({ key: `${group.key}:${unit}`, panel: group.panel, series: group.series.filter((s) => (s.unit ?? '') === unit) });
    }
  }
  return out;
}

/** The y range a set of series declares: [lo, hi] with null for "follow the data", or null. */
export function declaredRange(list) {
  const lows = list.map((s) => s.y_min).filter((v) => typeof v === 'number');
  const highs = list.map((s) => s.y_max).filter((v) => typeof v === 'number');
  if (!lows.length && !highs.length) return null;
  return [lows.length ? Math.min(...lows) : null, highs.length ? Math.max(...highs) : null];
}

function axis(id, unit, list, side) {
  return {
    id,                                   // Plotly's trace axis name: 'y', 'y2', ...
    unit,
    side,                                 // 'left' or 'right'
    log: list.some((s) => s.log === true),
    range: declaredRange(list),
    stacked: list.some((s) => s.stack === true),
    series: list.map((s) => s.name),
  };
}

/**
 * The chart plan for a feed's declared series (the hello's `series`).
 * Returns { rows: [{ key, label, weight, candles, axes: [axis, axis?] }],
 * axisOf: Map(series name -> axis id) }, rows top to bottom; only series
 * with `plot` are placed.
 */
export function planAxes(series) {
  const plotted = series.filter((s) => s.plot !== false);
  let found = groups(plotted);
  const hasCandles = plotted.some((s) => s.kind === 'ohlc');
  const anyPanel = plotted.some((s) => s.panel);
  if (!anyPanel && !hasCandles && found.length === 2) {
    found = [{ key: 'units', panel: '', series: [...found[0].series, ...found[1].series] }];
  }
  // Candles on top: lines beside them in another unit go under them.
  found.sort((a, b) => Number(b.series.some((s) => s.kind === 'ohlc')) - Number(a.series.some((s) => s.kind === 'ohlc')));

  const rows = [];
  const axisOf = new Map();
  let next = 1;
  for (const group of found) {
    const units = unitsOf(group.series);
    const axes = units.map((unit, k) => {
      const id = next === 1 ? 'y' : `y${next}`;
      next += 1;
      return axis(id, unit, group.series.filter((s) => (s.unit ?? '') === unit), k === 0 ? 'left' : 'right');
    });
    for (const a of axes) for (const name of a.series) axisOf.set(name, a.id);
    const candles = group.series.some((s) => s.kind === 'ohlc');
    rows.push({
      key: group.key,
      label: group.panel,
      weight: candles ? CANDLE_WEIGHT : LINE_WEIGHT,
      candles,
      axes,
    });
  }
  return { rows, axisOf };
}

/**
 * Each row's vertical domain in Plotly's paper fractions ([lo, hi], 0 is the
 * bottom), rows top to bottom, `gap` (a fraction) between two rows.
 */
export function rowDomains(weights, gap) {
  const n = weights.length;
  if (!n) return [];
  const room = Math.max(0, 1 - gap * (n - 1));
  const total = weights.reduce((a, b) => a + b, 0);
  const out = [];
  let hi = 1;
  for (const w of weights) {
    const lo = Math.max(0, hi - (room * w) / total);
    out.push([round(lo), round(hi)]);
    hi = lo - gap;
  }
  out[n - 1][0] = 0;
  return out;
}

function round(x) {
  return Math.round(x * 10000) / 10000;
}

/** What a row's axis is called on the chart: the panel's name and its unit. */
export function axisLabel(row, a) {
  const parts = [];
  if (row.label && a.side === 'left') parts.push(row.label);
  if (a.unit) parts.push(a.unit);
  return parts.join(' · ');
}

/** Whether the chart needs its axes named: more than one axis (the header has a lone unit). */
export function namesAxes(plan) {
  return plan.rows.length > 1 || plan.rows.some((r) => r.axes.length > 1);
}

/** Hover text format (d3) of a series: its declared decimals, else up to 4. */
export function hoverFormat(s) {
  return Number.isInteger(s.decimals) ? `,.${s.decimals}f` : ',.4~f';
}

/** How a legend of `count` series is shown: none for one, chips for a few, a scrollable list past that. */
export const CHIPS_MAX = 8;
export function legendMode(count) {
  if (count <= 1) return 'none';
  return count <= CHIPS_MAX ? 'chips' : 'list';
}
