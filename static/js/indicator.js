// What the connection indicator (#status in index.html) says: the link's state
// (connection.js), over which transport when it is not a WebSocket, and, while
// live, whether the dashboard can reach its shared backplane (Redis:
// docs/protocol.md, "backplane"). Pure: no DOM.

const BACKPLANE_DOWN_TITLE =
  'Connected, but the dashboard cannot reach its backplane (Redis): new points are ' +
  'paused. What is shown stays, and points resume by themselves when it is back.';

const SSE_TITLE =
  'Live over Server-Sent Events: WebSockets cannot be opened here (a proxy may ' +
  'block them) or the server does not serve them. Points arrive the same way.';

/**
 * `status`: the connection's ("connecting", "live", ...). `backplaneUp`: what
 * the server last said (true until told otherwise). `transport`: "ws"
 * (default; not shown) or "sse" (shown while live). Returns what to show:
 * `state` (data-state: the connection's), `backplane` ("down" or "",
 * data-backplane), `text` (always shown), `detail` (shown where there is
 * room) and `title` (the tooltip; the screen reader reads text and detail).
 */
export function indicator(status, backplaneUp, transport = 'ws') {
  const over = status === 'live' && transport === 'sse' ? ' · SSE' : '';
  if (status === 'live' && backplaneUp === false) {
    return {
      state: status,
      backplane: 'down',
      text: `live${over} · backplane down`,
      detail: ', points paused',
      title: BACKPLANE_DOWN_TITLE,
    };
  }
  const title = over ? SSE_TITLE : '';
  return { state: status, backplane: '', text: status + over, detail: '', title };
}

/** Whether a server message says the backplane is up: a hello (absent: up,
 * an older server) or a `backplane` message; undefined for any other. */
export function backplaneUpFrom(msg) {
  if (msg.type === 'hello') return msg.backplane_up !== false;
  if (msg.type === 'backplane') return msg.up !== false;
  return undefined;
}
