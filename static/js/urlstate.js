// The view in the URL's query, so a link or a reload reproduces it. No DOM.
//
// Keys this module owns: `window` (1m|5m|15m|1h|all; absent = 5m), `feeds`
// and `series` (comma-separated picks; absent = all), `paused` (1; absent =
// live). Every other key (`theme`, `candles`, ...) belongs to another part of
// the page and is kept as it is, in its place.

export const WINDOWS = ['1m', '5m', '15m', '1h', 'all'];
export const DEFAULT_WINDOW = '5m';
const OWN_KEYS = ['window', 'feeds', 'series', 'paused'];

function names(value) {
  if (value === null) return null;
  const list = value.split(',').map((s) => s.trim()).filter(Boolean);
  return [...new Set(list)];
}

/**
 * The view a query string (`location.search`) asks for. A value this page
 * cannot show (window=7m) falls back to its default, reported in `ignored`
 * so the page can say so.
 */
export function parseView(search) {
  const params = new URLSearchParams(search);
  const ignored = [];
  let window = params.get('window') ?? DEFAULT_WINDOW;
  if (!WINDOWS.includes(window)) {
    ignored.push(`window=${window}`);
    window = DEFAULT_WINDOW;
  }
  const pausedText = params.get('paused');
  if (pausedText !== null && pausedText !== '1' && pausedText !== '0') ignored.push(`paused=${pausedText}`);
  return {
    window,
    feeds: names(params.get('feeds')),
    series: names(params.get('series')),
    paused: pausedText === '1',
    ignored,
  };
}

/**
 * `search` with the view's keys set (defaults left out) and every other key
 * kept where it was. Returns a query string with its '?' (or '' when empty).
 */
export function writeView(search, view) {
  const params = new URLSearchParams(search);
  const wanted = {
    window: view.window === DEFAULT_WINDOW ? null : view.window,
    feeds: view.feeds ? view.feeds.join(',') : null,
    series: view.series ? view.series.join(',') : null,
    paused: view.paused ? '1' : null,
  };
  for (const key of OWN_KEYS) {
    if (wanted[key] === null) params.delete(key);
    else params.set(key, wanted[key]);
  }
  const text = params.toString().replace(/%2C/g, ',');
  return text ? `?${text}` : '';
}
