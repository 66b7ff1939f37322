// What a panel says about its feed's producer, in words on the panel (a phone
// has no hover): a pure function of the status message's entry for the feed.

const SAYS = {
  stalled: 'stalled: no new points',
  restarting: 'restarting',
  failed: 'failed',
  stopped: 'stopped',
  // The backplane is down (Redis): the feed keeps its points to publish later.
  paused: 'paused until the backplane is back',
};

function ordinal(n) {
  const tens = n % 100;
  if (tens >= 11 && tens <= 13) return `${n}th`;
  return `${n}${{ 1: 'st', 2: 'nd', 3: 'rd' }[n % 10] ?? 'th'}`;
}

/**
 * { state, text } for a feed whose producer is not simply running (the
 * error, when there is one, follows the state), or null when nothing needs
 * saying (running, idle, a pushed-in feed, no status yet).
 */
export function panelState(status) {
  const state = status?.state;
  if (!(state in SAYS)) return null;
  let text = SAYS[state];
  if (state === 'restarting' && status.restarts) text += ` (${ordinal(status.restarts)} time)`;
  if ((state === 'restarting' || state === 'failed') && status.error) text += `: ${status.error}`;
  if (state === 'paused' && status.dropped) text += ` (${status.dropped} dropped)`;
  return { state, text };
}
