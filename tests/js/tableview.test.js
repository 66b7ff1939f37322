// node --test: the table's sort and filter (static/js/tableview.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { matchesFilter, nextSort, orderRows, sameOrder } from '../../static/js/tableview.js';

const rows = [
  { key: 'ACME', values: { feed: 'ACME', last: 101.5, percent: 1.2 } },
  { key: 'host', values: { feed: 'host', last: 12, percent: null } },
  { key: 'GLOBX', values: { feed: 'GLOBX', last: 88, percent: -0.4 } },
  { key: 'wave', values: { feed: 'wave', last: 101.5, percent: null } },
];

test('a header press sorts ascending, then descending, then the own order', () => {
  let sort = nextSort(null, 'last');
  assert.deepEqual(sort, { column: 'last', direction: 'ascending' });
  sort = nextSort(sort, 'last');
  assert.deepEqual(sort, { column: 'last', direction: 'descending' });
  assert.equal(nextSort(sort, 'last'), null);
  assert.deepEqual(nextSort(sort, 'feed'), { column: 'feed', direction: 'ascending' });
});

test('numbers sort by value, ties keep the feeds order', () => {
  assert.deepEqual(orderRows(rows, { column: 'last', direction: 'ascending' }),
    ['host', 'GLOBX', 'ACME', 'wave']);
  assert.deepEqual(orderRows(rows, { column: 'last', direction: 'descending' }),
    ['ACME', 'wave', 'GLOBX', 'host']);
  assert.deepEqual(orderRows(rows, null), ['ACME', 'host', 'GLOBX', 'wave']);
});

test('rows with no value go last in both directions', () => {
  assert.deepEqual(orderRows(rows, { column: 'percent', direction: 'ascending' }),
    ['GLOBX', 'ACME', 'host', 'wave']);
  assert.deepEqual(orderRows(rows, { column: 'percent', direction: 'descending' }),
    ['ACME', 'GLOBX', 'host', 'wave']);
});

test('text sorts ignoring case, numbers inside names by value', () => {
  const named = ['feed10', 'Feed2', 'alpha'].map((k) => ({ key: k, values: { feed: k } }));
  assert.deepEqual(orderRows(named, { column: 'feed', direction: 'ascending' }),
    ['alpha', 'Feed2', 'feed10']);
});

test('the filter keeps rows holding every word, ignoring case', () => {
  assert.ok(matchesFilter('host Host cpu mem', 'CPU'));
  assert.ok(matchesFilter('host Host cpu mem', ' host  mem '));
  assert.ok(!matchesFilter('host Host cpu mem', 'host price'));
  assert.ok(matchesFilter('anything', ''));
});

test('sameOrder tells whether rows must move', () => {
  assert.ok(sameOrder(['a', 'b'], ['a', 'b']));
  assert.ok(!sameOrder(['a', 'b'], ['b', 'a']));
  assert.ok(!sameOrder(['a'], ['a', 'b']));
});
