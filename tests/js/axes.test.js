// node --test: the chart plan from a feed's declaration (static/js/axes.js, chartlayout.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { legendMode, planAxes, rowDomains, declaredRange, hoverFormat } from '../../static/js/axes.js';
import { plotLayout, layoutKey } from '../../static/js/chartlayout.js';

const line = (name, unit = '', more = {}) => ({ name, kind: 'line', unit, plot: true, ...more });

// The host feed as it declares itself (feeds/hostmetrics.py).
const HOST = [
  line('cpu_percent', '%', { panel: 'usage', y_min: 0, y_max: 100, decimals: 1 }),
  line('memory_percent', '%', { panel: 'usage', y_min: 0, y_max: 100, decimals: 1 }),
  line('net_sent_bps', 'B/s', { panel: 'network', y_min: 0 }),
  line('net_recv_bps', 'B/s', { panel: 'network', y_min: 0 }),
  line('disk_read_bps', 'B/s', { panel: 'disk', y_min: 0 }),
  line('disk_write_bps', 'B/s', { panel: 'disk', y_min: 0 }),
];

function unitsPerAxis(plan, series) {
  const byAxis = new Map();
  for (const s of series) {
    const id = plan.axisOf.get(s.name);
    byAxis.set(id, new Set([...(byAxis.get(id) ?? []), s.unit]));
  }
  return byAxis;
}

test('no axis ever holds two units', () => {
  const feeds = [
    HOST,
    HOST.map(({ panel, ...s }) => s),   // the host without its panels
    [line('a', '%'), line('b', 'B/s'), line('c', '°C'), line('d', '%')],
    [line('a', 'x', { panel: 'p' }), line('b', 'y', { panel: 'p' }), line('c', 'z', { panel: 'p' })],
  ];
  for (const series of feeds) {
    const plan = planAxes(series);
    for (const [id, units] of unitsPerAxis(plan, series)) assert.equal(units.size, 1, `${id}: ${[...units]}`);
  }
});

test('the host gets three stacked rows: usage 0-100 %, network and disk from 0', () => {
  const plan = planAxes(HOST);
  assert.deepEqual(plan.rows.map((r) => r.label), ['usage', 'network', 'disk']);
  assert.deepEqual(plan.rows.map((r) => r.axes.length), [1, 1, 1]);
  assert.deepEqual(plan.rows[0].axes[0].range, [0, 100]);
  assert.deepEqual(plan.rows[1].axes[0].range, [0, null]);
  assert.equal(plan.axisOf.get('cpu_percent'), plan.axisOf.get('memory_percent'));
  assert.notEqual(plan.axisOf.get('cpu_percent'), plan.axisOf.get('net_sent_bps'));
});

test('exactly two units and no panels: one row, a second axis on the right', () => {
  const plan = planAxes([line('temp', '°C'), line('hum', '%'), line('temp2', '°C')]);
  assert.equal(plan.rows.length, 1);
  assert.deepEqual(plan.rows[0].axes.map((a) => [a.unit, a.side]), [['°C', 'left'], ['%', 'right']]);
  const layout = plotLayout({ plan, height: 300, hasData: true, spanMs: 1000, traceCount: 3, color: '#fff', uirevision: 'x' });
  assert.equal(layout.yaxis2.overlaying, 'y');
  assert.equal(layout.yaxis2.side, 'right');
  assert.ok(layout.margin.r >= 40, 'room for the right axis ticks');
});

test('three units without panels: three rows sharing the time axis', () => {
  const plan = planAxes([line('a', '%'), line('b', 'B/s'), line('c', '°C')]);
  assert.equal(plan.rows.length, 3);
  const layout = plotLayout({ plan, height: 400, hasData: true, spanMs: 1000, traceCount: 3, color: '#fff', uirevision: 'x' });
  const domains = plan.rows.map((r) => layout[layoutKey(r.axes[0].id)].domain);
  for (let i = 1; i < domains.length; i += 1) assert.ok(domains[i][1] < domains[i - 1][0], 'rows do not overlap');
  assert.equal(layout.xaxis.anchor, plan.rows[2].axes[0].id, 'time axis under the bottom row');
  assert.deepEqual(layout.annotations.map((a) => a.text), ['%', 'B/s', '°C'], 'each axis named');
});

test('a pushed feed (no units) keeps every series on one axis, however many', () => {
  const series = Array.from({ length: 23 }, (_, i) => line(`s${i}`));
  const plan = planAxes(series);
  assert.equal(plan.rows.length, 1);
  assert.equal(plan.rows[0].axes.length, 1);
  assert.equal(legendMode(series.length), 'list');
  assert.equal(legendMode(6), 'chips');
  assert.equal(legendMode(1), 'none');
});

test('candles on top, a line in another unit in a shorter row under them', () => {
  const plan = planAxes([{ name: 'bar', kind: 'ohlc', unit: 'USD', plot: true }, line('volume', 'shares'), line('close', 'USD')]);
  assert.equal(plan.rows.length, 2);
  assert.ok(plan.rows[0].candles && plan.rows[0].weight > plan.rows[1].weight);
  assert.equal(plan.axisOf.get('bar'), plan.axisOf.get('close'));
  assert.notEqual(plan.axisOf.get('bar'), plan.axisOf.get('volume'));
});

test('unplotted series get no axis', () => {
  const plan = planAxes([line('price', 'USD'), { ...line('volume', 'shares'), plot: false }]);
  assert.equal(plan.rows.length, 1);
  assert.equal(plan.axisOf.has('volume'), false);
});

test('log axes take their declared range in powers of ten', () => {
  const plan = planAxes([line('bytes', 'B', { log: true, y_min: 1, y_max: 1e6 })]);
  const layout = plotLayout({ plan, height: 300, hasData: true, spanMs: 1000, traceCount: 1, color: '#fff', uirevision: 'x' });
  assert.equal(layout.yaxis.type, 'log');
  assert.deepEqual(layout.yaxis.range, [0, 6]);
});

test('row domains: top to bottom, by weight, gaps between, within 0-1', () => {
  assert.deepEqual(rowDomains([1], 0.1), [[0, 1]]);
  const [top, bottom] = rowDomains([3, 1], 0.1);
  assert.equal(top[1], 1);
  assert.equal(bottom[0], 0);
  assert.ok(Math.abs(top[0] - bottom[1] - 0.1) < 1e-3);
  assert.ok(Math.abs((top[1] - top[0]) - 3 * (bottom[1] - bottom[0])) < 1e-3);
});

test('declared ranges and decimals', () => {
  assert.equal(declaredRange([line('a')]), null);
  assert.deepEqual(declaredRange([line('a', '', { y_max: 5 })]), [null, 5]);
  assert.equal(hoverFormat(line('a', '', { decimals: 0 })), ',.0f');
  assert.equal(hoverFormat(line('a')), ',.4~f');
});
