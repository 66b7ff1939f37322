// History for windows longer than the page holds (15m, 1h, all): fetched from
// GET /api/feeds/<feed>/history already reduced to the chart's width
// (max_points: min and max per pixel, so spikes survive), drawn before the
// page's own points, and fetched again every REFRESH_MS so the join never
// opens a hole as the page's full-rate points age out (after 5 minutes).

import { columnsOf, needsServerHistory, WINDOW_SPANS } from './view.js';

const REFRESH_MS = 30_000;
const MIN_POINTS = 200;

export class Backfill {
  /** onLoaded(feedName): a feed's history arrived (its chart must redraw). */
  constructor(view, onLoaded, { fetchJson = defaultFetch, clock = () => performance.now() } = {}) {
    this.view = view;
    this.onLoaded = onLoaded;
    this.fetchJson = fetchJson;
    this.clock = clock;
    this.fetchedAt = new Map();   // feed -> clock() of its last request
    this.inFlight = new Set();
    this.window = null;
    this.loads = 0;               // histories applied (tests and the console read it)
  }

  /** Called every frame: starts the requests that are due. Cheap when none is. */
  tick(state, widthPx) {
    const windowKey = this.view.window;
    if (windowKey !== this.window) {
      this.window = windowKey;
      this.fetchedAt.clear();
    }
    if (!needsServerHistory(windowKey)) return;
    const now = this.clock();
    for (const feed of state.feeds.values()) {
      if (feed.ts.length === 0 || this.inFlight.has(feed.name) || !this.view.showsFeed(feed.name)) continue;
      const last = this.fetchedAt.get(feed.name);
      if (last !== undefined && now - last < REFRESH_MS) continue;
      this.fetchedAt.set(feed.name, now);
      this.load(feed, windowKey, widthPx);
    }
  }

  async load(feed, windowKey, widthPx) {
    const span = WINDOW_SPANS[windowKey];
    const params = new URLSearchParams({ max_points: String(Math.max(MIN_POINTS, Math.round(2 * widthPx))) });
    // Measured back from the feed's newest point: a feed on its own clock
    // (a replayed file) is windowed on its own dates.
    if (Number.isFinite(span)) params.set('from_ts', String(Math.max(0, Math.floor(feed.ts[feed.ts.length - 1] - span))));
    this.inFlight.add(feed.name);
    try {
      const body = await this.fetchJson(`/api/feeds/${encodeURIComponent(feed.name)}/history?${params}`);
      if (this.view.window !== windowKey) return; // the window changed meanwhile
      this.view.backfill.set(feed.name, columnsOf(body.points ?? []));
      this.loads += 1;
      this.onLoaded(feed.name);
    } catch (error) {
      // Drawn without it (the page's own points) and asked again at the next refresh.
      console.warn(`history of ${feed.name}: ${error.message}`);
    } finally {
      this.inFlight.delete(feed.name);
    }
  }
}

async function defaultFetch(url) {
  const response = await fetch(url, { credentials: 'same-origin' });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return response.json();
}
