// node --test: the page's data (static/js/state.js), fed messages as the
// connection hands them over, on a clock of the test's
// (tests/test_page_modules.py runs it).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { State, isBar, WINDOW_MS, OWN_CLOCK_MS, MAX_POINTS } from '../../static/js/state.js';

const NOW = 1_700_000_000_000;

function state(now = NOW) {
  return new State({ clock: () => now });
}

function points(feed, seqs, { ts = (s) => NOW - 1000 + s, values = (s) => ({ v: s }) } = {}) {
  return seqs.map((seq) => ({ feed, seq, ts: ts(seq), values: values(seq) }));
}

const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

test('points are held per feed in arrival order, one row each', () => {
  const s = state();
  s.hello({ epoch: 'e1', feeds: [{ name: 'A', series: [{ name: 'v', kind: 'line' }] }] });
  s.ingest(points('A', [1, 2, 3]));
  const a = s.feeds.get('A');
  assert.deepEqual(a.ts, [NOW - 999, NOW - 998, NOW - 997]);
  assert.deepEqual(a.values.get('v'), [1, 2, 3]);
  assert.equal(a.count, 3);
  assert.equal(a.lastSeq, 3);
  assert.equal(a.last.get('v'), 3);
  assert.equal(s.received, 3);
  assert.deepEqual([...s.feeds.keys()], ['A']);
});

test('a point already held is dropped and counted, not stored twice', () => {
  const s = state();
  s.hello({ epoch: 'e1', feeds: [] });
  s.ingest(points('A', [1, 2, 3]));
  s.ingest(points('A', [2, 3, 4]));
  assert.deepEqual(s.feeds.get('A').values.get('v'), [1, 2, 3, 4]);
  assert.equal(s.duplicates, 2);
  assert.equal(s.received, 4);
});

test('missed seqs leave a gap marker between the two points and are counted', () => {
  const s = state();
  s.hello({ epoch: 'e1', feeds: [] });
  s.ingest(points('A', [1, 2]));
  s.ingest(points('A', [6]));
  const a = s.feeds.get('A');
  assert.deepEqual(a.values.get('v'), [1, 2, null, 6]);
  assert.equal(a.ts[2], (a.ts[1] + a.ts[3]) / 2); // the line breaks exactly in the hole
  assert.equal(a.gaps, 1);
  assert.equal(a.missed, 3);
  assert.equal(a.count, 3); // a gap marker is not a point
});

test('a new epoch counts everything before its seq as missing', () => {
  const s = state();
  s.hello({ epoch: 'e1', feeds: [] });
  s.ingest(points('A', [1, 2, 3]));
  s.hello({ epoch: 'e2', feeds: [] });
  s.ingest(points('A', [5]));
  const a = s.feeds.get('A');
  assert.deepEqual(a.values.get('v'), [1, 2, 3, null, 5]);
  assert.equal(a.missed, 4);
  assert.equal(a.epoch, 'e2');
});

test('a point flagged gap breaks the line once, with nothing missing', () => {
  const s = state();
  s.hello({ epoch: 'e1', feeds: [] });
  s.ingest(points('A', [1]));
  s.ingest([{ ...points('A', [2])[0], gap: true }]);
  const a = s.feeds.get('A');
  assert.deepEqual(a.values.get('v'), [1, null, 2]);
  assert.equal(a.gaps, 1);
  assert.equal(a.missed, 0);
  // The first point of a feed has no line before it to break.
  s.ingest([{ ...points('B', [1])[0], gap: true }]);
  assert.deepEqual(s.feeds.get('B').values.get('v'), [1]);
});

test('a series first named later is NaN for the rows before it', () => {
  const s = state();
  s.hello({ epoch: 'e1', feeds: [] });
  s.ingest(points('A', [1]));
  s.ingest(points('A', [2], { values: () => ({ v: 2, w: 0.5 }) }));
  const a = s.feeds.get('A');
  assert.ok(Number.isNaN(a.values.get('w')[0]));
  assert.equal(a.values.get('w')[1], 0.5);
  assert.deepEqual(a.seriesNames(), ['v', 'w']);
  assert.ok(a.fractional.has('w') && !a.fractional.has('v'));
});

