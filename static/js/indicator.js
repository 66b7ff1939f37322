// What the connection indicator (#status in index.html) says: the link's state
// (connection.js) and, while live, whether the dashboard can reach its shared
// backplane (Redis: docs/protocol.md, "backplane"). Pure: no DOM.

const BACKPLANE_DOWN_TITLE =
  'Connected, but the dashboard cannot reach its backplane (Redis): new points are ' +
  'paused. What is shown stays, and points resume by themselves when it is back.';

/**
 * `status`: the connection's ("connecting", "live", ...). `backplaneUp`: what
 * the server last said (true until told otherwise). Returns what to show:
 * `state` (data-state: the connection's), `backplane` ("down" or "",
 * data-backplane), `text` (always shown), `detail` (shown where there is
 * room) and `title` (the tooltip; the screen reader reads text and detail).
 */
export function indicator(status, backplaneUp) {
  if (status === 'live' && backplaneUp === false) {
    return {
      state: status,
      backplane: 'down',
      text: 'live · backplane down',
      detail: ', points paused',
      title: BACKPLANE_DOWN_TITLE,
    };
  }
  return { state: status, backplane: '', text: status, detail: '', title: '' };
}

/** Whether a server message says the backplane is up: a hello (absent: up,
 * an older server) or a `backplane` message; undefined for any other. */
export function backplaneUpFrom(msg) {
  if (msg.type === 'hello') return msg.backplane_up !== false;
  if (msg.type === 'backplane') return msg.up !== false;
  return undefined;
}
