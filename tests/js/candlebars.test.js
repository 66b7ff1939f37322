// node --test: candle bars kept as the server sends them, and the `candles` URL key.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  BarBook, MAX_BARS, barsThatFit, parseCandlesParam, serializeCandlesParam,
} from '../../static/js/candlebars.js';

const bar = (t, close, volume = 1) => ({ t, open: 10, high: Math.max(10, close), low: Math.min(10, close), close, volume });
const msg = (bars, reset = false, interval = '5s') => ({ type: 'candles', feed: 'A', series: 'price', interval, reset, bars });

test('a reset replaces the bars; a delta replaces the last bar in place and adds new ones', () => {
  const book = new BarBook('5s');
  assert.equal(book.apply(msg([bar(0, 11), bar(5000, 12)], true)), true);
  book.apply(msg([bar(5000, 13)]));
  assert.deepEqual(book.bars.map((b) => [b.t, b.close]), [[0, 11], [5000, 13]]);
  book.apply(msg([bar(5000, 14), bar(10000, 9)]));
  assert.deepEqual(book.bars.map((b) => [b.t, b.close]), [[0, 11], [5000, 14], [10000, 9]]);
  book.apply(msg([bar(0, 1)], true));
  assert.deepEqual(book.bars.map((b) => b.t), [0]);
  assert.equal(book.version, 4);
});

test('deltas before the first reset, and messages of another interval, are ignored', () => {
  const book = new BarBook('5s');
  assert.equal(book.apply(msg([bar(0, 11)])), false);
  assert.equal(book.apply(msg([bar(0, 11)], true, '1s')), false);
  assert.deepEqual(book.bars, []);
  assert.equal(book.version, 0);
});

test('the book holds at most MAX_BARS, the newest', () => {
  const book = new BarBook('1s');
  book.apply(msg(Array.from({ length: MAX_BARS + 3 }, (_, i) => bar(i * 1000, 10)), true, '1s'));
  assert.equal(book.bars.length, MAX_BARS);
  assert.equal(book.bars[0].t, 3000);
});

test('columns give the newest bars, with up/down and volume (null when the feed has none)', () => {
  const book = new BarBook('5s');
  book.apply(msg([bar(0, 11, 5), bar(5000, 9, 7), bar(10000, 12, 1)], true));
  const cols = book.columns(2);
  assert.deepEqual(cols.t, [5000, 10000]);
  assert.deepEqual(cols.up, [false, true]);
  assert.deepEqual(cols.volume, [7, 1]);
  const noVolume = new BarBook('5s');
  noVolume.apply(msg([bar(0, 11, null)], true));
  assert.equal(noVolume.columns(10).volume, null);
});

test('the URL key: per feed, or a bare interval for all; bad entries are reported and left out', () => {
  const parsed = parseCandlesParam('ACME:5s, GLOBX:1m,WAYNE:2m,:1s,x');
  assert.deepEqual([...parsed.feeds], [['ACME', '5s'], ['GLOBX', '1m']]);
  assert.equal(parsed.all, null);
  assert.equal(parsed.errors.length, 3);
  assert.match(parsed.errors[0], /"WAYNE:2m" has no interval of 1s, 5s, 1m/);
  assert.equal(parseCandlesParam('1m').all, '1m');
  assert.deepEqual(parseCandlesParam(null).errors, []);
  assert.equal(serializeCandlesParam(new Map([['ACME', '5s'], ['GLOBX', '1m']])), 'ACME:5s,GLOBX:1m');
  assert.equal(serializeCandlesParam(new Map()), null);
});

test('bars that fit a plot: about 6 px each, within bounds', () => {
  assert.equal(barsThatFit(600), 100);
  assert.equal(barsThatFit(10), 20);
  assert.equal(barsThatFit(1e6), MAX_BARS);
});
