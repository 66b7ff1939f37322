// node --test: how a legend entry's name is cut (static/js/legend.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { nameParts } from '../../static/js/legend.js';

test('the last dotted part is kept whole, the rest may be cut', () => {
  assert.deepEqual(nameParts('cpu.usage_user.web1'), ['cpu.usage_user', '.web1']);
  assert.deepEqual(nameParts('http_requests_total.code-200.method-GET'), [
    'http_requests_total.code-200', '.method-GET',
  ]);
});

test('a name without a dot, or with a long last part, is one piece', () => {
  assert.deepEqual(nameParts('price'), ['price', '']);
  assert.deepEqual(nameParts('.hidden'), ['.hidden', '']);
  assert.deepEqual(nameParts('a.a_very_long_last_part_of_a_name'), ['a.a_very_long_last_part_of_a_name', '']);
});
