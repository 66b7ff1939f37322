// node --test: the page's choice of transport and its resume id (static/js/transport.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  MAX_ID_LENGTH, TransportChoice, WS_FAILURES_BEFORE_SSE, askCandles, eventId, sseUrl, transportsFrom,
} from '../../static/js/transport.js';

test('the transports come from the page, both when it does not say', () => {
  assert.deepEqual(transportsFrom('ws,sse'), ['ws', 'sse']);
  assert.deepEqual(transportsFrom('sse'), ['sse']);
  assert.deepEqual(transportsFrom(' ws '), ['ws']);
  for (const unsaid of [undefined, null, '', '{{TRANSPORTS}}', 'carrier-pigeon']) {
    assert.deepEqual(transportsFrom(unsaid), ['ws', 'sse']);
  }
});

test('the page starts on WebSockets, or on SSE when the server serves no WebSockets', () => {
  assert.equal(new TransportChoice(['ws', 'sse']).current, 'ws');
  assert.equal(new TransportChoice(['ws']).current, 'ws');
  assert.equal(new TransportChoice(['sse']).current, 'sse');
});

test('WebSockets failing before a hello, a few in a row, make the page check for SSE', () => {
  const choice = new TransportChoice(['ws', 'sse']);
  for (let i = 1; i < WS_FAILURES_BEFORE_SSE; i += 1) {
    choice.wsClosed(false);
    assert.equal(choice.shouldProbe(), false, `after ${i}`);
  }
  choice.wsClosed(false);
  assert.equal(choice.shouldProbe(), true);
  choice.answered(); // the server answers HTTP: one more WebSocket decides
  assert.equal(choice.shouldProbe(), false);
  assert.equal(choice.current, 'ws');
  choice.wsClosed(false);
  assert.equal(choice.current, 'sse');
  assert.equal(choice.shouldProbe(), false); // on SSE for good
});

test('a server back from a restart takes the deciding WebSocket: the page stays on ws', () => {
  const choice = new TransportChoice(['ws', 'sse']);
  for (let i = 0; i < WS_FAILURES_BEFORE_SSE; i += 1) choice.wsClosed(false);
  choice.answered();
  choice.wsClosed(true);
  assert.equal(choice.current, 'ws');
  assert.equal(choice.shouldProbe(), false);
});

test('a WebSocket that brought a hello starts the count again', () => {
  const choice = new TransportChoice(['ws', 'sse']);
  for (let i = 0; i < WS_FAILURES_BEFORE_SSE - 1; i += 1) choice.wsClosed(false);
  choice.wsClosed(true); // a server restart: live, then lost
  choice.wsClosed(false);
  assert.equal(choice.shouldProbe(), false);
});

test('with SSE turned off the page never leaves WebSockets', () => {
  const choice = new TransportChoice(['ws']);
  for (let i = 0; i < 10; i += 1) choice.wsClosed(false);
  assert.equal(choice.shouldProbe(), false);
});

test('the resume id is the one the server sends (dashboard/sse.py encode_id)', () => {
  // tests/unit/test_sse.py: encode_id("5f1c2a9e0b7d", {"ACME": 1842, "GLOBX": 35})
  const resume = { epoch: '5f1c2a9e0b7d', seqs: { ACME: 1842, GLOBX: 35 } };
  assert.equal(eventId(resume), '1/5f1c2a9e0b7d/ACME:1f6,GLOBX:z');
  assert.equal(eventId(null), null);
  assert.equal(eventId({ epoch: 'a/b', seqs: {} }), '1/a%2Fb/');
  assert.equal(eventId({ epoch: 'e', seqs: { x: 2 ** 53 - 1 } }), '1/e/x:2gosa7pa2gv');
});

test('an id too long for a header keeps only the epoch, as the server does', () => {
  const seqs = {};
  for (let i = 0; i < 400; i += 1) seqs[`feed-${String(i).padStart(4, '0')}`] = 1e9 + i;
  assert.ok(Object.keys(seqs).join().length > MAX_ID_LENGTH / 2);
  assert.equal(eventId({ epoch: 'e', seqs }), '1/e/');
});

test('a new stream resumes through the query, a first one asks for everything', () => {
  assert.equal(sseUrl(null), '/sse');
  assert.equal(sseUrl({ epoch: 'e', seqs: { A: 10 } }), '/sse?last_event_id=1%2Fe%2FA%3Aa');
});

test('candles asked over SSE go in the stream URL; only a change asks for a new stream', () => {
  const candles = new Map();
  assert.equal(askCandles(candles, { type: 'candles', feed: 'ACME', series: 'price', interval: '1s' }), true);
  assert.equal(askCandles(candles, { type: 'candles', feed: 'ACME', series: 'price', interval: '1s' }), false);
  assert.equal(askCandles(candles, { type: 'candles', feed: 'GLOBX', series: 'price', interval: '5s' }), true);
  assert.equal(sseUrl(null, candles), '/sse?candles=ACME%3Aprice%3A1s%2CGLOBX%3Aprice%3A5s');
  assert.equal(askCandles(candles, { type: 'candles', feed: 'ACME', series: 'price', interval: null }), true);
  assert.equal(askCandles(candles, { type: 'candles', feed: 'ACME', series: 'price', interval: null }), false);
  assert.equal(sseUrl({ epoch: 'e', seqs: { A: 1 } }, candles),
    '/sse?last_event_id=1%2Fe%2FA%3A1&candles=GLOBX%3Aprice%3A5s');
});
