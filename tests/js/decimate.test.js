// node --test: min/max decimation of lines and merging of candles
// (static/js/decimate.js) (tests/test_page_modules.py runs it).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { decimate, decimateBars } from '../../static/js/decimate.js';

const range = (n) => Array.from({ length: n }, (_, i) => i);

test('few points are drawn as they are, NaN skipped, breaks kept', () => {
  const xs = [0, 1, 2, 3, 4];
  const ys = [5, NaN, null, 7, 8];
  assert.deepEqual(decimate(xs, ys, 10), { x: [0, 2, 3, 4], y: [5, null, 7, 8] });
});

test('many points keep each bucket\'s lowest and highest, in their order', () => {
  const xs = range(1000);
  const ys = xs.map((i) => Math.sin(i / 7) * 100);
  const { x, y } = decimate(xs, ys, 50);
  assert.ok(x.length <= 2 * 50 + 1, `${x.length} points for 50 buckets`);
  assert.deepEqual([...x].sort((a, b) => a - b), x); // original order
  assert.equal(Math.max(...y), Math.max(...ys));
  assert.equal(Math.min(...y), Math.min(...ys));
  x.forEach((xi, k) => assert.equal(y[k], ys[xi])); // only real points, never made up
});

test('a spike survives decimation', () => {
  const xs = range(10_000);
  const ys = xs.map(() => 1);
  ys[4321] = 1000;
  const { x, y } = decimate(xs, ys, 100);
  assert.ok(x.includes(4321));
  assert.equal(Math.max(...y), 1000);
});

test('a break survives decimation, so the line still breaks', () => {
  const xs = range(1000);
  const ys = xs.map((i) => (i === 500 ? null : i % 10));
  const { y } = decimate(xs, ys, 20);
  assert.equal(y.filter((v) => v === null).length, 1);
});

test('the newest value is always drawn: the live edge', () => {
  const xs = range(1000);
  const ys = xs.map((i) => (i % 2 ? 10 : -10));
  ys[999] = 3; // neither extreme of its bucket
  const { x, y } = decimate(xs, ys, 10);
  assert.equal(x[x.length - 1], 999);
  assert.equal(y[y.length - 1], 3);
});

test('a range limits the work to what is visible, one point beyond each end', () => {
  const xs = range(100);
  const ys = xs.map((i) => i);
  const { x } = decimate(xs, ys, 100, [40, 50]);
  assert.deepEqual(x, range(12).map((i) => 39 + i)); // 39 .. 50
});

test('equal xs do not divide by zero', () => {
  const xs = new Array(100).fill(5);
  const ys = range(100);
  const { x, y } = decimate(xs, ys, 10);
  assert.ok(x.every((v) => v === 5));
  assert.deepEqual([Math.min(...y), Math.max(...y)], [0, 99]);
});

function bar(open, high, low, close) {
  return { open, high, low, close };
}

test('up to one candle per slot, candles are drawn as they are', () => {
  const xs = [0, 10, 20];
  const bars = [bar(1, 2, 0, 1.5), NaN, bar(2, 3, 1, 2.5)];
  assert.deepEqual(decimateBars(xs, bars, 5), {
    x: [0, 20], open: [1, 2], high: [2, 3], low: [0, 1], close: [1.5, 2.5],
  });
});

test('past that, each slot becomes one candle holding the whole slot\'s move', () => {
  const xs = range(8);
  const bars = [
    bar(10, 11, 9, 10.5), bar(10.5, 14, 10, 13), bar(13, 13, 8, 9), bar(9, 10, 9, 9.5),
    bar(20, 21, 19, 20), bar(20, 22, 18, 21), bar(21, 21, 20, 20.5), bar(20.5, 25, 20, 24),
  ];
  const out = decimateBars(xs, bars, 2);
  // Two slots 3.5 wide: rows 0-3 and 4-7, each centred in its slot.
  assert.deepEqual(out.x, [1.75, 5.25]);
  assert.deepEqual(out.open, [10, 20]); // first open
  assert.deepEqual(out.high, [14, 25]); // max high
  assert.deepEqual(out.low, [8, 18]); // min low
  assert.deepEqual(out.close, [9.5, 24]); // last close
});

test('no candle spans a break; the candle after it takes the next slot', () => {
  const xs = range(8);
  const bars = range(8).map((i) => bar(i, i + 1, i - 1, i + 0.5));
  bars[1] = null; // a break inside the first slot
  const out = decimateBars(xs, bars, 2);
  // Slot 0 holds row 0 alone; rows 2-3 cannot share its x, so they take slot 1 with 4-7.
  assert.equal(out.x.length, 2);
  assert.deepEqual(out.open, [0, 2]);
  assert.deepEqual(out.close, [0.5, 7.5]);
  assert.ok(!out.x.some((x, k) => k > 0 && x === out.x[k - 1]), 'two candles at one x');
});
