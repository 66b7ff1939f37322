// Wires the page: messages go into the state, and one animation-frame loop
// draws whatever changed (charts, table, header). Messages never draw.

import { State } from './state.js';
import { Connection } from './connection.js';
import { Charts } from './charts.js';
import { Candles } from './candles.js';
import { Table } from './table.js';
import { Session } from './session.js';
import { PROTOCOL, protocolAction } from './version.js';
import { view } from './view.js';
import { parseView } from './urlstate.js';
import { Controls } from './controls.js';
import { Backfill } from './backfill.js';
import { initTheme, onThemeChange } from './theme.js';
import { backplaneUpFrom, indicator } from './indicator.js';
import { transportsFrom } from './transport.js';

const state = new State();
const charts = new Charts(document.getElementById('charts'), requestRender);
const candles = new Candles({
  send: (msg) => connection.send(msg),
  requestRender,
});
const table = new Table(document.getElementById('feeds'), {
  filter: document.getElementById('feed-filter'),
  noMatch: document.getElementById('no-match'),
  result: document.getElementById('filter-result'),
});
const statusEl = document.getElementById('status');
const summaryEl = document.getElementById('summary');
// The view from the URL (window, picks, pause): a link or a reload reproduces it.
const fromUrl = parseView(location.search);
view.restore(fromUrl);
const controls = new Controls(document.getElementById('viewbar'), view, charts, requestRender);
controls.note(fromUrl.ignored);
const backfill = new Backfill(view, (name) => charts.panels.get(name)?.invalidate());

// What is drawn when: the latest value text every frame (cheap); a chart only
// when redraw.js says a person could see it change (its picture moves a pixel
// or its y range moves), every chart at once on a user's action or when the
// tab comes back; nothing while the tab is hidden (points are still taken in).
//
// A Plotly redraw still costs milliseconds per chart: charts that are merely
// due are drawn until FRAME_BUDGET_MS is spent (no long tasks; the rest wait
// their turn), and the next such frame comes after REST_FACTOR times that
// cost, so a slow machine gets fewer redraws instead of a frozen tab.
const FRAME_BUDGET_MS = 12;
const REST_FACTOR = 1.5;

let frameRequested = false;
let drawnMeta = -1;
let redraws = 0;       // frames that redrew at least one chart
let renderMs = 0;      // cost of the last such frame
let nextDrawAt = 0;    // budgeted drawing rests until then (performance.now() clock)
let wakeTimer = null;
let wakeAt = Infinity;

function requestRender() {
  if (frameRequested) return;
  frameRequested = true;
  requestAnimationFrame(frame);
}

/** A frame in `ms`: a chart waits to be due, and no message may come to wake the loop. */
function wakeIn(ms) {
  if (ms <= 0) {
    requestRender();
    return;
  }
  const at = performance.now() + ms;
  if (wakeTimer !== null && wakeAt <= at) return;
  clearTimeout(wakeTimer);
  wakeAt = at;
  wakeTimer = setTimeout(() => {
    wakeTimer = null;
    wakeAt = Infinity;
    requestRender();
  }, ms);
}

function frame() {
  const start = performance.now();
  try {
    if (document.hidden) return; // drawn on return (visibilitychange)
    if (drawnMeta !== state.metaVersion) {
      drawnMeta = state.metaVersion;
      charts.layout(state);
      candles.layout(state, charts.panels);
      table.layout(state);
    }
    controls.render(state);
    backfill.tick(state, charts.container.querySelector('.panel-chart')?.clientWidth ?? 600);
    charts.label(state);
    table.render(state);
    renderSummary();
    const drawn = charts.render(state, start >= nextDrawAt ? FRAME_BUDGET_MS : 0, start) + candles.render();
    if (drawn) {
      redraws += 1;
      renderMs = performance.now() - start;
      nextDrawAt = performance.now() + renderMs * REST_FACTOR;
    }
  } finally {
    // Cleared last: invalidations made while drawing were drawn in this frame.
    frameRequested = false;
  }
  const now = performance.now();
  const wait = charts.wake(state, now);
  if (wait !== null) wakeIn(Math.max(wait, nextDrawAt - now));
}

/** Every chart drawn at the next frame: for a user's action (pause, window, ...). */
function redrawAll() {
  charts.redrawAll();
  nextDrawAt = 0;
  requestRender();
}

document.addEventListener('visibilitychange', () => {
  if (!document.hidden) redrawAll();
});

function totals() {
  let points = 0;
  let gaps = 0;
  for (const feed of state.feeds.values()) {
    points += feed.count;
    gaps += feed.gaps;
  }
  return { points, gaps };
}