test('an ohlc series holds the bars themselves; a value of the wrong kind is not stored', () => {
  const s = state();
  s.hello({
    epoch: 'e1',
    feeds: [{ name: 'C', series: [{ name: 'bar', kind: 'ohlc' }, { name: 'vol', kind: 'line' }] }],
  });
  const bar = { open: 10, high: 12, low: 9, close: 11 };
  s.ingest([{ feed: 'C', seq: 1, ts: NOW, values: { bar, vol: 100 } }]);
  s.ingest([{ feed: 'C', seq: 2, ts: NOW + 1, values: { bar: 5, vol: { open: 1, high: 1, low: 1, close: 1 } } }]);
  const c = s.feeds.get('C');
  assert.equal(c.values.get('bar')[0], bar); // the parsed object, no copy
  assert.ok(Number.isNaN(c.values.get('bar')[1]));
  assert.ok(Number.isNaN(c.values.get('vol')[1]));
  assert.equal(c.last.get('bar'), 11); // a bar's close
  assert.equal(c.lastBar.get('bar'), bar);
  assert.equal(c.first('bar'), 10); // the first bar's open
  assert.equal(c.kind('bar'), 'ohlc');
});

test('isBar wants four finite numbers', () => {
  assert.ok(isBar({ open: 1, high: 2, low: 0, close: 1 }));
  assert.ok(!isBar({ open: 1, high: 2, low: 0 }));
  assert.ok(!isBar({ open: 1, high: Infinity, low: 0, close: 1 }));
  assert.ok(!isBar(null));
  assert.ok(!isBar(3));
});

test('first skips NaN and gap markers', () => {
  const s = state();
  s.hello({ epoch: 'e1', feeds: [] });
  s.ingest(points('A', [1], { values: () => ({ w: 1 }) }));
  s.ingest(points('A', [3], { values: () => ({ v: 7, w: 2 }) }));
  const a = s.feeds.get('A');
  assert.deepEqual(a.values.get('w'), [1, null, 2]);
  assert.equal(a.first('v'), 7);
  assert.equal(a.first('nothing'), null);
});

test('a live feed keeps the last five minutes, measured from its newest point', () => {
  const s = state();
  s.hello({ epoch: 'e1', feeds: [] });
  const old = NOW - WINDOW_MS - 10_000;
  s.ingest(points('A', [1, 2, 3], { ts: (seq) => (seq < 3 ? old + seq : NOW) }));
  const a = s.feeds.get('A');
  assert.deepEqual(a.ts, [NOW]);
  assert.equal(a.count, 1);
});

test('a feed on a clock of its own is bounded by count only', () => {
  const s = state();
  s.hello({ epoch: 'e1', feeds: [] });
  const past = NOW - OWN_CLOCK_MS - 1; // a replayed file with its own dates
  const day = 86_400_000;
  s.ingest(points('R', [1, 2, 3], { ts: (seq) => past - (3 - seq) * 365 * day }));
  assert.equal(s.feeds.get('R').count, 3);
});

test('past MAX_POINTS the oldest rows go, and a leading gap marker with them', () => {
  const s = state();
  s.hello({ epoch: 'e1', feeds: [] });
  s.ingest(points('A', range(1, MAX_POINTS)));
  s.ingest(points('A', [MAX_POINTS + 2])); // one missed: a gap marker, then the point
  const a = s.feeds.get('A');
  assert.equal(a.ts.length, MAX_POINTS);
  assert.equal(a.count, MAX_POINTS - 1);
  assert.equal(a.values.get('v')[0], 3);
  // The cap now falls on the gap marker: a break with nothing before it goes too.
  s.ingest(points('A', range(MAX_POINTS + 3, 2 * MAX_POINTS)));
  assert.equal(a.ts.length, MAX_POINTS - 1);
  assert.equal(a.values.get('v')[0], MAX_POINTS + 2);
  assert.equal(a.count, MAX_POINTS - 1);
});

test('resume gives the last seq of each feed of the current epoch', () => {
  const s = state();
  assert.equal(s.resume(), null);
  s.hello({ epoch: 'e1', feeds: [] });
  assert.equal(s.resume(), null);
  s.ingest(points('A', [1, 2]));
  s.ingest(points('B', [7]));
  assert.deepEqual(s.resume(), { epoch: 'e1', seqs: { A: 2, B: 7 } });
  s.hello({ epoch: 'e2', feeds: [] });
  assert.equal(s.resume(), null); // seqs of another epoch mean nothing to this server
});

test('hello, feeds and status messages describe feeds and bump versions', () => {
  const s = state();
  s.hello({ epoch: 'e1', feeds: [{ name: 'A', series: [{ name: 'v', kind: 'line' }] }] });
  assert.equal(s.metaVersion, 1);
  s.addFeeds([{ name: 'B', series: [{ name: 'x', kind: 'line' }] }]);
  assert.equal(s.metaVersion, 2);
  assert.deepEqual([...s.feeds.keys()], ['A', 'B']);
  assert.deepEqual(s.feeds.get('B').seriesNames(), ['x']);
  assert.equal(s.feeds.get('B').index, 1);
  const before = s.feeds.get('A').version;
  s.setStatus({ A: 'restarting' });
  assert.equal(s.feeds.get('A').status, 'restarting');
  assert.equal(s.feeds.get('A').version, before + 1);
});
