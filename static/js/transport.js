// Which way the page reaches the server: a WebSocket (/ws) or, where that
// cannot be opened, Server-Sent Events (/sse; docs/protocol.md, "Server-Sent
// Events"). Pure: no DOM, no sockets (connection.js opens them).

/** WebSockets that close before a hello, in a row, before the page tries SSE. */
export const WS_FAILURES_BEFORE_SSE = 3;
/** Longest id, as the server's (dashboard/sse.py MAX_ID_LENGTH). */
export const MAX_ID_LENGTH = 4096;
const ALL = ['ws', 'sse'];

/**
 * The transports the server serves, from the page's
 * <meta name="livefeed-transports" content="ws,sse">; both when the meta is
 * missing or unfilled (a custom page, an older server).
 */
export function transportsFrom(content) {
  const given = String(content ?? '').split(',').map((t) => t.trim()).filter((t) => ALL.includes(t));
  return given.length ? [...new Set(given)] : [...ALL];
}

/** The event id the server would give for `resume` ({epoch, seqs}, state.js), or null. */
export function eventId(resume) {
  if (!resume) return null;
  const head = `1/${encodeURIComponent(resume.epoch)}/`;
  const body = Object.entries(resume.seqs).map(([feed, seq]) => `${feed}:${seq.toString(36)}`).join(',');
  return head.length + body.length <= MAX_ID_LENGTH ? head + body : head;
}

/**
 * Where a new EventSource goes: resuming from `resume` when there is one,
 * with the candles asked for (`candles`: "feed:series" -> interval; a stream
 * takes no messages, so a change of candles opens a new stream).
 */
export function sseUrl(resume, candles = new Map()) {
  const query = [];
  const id = eventId(resume);
  if (id) query.push(`last_event_id=${encodeURIComponent(id)}`);
  const asked = [...candles].map(([key, interval]) => `${key}:${interval}`).join(',');
  if (asked) query.push(`candles=${encodeURIComponent(asked)}`);
  return query.length ? `/sse?${query.join('&')}` : '/sse';
}

/** Notes a `candles` message in `candles` (see sseUrl); whether it changed anything. */
export function askCandles(candles, msg) {
  const key = `${msg.feed}:${msg.series}`;
  if ((candles.get(key) ?? null) === (msg.interval ?? null)) return false;
  if (msg.interval) candles.set(key, msg.interval);
  else candles.delete(key);
  return true;
}

/**
 * The page's choice of transport. It starts on ws if the server serves it,
 * else on sse. A WebSocket that closes before its hello counts as a failure
 * (opened and hello'd: the count starts again); after WS_FAILURES_BEFORE_SSE
 * the page should check that the server answers plain HTTP (`shouldProbe`).
 * If it does (`answered`), one more WebSocket is tried at once: failing too,
 * while HTTP works, it means something between blocks WebSockets, and the
 * page moves to SSE for good. A server that is down fails both, and one that
 * comes back during a restart takes that last WebSocket: ws is kept.
 */
export class TransportChoice {
  constructor(allowed = ALL) {
    this.allowed = transportsFrom(allowed.join(','));
    this.current = this.allowed.includes('ws') ? 'ws' : 'sse';
    this.wsFailures = 0;
    this.confirming = false; // the server answered HTTP: one last WebSocket decides
  }

  /** A WebSocket ended; `hadHello`: it had brought a hello. */
  wsClosed(hadHello) {
    if (!hadHello && this.confirming) this.fallBack();
    this.confirming = false;
    this.wsFailures = hadHello ? 0 : this.wsFailures + 1;
  }

  shouldProbe() {
    return this.current === 'ws' && this.allowed.includes('sse') && !this.confirming
      && this.wsFailures >= WS_FAILURES_BEFORE_SSE;
  }

  /** The server answered plain HTTP after WebSockets failed: try one more now. */
  answered() {
    this.confirming = true;
  }

  fallBack() {
    this.current = 'sse';
  }
}
