// Which wire protocol this page speaks (docs/protocol.md, "Protocol version"),
// and what to do when a server says another. Pure: no DOM, no storage.

export const PROTOCOL = 2;

/**
 * What a page should do with the `protocol` of a hello:
 * - 'ok': the number this page speaks (or none given: a server from before
 *   the number was sent, which spoke this page's messages);
 * - 'reload': another number. The server was upgraded (or rolled back) under
 *   an open tab, and its own page speaks its protocol: load it;
 * - 'stop': another number again right after reloading for it. Reloading
 *   more would loop; the page says so instead of guessing at messages.
 * `reloadedFor`: the number the last reload was for (a string), or null.
 */
export function protocolAction(serverProtocol, reloadedFor) {
  if (serverProtocol === undefined || serverProtocol === PROTOCOL) return 'ok';
  return reloadedFor === String(serverProtocol) ? 'stop' : 'reload';
}
