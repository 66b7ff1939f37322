// node --test: the page's pure modules, run without a browser (tests/test_page_modules.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { PROTOCOL, protocolAction } from '../../static/js/version.js';

test('the page accepts its own protocol and a hello that names none', () => {
  assert.equal(protocolAction(PROTOCOL, null), 'ok');
  assert.equal(protocolAction(undefined, null), 'ok');
});

test('another protocol reloads once, then stops', () => {
  assert.equal(protocolAction(PROTOCOL + 1, null), 'reload');
  assert.equal(protocolAction(PROTOCOL + 1, String(PROTOCOL + 1)), 'stop');
  assert.equal(protocolAction(PROTOCOL + 2, String(PROTOCOL + 1)), 'reload');
});
