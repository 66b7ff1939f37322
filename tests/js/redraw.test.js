// node --test: when a chart is redrawn (static/js/redraw.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  MAX_WAIT_MS, chartDue, drawOrder, drawnPicture, extentOf, msPerPixel, nextWake,
} from '../../static/js/redraw.js';

const T0 = 1_700_000_000_000;

/** A feed of `seconds` of points at `hz`, price walking by `step` per point. */
function feed({ seconds = 300, hz = 10, start = 100, step = 0 } = {}) {
  const ts = [];
  const price = [];
  for (let i = 0; i < seconds * hz; i += 1) {
    ts.push(T0 + (i * 1000) / hz);
    price.push(start + step * i);
  }
  return { ts, values: new Map([['price', price]]), version: 1 };
}

function push(f, dtMs, value) {
  f.ts.push(f.ts[f.ts.length - 1] + dtMs);
  f.values.get('price').push(value);
  f.version += 1;
}

/** A chart of `f` drawn at wall time `now`, `width` px wide. */
function drawnChart(f, now, width = 300, range = null) {
  return { forced: false, drawn: drawnPicture(f, ['price'], range, now), plotWidthPx: width, range };
}

test('a 5-minute window on a 300 px plot moves a pixel a second', () => {
  assert.equal(msPerPixel(300_000, 300), 1000);
  assert.equal(msPerPixel(0, 300), 0);
  assert.equal(msPerPixel(300_000, 0), 0);
});

test('a never drawn or forced chart is due at once, as forced', () => {
  const f = feed();
  assert.deepEqual(chartDue({ forced: false, drawn: null, plotWidthPx: 300 }, f, 0),
    { due: true, forced: true, waitMs: null });
  const chart = drawnChart(f, 0);
  chart.forced = true;
  assert.equal(chartDue(chart, f, 0).forced, true);
});

test('unchanged data is never redrawn', () => {
  const f = feed();
  const chart = drawnChart(f, 0);
  assert.deepEqual(chartDue(chart, f, 60_000), { due: false, forced: false, waitMs: null });
});

test('points inside the drawn range and less than a pixel of time wait', () => {
  const f = feed({ step: 0.01 });             // prices 100 .. 129.99
  const chart = drawnChart(f, 0);             // 1000 ms per pixel
  push(f, 100, 110);                           // inside the y extent, 0.1 px later
  const d = chartDue(chart, f, 100);
  assert.equal(d.due, false);
  assert.equal(d.waitMs, 900);                 // drawn a pixel's time after the last draw
});

test('the live edge moving a pixel makes the chart due', () => {
  const f = feed({ step: 0.01 });
  const chart = drawnChart(f, 0);
  for (let i = 0; i < 11; i += 1) push(f, 100, 110); // 1.1 s: over a pixel (~1003 ms)
  assert.deepEqual(chartDue(chart, f, 10), { due: true, forced: false, waitMs: null });
});

test('a wider plot or a shorter window moves a pixel sooner', () => {
  const f = feed({ step: 0.01 });
  const wide = drawnChart(f, 0, 1200);        // 250 ms per pixel
  push(f, 100, 110);
  push(f, 100, 110);
  assert.equal(chartDue(wide, f, 0).due, false);
  push(f, 100, 110);
  assert.equal(chartDue(wide, f, 0).due, true);
  const short = feed({ seconds: 10, step: 0.01 }); // 10 s on 300 px: 33 ms per pixel
  const chart = drawnChart(short, 0);
  push(short, 100, 100.5);
  assert.equal(chartDue(chart, short, 0).due, true);
});

test('a new point beyond the drawn y extent rescales the axis: due at once', () => {
  const f = feed({ step: 0.01 });
  const chart = drawnChart(f, 0);
  push(f, 100, 500);
  assert.deepEqual(chartDue(chart, f, 1), { due: true, forced: false, waitMs: null });
  const g = feed({ step: 0.01 });
  const chartG = drawnChart(g, 0);
  push(g, 100, 50);                            // below the lowest too
  assert.equal(chartDue(chartG, g, 1).due, true);
});

test('bars count by their low and high; gaps and missing values do not', () => {
  assert.deepEqual(extentOf([null, NaN, 3, { open: 2, high: 9, low: 1, close: 4 }]), [1, 9]);
  assert.deepEqual(extentOf([null, NaN]), [Infinity, -Infinity]);
});

test('undrawn points are drawn within a second even on a long window', () => {
  const f = feed({ seconds: 3600, hz: 1, step: 0.01 }); // 1 h on 300 px: 12 s per pixel
  const chart = drawnChart(f, 0);
  push(f, 1000, 110);
  const early = chartDue(chart, f, 400);
  assert.equal(early.due, false);
  assert.equal(early.waitMs, MAX_WAIT_MS - 400);
  assert.equal(chartDue(chart, f, MAX_WAIT_MS).due, true);
});

test('a version bump with no new point (a status change) draws nothing', () => {
  const f = feed({ step: 0.01 });
  const chart = drawnChart(f, 0);
  f.version += 1;
  assert.deepEqual(chartDue(chart, f, 5000), { due: false, forced: false, waitMs: null });
});

test('zoomed back in time, new points past the view do not move the picture', () => {
  const f = feed({ step: 0.01 });
  const range = [T0 + 10_000, T0 + 70_000];   // 60 s on 300 px: 200 ms per pixel
  const chart = drawnChart(f, 0, 300, range);
  for (let i = 0; i < 50; i += 1) push(f, 100, 110);
  const d = chartDue(chart, f, 10);
  assert.equal(d.due, false);
});

test('forced charts are drawn all together, the others oldest first', () => {
  const due = { due: true, forced: false, waitMs: null };
  const forced = { due: true, forced: true, waitMs: null };
  const idle = { due: false, forced: false, waitMs: 300 };
  const order = drawOrder([
    { key: 'a', due, drawnAt: 30 },
    { key: 'b', due: forced, drawnAt: 10 },
    { key: 'c', due, drawnAt: 5 },
    { key: 'd', due: idle, drawnAt: 0 },
    { key: 'e', due: forced, drawnAt: 50 },
  ]);
  assert.deepEqual(order, { forced: ['b', 'e'], budgeted: ['c', 'a'] });
});

test('the loop wakes for the soonest waiting chart, or not at all', () => {
  assert.equal(nextWake([{ waitMs: null }, { waitMs: 300 }, { waitMs: 120 }]), 120);
  assert.equal(nextWake([{ waitMs: null }]), null);
  assert.equal(nextWake([]), null);
});
