// node --test: static/js/urlstate.js (tests/test_page_modules.py runs it).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { parseView, writeView } from '../../static/js/urlstate.js';

test('an empty query is the default view', () => {
  assert.deepEqual(parseView(''), { window: '5m', feeds: null, series: null, paused: false, ignored: [] });
});

test('window, picks and pause are read back as written', () => {
  const view = { window: '1h', feeds: ['ACME', 'host'], series: ['price', 'cpu %'], paused: true };
  const search = writeView('', view);
  assert.equal(search, '?window=1h&feeds=ACME,host&series=price,cpu+%25&paused=1');
  const back = parseView(search);
  assert.deepEqual({ ...back, ignored: undefined }, { ...view, ignored: undefined });
});

test('keys of other parts (theme, candles) are kept, in place', () => {
  const search = writeView('?theme=light&window=1m&candles=5s', { window: '15m', feeds: null, series: null, paused: false });
  assert.equal(search, '?theme=light&window=15m&candles=5s');
  const cleared = writeView(search, { window: '5m', feeds: null, series: null, paused: false });
  assert.equal(cleared, '?theme=light&candles=5s');
});

test('a window the page cannot show falls back to 5m and says so', () => {
  const view = parseView('?window=7m&paused=yes');
  assert.equal(view.window, '5m');
  assert.equal(view.paused, false);
  assert.deepEqual(view.ignored, ['window=7m', 'paused=yes']);
});

test('picks are trimmed and deduplicated; empty ones mean none given', () => {
  assert.deepEqual(parseView('?feeds=A,,B,A').feeds, ['A', 'B']);
  assert.deepEqual(parseView('?feeds=').feeds, []);
  assert.equal(parseView('?paused=0').paused, false);
});
