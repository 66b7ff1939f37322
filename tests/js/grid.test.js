// node --test: panel sizes from the number of feeds and the viewport (static/js/grid.js),
// and what a panel says about its feed's state (static/js/panelstate.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { gridPlan, chartHeightFor, MIN_COLUMN } from '../../static/js/grid.js';
import { panelState } from '../../static/js/panelstate.js';

test('one feed fills the width, on a laptop and a phone', () => {
  assert.equal(gridPlan({ count: 1, width: 1376, height: 900 }).columns, 1);
  assert.equal(gridPlan({ count: 1, width: 366, height: 844 }).columns, 1);
  assert.ok(gridPlan({ count: 1, width: 1376, height: 900 }).chartHeight >= 400);
});

test('eight tickers: four columns and two rows on a laptop, one column on a phone', () => {
  assert.deepEqual(gridPlan({ count: 8, width: 1376, height: 900 }), { columns: 4, chartHeight: 245 });
  assert.equal(gridPlan({ count: 8, width: 366, height: 844 }).columns, 1);
  assert.equal(gridPlan({ count: 2, width: 1376, height: 900 }).columns, 2);
});

test('fifty feeds on a wall: as many readable columns as fit, charts at least 150 px', () => {
  for (const [width, height] of [[3816, 2160], [1896, 1080], [1376, 900], [366, 844]]) {
    const { columns, chartHeight } = gridPlan({ count: 50, width, height });
    const columnWidth = (width - 10 * (columns - 1)) / columns;
    assert.ok(columnWidth >= MIN_COLUMN, `${width}: ${columnWidth}`);
    assert.ok(chartHeight >= 150, `${width}x${height}: ${chartHeight}`);
  }
  assert.equal(gridPlan({ count: 50, width: 3816, height: 2160 }).columns, 12);
});

test('stacked rows make a chart taller, within the viewport', () => {
  assert.equal(chartHeightFor(200, 1, 900), 200);
  assert.equal(chartHeightFor(200, 3, 900), 400);
  assert.equal(chartHeightFor(495, 3, 900), 720);
  assert.equal(chartHeightFor(300, 2, 200), 300, 'never below one chart');
});

test('the panel says restarting with its error, failed, stalled; nothing when running', () => {
  assert.deepEqual(panelState({ state: 'restarting', restarts: 3, error: 'OSError: sensor unplugged' }),
    { state: 'restarting', text: 'restarting (3rd time): OSError: sensor unplugged' });
  assert.equal(panelState({ state: 'restarting', restarts: 11, error: '' }).text, 'restarting (11th time)');
  assert.equal(panelState({ state: 'failed', error: 'FeedFailed: no such file' }).text, 'failed: FeedFailed: no such file');
  assert.equal(panelState({ state: 'stalled', error: 'old' }).text, 'stalled: no new points');
  assert.equal(panelState({ state: 'running' }), null);
  // Run by another instance (a shared backplane): nothing to say here.
  assert.equal(panelState({ state: 'standby' }), null);
  assert.equal(panelState({ state: 'paused', dropped: 0 }).text, 'paused until the backplane is back');
  assert.equal(panelState({ state: 'paused', dropped: 12 }).text, 'paused until the backplane is back (12 dropped)');
  assert.equal(panelState({ state: 'external' }), null);
  assert.equal(panelState(null), null);
});
