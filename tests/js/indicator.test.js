// node --test: the connection indicator's words (static/js/indicator.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { backplaneUpFrom, indicator } from '../../static/js/indicator.js';

test('live with the backplane up says live, as before', () => {
  assert.deepEqual(indicator('live', true), {
    state: 'live', backplane: '', text: 'live', detail: '', title: '',
  });
});

test('live with the backplane down says so, and that points are paused', () => {
  const shown = indicator('live', false);
  assert.equal(shown.state, 'live');
  assert.equal(shown.backplane, 'down');
  assert.equal(shown.text + shown.detail, 'live · backplane down, points paused');
  assert.match(shown.title, /Redis/);
});

test('a link not live says only that: the backplane is not its news', () => {
  for (const status of ['connecting', 'reconnecting', 'offline', 'outdated']) {
    assert.deepEqual(indicator(status, false), {
      state: status, backplane: '', text: status, detail: '', title: '',
    });
  }
});

test('the backplane state comes from a hello or a backplane message', () => {
  assert.equal(backplaneUpFrom({ type: 'hello', backplane_up: false }), false);
  assert.equal(backplaneUpFrom({ type: 'hello', backplane_up: true }), true);
  assert.equal(backplaneUpFrom({ type: 'hello' }), true); // an older server: no backplane
  assert.equal(backplaneUpFrom({ type: 'backplane', up: false }), false);
  assert.equal(backplaneUpFrom({ type: 'backplane', up: true }), true);
  assert.equal(backplaneUpFrom({ type: 'batch', points: [] }), undefined);
});

test('live over Server-Sent Events says so; over a WebSocket nothing is added', () => {
  const sse = indicator('live', true, 'sse');
  assert.equal(sse.text, 'live · SSE');
  assert.match(sse.title, /Server-Sent Events/);
  assert.equal(indicator('live', true, 'ws').text, 'live');
  assert.equal(indicator('live', false, 'sse').text, 'live · SSE · backplane down');
  assert.equal(indicator('reconnecting', true, 'sse').text, 'reconnecting');
});