function renderSummary() {
  if (connection.stopped) return; // it holds why the page stopped
  const { points, gaps } = totals();
  const parts = [`${state.feeds.size} feeds`, `${points.toLocaleString()} points`];
  if (gaps) parts.push(`${gaps} ${gaps === 1 ? 'break' : 'breaks'}`);
  const text = parts.join(' · ');
  if (summaryEl.textContent !== text) summaryEl.textContent = text;
}

// What the server last said of its backplane (hello, `backplane` messages).
let backplaneUp = true;

function renderStatus(status) {
  const shown = indicator(status, backplaneUp, connection.transport);
  statusEl.dataset.state = shown.state;
  statusEl.dataset.transport = connection.transport;
  statusEl.dataset.backplane = shown.backplane;
  // One flex item (the dot is the other): no gap between the words and their detail.
  const label = document.createElement('span');
  label.textContent = shown.text;
  if (shown.detail) {
    const detail = document.createElement('span');
    detail.className = 'status-detail';
    detail.textContent = shown.detail;
    label.append(detail);
  }
  statusEl.replaceChildren(label);
  // The outdated page's title holds why it stopped: only the backplane's is ours.
  if (shown.title || statusEl.dataset.titled) {
    statusEl.title = shown.title;
    statusEl.dataset.titled = shown.title ? '1' : '';
  }
}

// Survives the reload it asks for (per tab), so a page reloads once per number.
const RELOADED_FOR = 'livefeed.reloadedForProtocol';

/** False when the server speaks another protocol: reloading, or stopped. */
function speaksProtocol(protocol) {
  const action = protocolAction(protocol, sessionStorage.getItem(RELOADED_FOR));
  if (action === 'ok') {
    sessionStorage.removeItem(RELOADED_FOR);
    return true;
  }
  const why = `The server speaks protocol ${protocol}; this page speaks ${PROTOCOL}.`;
  statusEl.title = why;
  summaryEl.textContent = why; // shown where a phone can read it: no hover there
  connection.stop('outdated');
  if (action === 'reload') {
    sessionStorage.setItem(RELOADED_FOR, String(protocol));
    location.reload();
  }
  return false;
}

function onMessage(msg) {
  const up = backplaneUpFrom(msg);
  if (up !== undefined && up !== backplaneUp) {
    backplaneUp = up;
    renderStatus(connection.status);
  }
  switch (msg.type) {
    case 'hello':
      if (!speaksProtocol(msg.protocol)) return;
      state.hello(msg);
      candles.connected();
      break;
    case 'feeds':
      state.addFeeds(msg.added);
      break;
    case 'snapshot':
    case 'replay':
      state.ingest(msg.points ?? [], msg.epoch ?? state.epoch);
      break;
    case 'batch':
      state.ingest(msg.points ?? []);
      break;
    case 'status':
      state.setStatus(msg.feeds);
      break;
    case 'candles':
      candles.receive(msg);
      return; // it asks for a frame itself when the bars are shown
    default:
      return; // a type this page does not know (a newer server): nothing to draw
  }
  requestRender();
}

const session = new Session(document.getElementById('logout'));
const connection = new Connection({
  onMessage,
  onStatus: renderStatus,
  resume: () => state.resume(),
  mayRetry: (code) => session.mayRetry(code),
  // What the server serves (--transports), filled into index.html by the server.
  transports: transportsFrom(document.querySelector('meta[name="livefeed-transports"]')?.content),
  // Any HTTP answer will do: the server is up, only its WebSockets are not.
  reachable: () => fetch('/api/session', { cache: 'no-store' }).then(() => true, () => false),
});

/** Plain-JSON numbers for tests and for a look from the console. */
function stats() {
  const perFeed = {};
  for (const feed of state.feeds.values()) {
    perFeed[feed.name] = {
      epoch: feed.epoch,
      lastSeq: feed.lastSeq,
      count: feed.count,
      gaps: feed.gaps,
      missed: feed.missed,
      state: feed.status?.state ?? null,
    };
  }
  return {
    points: totals().points,
    perFeed,
    status: connection.status,
    transport: connection.transport,
    backplaneUp,
    redraws,
    renderMs,
    received: state.received,
    duplicates: state.duplicates,
  };
}

// Charts take their colours from the theme: a new theme redraws them all.
onThemeChange(() => {
  for (const panel of charts.panels.values()) panel.invalidate();
  redrawAll();
});
initTheme(document.getElementById('theme-toggle'));

window.livefeed = Object.freeze({
  state, connection, charts, candles, session, stats, view, backfill, redrawAll,
});
renderStatus(connection.status);
connection.start();
session.load();
