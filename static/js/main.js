// Wires the page: messages go into the state, and one animation-frame loop
// draws whatever changed (charts, table, header). Messages never draw.

import { State } from './state.js';
import { Connection } from './connection.js';
import { Charts } from './charts.js';
import { Table } from './table.js';
import { Session } from './session.js';
import { PROTOCOL, protocolAction } from './version.js';
import { initTheme, onThemeChange } from './theme.js';

const state = new State();
const charts = new Charts(document.getElementById('charts'), requestRender);
const table = new Table(document.getElementById('feeds'), {
  filter: document.getElementById('feed-filter'),
  noMatch: document.getElementById('no-match'),
  result: document.getElementById('filter-result'),
});
const statusEl = document.getElementById('status');
const summaryEl = document.getElementById('summary');

// A Plotly redraw costs milliseconds per chart whatever the point count. So a
// frame draws charts only until FRAME_BUDGET_MS is spent (no long tasks; the
// rest wait their turn) and the next drawing frame comes after REST_FACTOR
// times that cost: drawing takes at most ~40% of the main thread, and a slow
// machine gets fewer redraws per second instead of a frozen tab.
const FRAME_BUDGET_MS = 12;
const REST_FACTOR = 1.5;

let frameRequested = false;
let drawnMeta = -1;
let redraws = 0;       // frames that redrew at least one chart
let renderMs = 0;      // cost of the last such frame
let nextDrawAt = 0;

function requestRender() {
  if (frameRequested) return;
  frameRequested = true;
  requestAnimationFrame(frame);
}

function frame(now) {
  if (now < nextDrawAt) {
    requestAnimationFrame(frame);
    return;
  }
  const start = performance.now();
  try {
    if (drawnMeta !== state.metaVersion) {
      drawnMeta = state.metaVersion;
      charts.layout(state);
      table.layout(state);
    }
    const drawn = charts.render(state, FRAME_BUDGET_MS);
    table.render(state);
    renderSummary();
    if (drawn) {
      redraws += 1;
      renderMs = performance.now() - start;
      // No rest until every panel has been drawn once: the first paint is
      // what a person opening the page waits for.
      const rest = charts.firstPaintPending() ? 0 : renderMs * REST_FACTOR;
      nextDrawAt = performance.now() + rest;
    }
  } finally {
    // Cleared last: invalidations made while drawing were drawn in this frame.
    frameRequested = false;
  }
  if (charts.pending(state)) requestRender();
}

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

function renderStatus(status) {
  statusEl.dataset.state = status;
  statusEl.textContent = status;
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
  switch (msg.type) {
    case 'hello':
      if (!speaksProtocol(msg.protocol)) return;
      state.hello(msg);
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
    redraws,
    renderMs,
    received: state.received,
    duplicates: state.duplicates,
  };
}

// Charts take their colours from the theme: a new theme redraws them all.
onThemeChange(() => {
  for (const panel of charts.panels.values()) panel.invalidate();
});
initTheme(document.getElementById('theme-toggle'));

window.livefeed = Object.freeze({ state, connection, charts, session, stats });
renderStatus(connection.status);
connection.start();
session.load();
