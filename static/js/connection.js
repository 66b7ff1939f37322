// The link to the server (docs/protocol.md): a WebSocket to /ws, or Server-Sent
// Events from /sse where WebSockets cannot be opened (transport.js decides);
// connect, resume after a loss, notice a dead link, and tell the page what
// state the link is in.
//
// Status: "connecting" (never had a hello yet), "live" (hello received),
// "reconnecting" (lost, a retry is scheduled or running), "offline" (the
// browser says there is no network: no retries until it says there is again).
//
// Before each retry the page may decide against it (mayRetry): a session that
// has ended sends the page to /login instead of reconnecting forever.

import { TransportChoice, askCandles, sseUrl } from './transport.js';

const BACKOFF_BASE_MS = 250;
const BACKOFF_CAP_MS = 10_000;
const PING_AFTER_MS = 10_000;   // quiet this long: ask the server for a pong
const DEAD_AFTER_MS = 20_000;   // quiet this long: the link is dead even if TCP has not noticed
const WATCHDOG_TICK_MS = 1_000;
const CLOSE_ABNORMAL = 1006;   // a connection that ended without a close frame

function wsUrl(pathAndQuery) {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}${pathAndQuery}`;
}

export class Connection {
  /**
   * onMessage(msg): every parsed server message except pong.
   * onStatus(status): on each status change.
   * resume(): the `resume` object for a reconnect, or null to start afresh.
   * mayRetry(closeCode): a promise of whether to connect again (default yes).
   * transports: what the server serves (['ws', 'sse'] by default).
   * reachable(): a promise of whether the server answers plain HTTP.
   */
  constructor({ onMessage, onStatus, resume, mayRetry = async () => true,
    transports = ['ws', 'sse'], reachable = async () => false }) {
    this.onMessage = onMessage;
    this.onStatus = onStatus;
    this.resume = resume;
    this.mayRetry = mayRetry;
    this.deciding = false;     // mayRetry is being asked: no other retry meanwhile
    this.status = 'connecting';
    this.ws = null;            // the open link: a WebSocket or an EventSource
    this.choice = new TransportChoice(transports);
    this.reachable = reachable;
    this.heardHello = false;   // the current link brought a hello
    this.candles = new Map();  // over SSE: the candles asked for, in the stream's URL
    this.attempt = 0;          // failures since the last hello, for the backoff
    this.retryTimer = null;
    this.everLive = false;
    this.lastHeardAt = 0;
    this.pinged = false;
    this.pingId = 0;
    this.stopped = false;      // stop() was called: never connect again
  }

  start() {
    window.addEventListener('offline', () => this.wentOffline());
    window.addEventListener('online', () => this.cameOnline());
    setInterval(() => this.watchdog(), WATCHDOG_TICK_MS);
    if (navigator.onLine) this.open();
    else this.setStatus('offline');
  }

  /** "ws" or "sse": the transport in use (or being tried). */
  get transport() {
    return this.choice.current;
  }

  open() {
    // With points held, resume: the server then sends exactly what was missed
    // (and a reset snapshot for feeds it cannot resume) instead of a snapshot
    // that overlaps what is held.
    const resume = this.resume();
    this.lastHeardAt = performance.now();
    this.pinged = false;
    this.heardHello = false;
    if (this.transport === 'sse') {
      this.openEvents(resume);
      return;
    }
    const ws = new WebSocket(wsUrl(resume ? '/ws?await_subscribe=1' : '/ws'));
    this.ws = ws;
    ws.onopen = () => {
      if (resume) ws.send(JSON.stringify({ type: 'subscribe', resume }));
    };
    ws.onmessage = (event) => this.receive(event.data);
    // An error is always followed by a close; the close alone drives the retry.
    ws.onclose = (event) => this.lost(event.code);
  }

  /** Server-Sent Events: the same messages as /ws, resumed by their event ids. */
  openEvents(resume) {
    const events = new EventSource(sseUrl(resume, this.candles));
    this.ws = events;
    events.onmessage = (event) => this.receive(event.data);
    events.addEventListener('ping', () => this.heard());
    // The server ends the stream: why, as a WebSocket close code (1001, 1008, 4401).
    events.addEventListener('close', (event) => {
      let code = CLOSE_ABNORMAL;
      try {
        code = JSON.parse(event.data).code ?? code;
      } catch { /* keep 1006 */ }
      this.lost(code);
    });
    events.onerror = () => {
      // Still CONNECTING: the browser reconnects by itself, sending the last
      // event id (Last-Event-ID), and the stream resumes. CLOSED: it gave up
      // (the server refused the request); the page tries again itself.
      if (events.readyState === EventSource.CLOSED) this.lost();
      else if (this.status === 'live') this.setStatus('reconnecting');
    };
  }

  /**
   * Sends `msg` if the link takes messages (a WebSocket, open). Over SSE a
   * change of candles opens a new stream asking for them, resuming the points.
   */
  send(msg) {
    const ws = this.ws;
    if (ws instanceof WebSocket) {
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
    } else if (msg.type === 'candles' && askCandles(this.candles, msg) && ws && !this.reopening) {
      this.reopening = true; // once for the candles a frame asks for together
      queueMicrotask(() => {
        this.reopening = false;
        if (this.ws !== ws || this.stopped) return; // lost or replaced meanwhile
        this.drop();
        this.open();
      });
    }
  }

  heard() {
    this.lastHeardAt = performance.now();
    this.pinged = false;
  }

  receive(data) {
    this.heard();
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return; // the server only sends JSON objects; nothing to do with anything else
    }
    if (msg === null || typeof msg !== 'object') return;
    if (msg.type === 'pong') return;
    if (msg.type === 'error') {
      // Only our own messages are answered with errors: that is a bug worth seeing.
      console.warn(`livefeed: server rejected a message: ${msg.code}: ${msg.message}`);
      return;
    }
    this.onMessage(msg);
    if (this.stopped) return; // the page gave up on this server in onMessage
    if (msg.type === 'hello') {
      this.heardHello = true;
      this.attempt = 0;
      this.everLive = true;
      this.setStatus('live');
    }
  }

  lost(code = CLOSE_ABNORMAL) {
    if (this.transport === 'ws') {
      this.choice.wsClosed(this.heardHello);
      if (this.transport === 'sse') this.attempt = 0; // fell back: open the stream at once
    }
    this.drop();
    if (!navigator.onLine) {
      this.setStatus('offline');
      return;
    }
    this.setStatus(this.everLive ? 'reconnecting' : 'connecting');
    this.deciding = true;
    Promise.resolve(this.mayRetry(code))
      .catch(() => true)
      .then(async (retry) => {
        // WebSockets keep failing while the server answers HTTP: something
        // between (a proxy) may block them. One more at once decides
        // (transport.js); then events from /sse, at once.
        if (retry && this.choice.shouldProbe() && await this.reachable().catch(() => false)) {
          this.choice.answered();
          this.attempt = 0;
        }
        this.deciding = false;
        // Offline or reconnected meanwhile: those paths own the next step.
        if (retry && !this.ws && !this.retryTimer && navigator.onLine) this.retryLater();
      });
  }

  retryLater() {
    // Full jitter: after a server restart, clients spread out instead of stampeding.
    const delay = Math.random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** this.attempt);
    this.attempt += 1;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.open();
    }, delay);
  }

  /** Forgets the current socket; its late events must not reach the page. */
  drop() {
    const ws = this.ws;
    if (!ws) return;
    this.ws = null;
    if (!(ws instanceof WebSocket)) {
      ws.onmessage = ws.onerror = null;
      ws.close();
      return;
    }
    ws.onmessage = ws.onclose = null;
    if (ws.readyState === WebSocket.CONNECTING) {
      // Closing a socket still connecting logs a browser error: close it once open.
      ws.onopen = () => ws.close();
    } else {
      ws.onopen = null;
      ws.close();
    }
  }

  watchdog() {
    if (!this.ws) return;
    const quiet = performance.now() - this.lastHeardAt;
    if (quiet >= DEAD_AFTER_MS) {
      this.lost();
    } else if (quiet >= PING_AFTER_MS && !this.pinged) {
      // Over SSE the server's heartbeats (every 15 s at most) keep it heard.
      this.pinged = true;
      this.pingId += 1;
      this.send({ type: 'ping', id: this.pingId });
    }
  }

  wentOffline() {
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.drop();
    this.setStatus('offline');
  }

  cameOnline() {
    if (this.stopped || this.ws || this.retryTimer || this.deciding) return;
    this.attempt = 0;
    this.setStatus(this.everLive ? 'reconnecting' : 'connecting');
    this.open();
  }

  /** Closes for good, showing *status*: the page cannot use this server. */
  stop(status) {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.drop();
    this.setStatus(status);
  }

  setStatus(status) {
    if (status === this.status) return;
    this.status = status;
    this.onStatus(status);
  }
}
