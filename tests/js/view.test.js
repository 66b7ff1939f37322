// node --test: static/js/view.js (tests/test_page_modules.py runs it).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { View, columnsOf, needsServerHistory } from '../../static/js/view.js';

// The page's clock near the tests' timestamps: their feeds are live, not on a clock of their own.
const NEAR = () => 100_000;
const feed = (name, ts, ys) => ({ name, ts, values: new Map([['v', ys]]) });

test('attached, a chart follows the live edge over the window', () => {
  const view = new View({ window: '1m', clock: () => 90_000 });
  assert.deepEqual(view.xRange(feed('A', [1000, 70_000, 90_000], [1, 2, 3])), [30_000, 90_000]);
  // Shorter than the window: from the oldest point, so the chart is filled.
  assert.deepEqual(view.xRange(feed('A', [50_000, 90_000], [1, 2])), [50_000, 90_000]);
  view.setWindow('all');
  assert.equal(view.xRange(feed('A', [1000, 90_000], [1, 2])), null);
});

test('a feed on a clock of its own (a file on its own dates) is shown whole', () => {
  const now = Date.UTC(2026, 10, 29);
  const view = new View({ window: '5m', clock: () => now });
  const years = feed('F', [Date.UTC(2000, 0, 1), Date.UTC(2010, 0, 1)], [1, 2]);
  assert.equal(view.xRange(years), null);
  const live = feed('L', [now - 600_000, now - 1000], [1, 2]);
  assert.deepEqual(view.xRange(live), [now - 1000 - 300_000, now - 1000]);
});

test('a zoom detaches: the range stays put as points arrive; Live returns', () => {
  const view = new View({ clock: NEAR, window: '5m' });
  const a = feed('A', [1000, 2000], [1, 2]);
  const before = view.revision('A');
  view.zoomed('A', [1200, 1800]);
  a.ts.push(3000, 4000);
  assert.deepEqual(view.xRange(a), [1200, 1800]);
  view.live();
  assert.deepEqual(view.xRange(a), [1000, 4000]);
  assert.notEqual(view.revision('A'), before); // Plotly drops the user's zoom
  view.zoomed('A', [1, 2]);
  view.zoomed('A', null); // a double-click (autorange) is Live too
  assert.deepEqual(view.xRange(a), [1000, 4000]);
});

test('pause counts what arrives and holds drawn charts; resume releases them', () => {
  const view = new View({ clock: NEAR });
  view.pause(100);
  assert.equal(view.newSince(137), 37);
  assert.equal(view.holds(true), true);
  assert.equal(view.holds(false), false); // a chart never drawn still gets its first picture
  view.resume();
  assert.equal(view.newSince(200), 0);
  assert.equal(view.holds(true), false);
});

test('a page loaded paused counts new points from its first picture, not its snapshot', () => {
  const view = new View({ clock: NEAR });
  view.restore({ window: '15m', feeds: null, series: null, paused: true });
  assert.equal(view.newSince(24_000), 0);
  view.settle(24_000);
  view.settle(24_500); // once only
  assert.equal(view.newSince(24_010), 10);
  assert.equal(view.window, '15m');
});

test('only windows longer than the page holds ask the server', () => {
  assert.deepEqual(['1m', '5m', '15m', '1h', 'all'].map(needsServerHistory), [false, false, true, true, true]);
});

test('reduced history joins before the first point held, breaks kept', () => {
  const cols = columnsOf([
    { ts: 10, values: { v: 1 } },
    { ts: 20, values: { w: 5 } },
    { ts: 30, values: { v: 2 }, gap: true },
    { ts: 40, values: { v: 3 } },
  ]);
  assert.deepEqual(cols.ts, [10, 20, 30, 30, 40]);
  assert.deepEqual(cols.values.get('v'), [1, NaN, null, 2, 3]);
  const view = new View({ clock: NEAR, window: '1h' });
  view.backfill.set('A', cols);
  const [xs, ys] = view.column(feed('A', [35, 50], [9, 10]), 'v');
  assert.deepEqual(xs, [10, 20, 30, 30, 35, 50]);
  assert.deepEqual(ys, [1, NaN, null, 2, 9, 10]);
  view.setWindow('15m');
  assert.equal(view.backfill.size, 0); // reduced for another span: fetched again
});

test('picks: feeds and series', () => {
  const view = new View({ clock: NEAR, feeds: ['A'], series: ['price'] });
  assert.equal(view.showsFeed('A'), true);
  assert.equal(view.showsFeed('B'), false);
  assert.deepEqual(view.pickSeries([{ name: 'price' }, { name: 'volume' }]), [{ name: 'price' }]);
});
