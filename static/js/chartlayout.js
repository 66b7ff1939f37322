// A panel's Plotly layout from its axis plan (axes.js): rows stacked on one
// shared time axis, a right-hand y axis where a row holds two units, each axis
// named above its row when there is more than one. Builds plain objects only
// (no DOM, no Plotly calls), so it is tested under node.

import { axisLabel, namesAxes, rowDomains } from './axes.js';

// The dark theme's colours, for a caller that passes none (theme.js gives the page's).
export const DEFAULT_COLORS = { ink: '#8b95a7', grid: '#222a37', hover: '#131923', text: '#e6e9ef' };
const MAX_TICKS = 5;
const DAY_MS = 24 * 60 * 60 * 1000;
// Fixed margins: automargin would shift the plot sideways as tick labels change width.
const MARGIN = { l: 60, r: 12, t: 6, b: 22 };
const RIGHT_AXIS_MARGIN = 56;
const LABEL_ROOM = 16;   // px above a row for its axis names
const ROW_GAP_PX = 26;   // px between two rows: a name and some air
// Plotly leaves a gap of BOX_GAP of the slot between candles.
export const BOX_GAP = 0.25;
/** Past this many drawn lines one hover box lists them all instead of a label per line. */
const UNIFIED_HOVER_AFTER = 6;

/** The plot area's margins for a plan (the right one widens for a second axis). */
export function margins(plan) {
  const right = plan.rows.some((r) => r.axes.length > 1);
  return {
    ...MARGIN,
    r: right ? RIGHT_AXIS_MARGIN : MARGIN.r,
    t: namesAxes(plan) ? LABEL_ROOM + 2 : MARGIN.t,
  };
}

/** Plotly's layout key for an axis id: 'y' -> 'yaxis', 'y3' -> 'yaxis3'. */
export function layoutKey(id) {
  return `yaxis${id.slice(1)}`;
}

// A declared range in the axis' own terms: Plotly takes a log axis' range in
// powers of ten; a null end follows the data.
function rangeOf(a) {
  if (!a.range) return {};
  const toAxis = (v) => (v === null ? null : a.log ? Math.log10(v) : v);
  const [lo, hi] = a.range;
  // Plotly autoranges an axis unless told which ends are fixed.
  const autorange = lo === null ? 'min' : hi === null ? 'max' : false;
  return { range: a.range.map(toAxis), autorange };
}

function yAxis(a, row, domain, hasData, rowCount, grid) {
  return {
    visible: hasData,
    type: a.log ? 'log' : 'linear',
    // One grid per row: the right axis' own grid would cross the left one's.
    gridcolor: a.side === 'left' ? grid : 'rgba(0,0,0,0)',
    zeroline: false,
    tickfont: { size: 10 },
    anchor: 'x',
    ...(rowCount > 1 && { nticks: row.candles ? 6 : 4 }),
    ...(a.side === 'right'
      ? { overlaying: row.axes[0].id, side: 'right' }
      : { domain }),
    ...rangeOf(a),
  };
}

function waitingNote(ink) {
  // An empty date axis would show a made-up year around 1970-2000: say what is true instead.
  return {
    text: 'waiting for data', showarrow: false, xref: 'paper', yref: 'paper',
    x: 0.5, y: 0.5, font: { size: 12, color: ink },
  };
}

function axisNames(plan, domains, ink) {
  const notes = [];
  plan.rows.forEach((row, i) => {
    for (const a of row.axes) {
      const text = axisLabel(row, a);
      if (!text) continue;
      const left = a.side === 'left';
      notes.push({
        text, showarrow: false, xref: 'paper', yref: 'paper',
        x: left ? 0 : 1, xanchor: left ? 'left' : 'right',
        y: domains[i][1], yanchor: 'bottom', yshift: 1,
        font: { size: 10, color: ink },
      });
    }
  });
  return notes;
}

function timeAxis({ hasData, spanMs, range, anchor, grid }) {
  const zoomed = Boolean(range);
  return {
    visible: hasData,
    type: 'date',
    // The view's window at the live edge, or the user's zoom (view.js).
    ...(range ? { range, autorange: false } : { autorange: true }),
    gridcolor: grid,
    linecolor: grid,
    // A live window is minutes long: the clock is enough. Longer spans (a
    // file replayed on its own dates) get Plotly's own date ticks.
    tickformat: spanMs > DAY_MS ? '' : '%H:%M:%S',
    // In the first seconds Plotly would tick every 200-500 ms and print the
    // same second twice: allow one tick per second of data (nticks is only an
    // upper bound; a pinned dtick would ask an empty axis for millions).
    nticks: zoomed ? MAX_TICKS : Math.max(2, Math.min(MAX_TICKS, Math.floor(spanMs / 1000) + 1)),
    hoverformat: spanMs > DAY_MS ? '%Y-%m-%d %H:%M' : '%H:%M:%S.%L',
    tickfont: { size: 10 },
    // Plotly adds a range slider under candles by default: it would take most of the panel.
    rangeslider: { visible: false },
    // The time axis goes under the bottom row.
    anchor,
  };
}

/**
 * The layout for a panel: `plan` from planAxes, `height` the chart's CSS px,
 * `traceCount` the lines drawn, `spanMs` the data's time span, `range` the
 * time axis' [from, to] in ms (null: all the data), `color` the feed's,
 * `colors` the theme's ({ink, grid, hover, text}).
 */
export function plotLayout({
  plan, height, hasData, spanMs, range = null, traceCount, color, colors = DEFAULT_COLORS, uirevision,
}) {
  const { ink, grid, hover, text } = { ...DEFAULT_COLORS, ...colors };
  const margin = margins(plan);
  const plotHeight = Math.max(40, height - margin.t - margin.b);
  const gap = plan.rows.length > 1 ? Math.min(0.2, (ROW_GAP_PX + LABEL_ROOM) / plotHeight) : 0;
  const domains = rowDomains(plan.rows.map((r) => r.weight), gap);
  const layout = {
    annotations: hasData ? (namesAxes(plan) ? axisNames(plan, domains, ink) : []) : [waitingNote(ink)],
    uirevision,   // keeps the user's zoom and pan across redraws
    margin,
    paper_bgcolor: 'rgba(0,0,0,0)',
    plot_bgcolor: 'rgba(0,0,0,0)',
    font: { family: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif', size: 10, color: ink },
    // The legend is the panel's own (legend.js), outside the plot.
    showlegend: false,
    hovermode: traceCount > UNIFIED_HOVER_AFTER ? 'x unified' : 'x',
    boxgap: BOX_GAP,
    hoverlabel: { bgcolor: hover, bordercolor: color, font: { color: text, size: 11 } },
    xaxis: timeAxis({ hasData, spanMs, range, anchor: plan.rows.at(-1)?.axes[0].id ?? 'y', grid }),
  };
  plan.rows.forEach((row, i) => {
    for (const a of row.axes) layout[layoutKey(a.id)] = yAxis(a, row, domains[i], hasData, plan.rows.length, grid);
  });
  if (!plan.rows.length) layout.yaxis = { visible: false };
  return layout;
}
