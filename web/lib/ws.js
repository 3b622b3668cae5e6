// A WebSocket to /ws/{code} that stays up by itself.
//
// - Reconnects with capped exponential backoff and jitter, and at once when the page comes
//   back (visibilitychange → visible, pageshow, online): phones freeze background tabs and
//   drop sockets when the screen locks.
// - On every (re)connect it first sends the role message from `hello()` (so a participant
//   resumes its seat with its token) and, once `welcome` says the role is taken, every
//   reliable message not yet acknowledged.
// - Reliable messages (`sendReliable`) carry a `seq`; they are kept until the server's `ack`
//   with that seq arrives. A newer message with the same `key` replaces an older one that is
//   still pending (only the latest text of a slot matters; writes are idempotent).
// - Pings every 25 s (and when the page becomes visible) feed the clock offset and detect a
//   dead socket that never said goodbye.
//
// Status values passed to onStatus: 'connecting' (first attempt), 'open' (welcome received),
// 'reconnecting', 'offline' (the browser says there is no network), 'stopped', 'gone'
// (the server closed with 4004: the room no longer exists; no more retries) and 'removed'
// (4003: the facilitator removed this participant; its token no longer resumes).

const PING_EVERY = 25_000;
const PONG_WITHIN = 6_000;
const BACKOFF_MIN = 500;
const BACKOFF_MAX = 10_000;
// Close codes from the server (docs/protocol.md, "Connection life").
const CLOSE_REMOVED = 4003;
const CLOSE_ROOM_GONE = 4004;
const CLOSE_TOO_MANY = 4029;

export class Connection {
  /**
   * @param {object} o
   * @param {string} o.code        room code
   * @param {() => object} o.hello the role message to send first on every connect
   * @param {(msg: object) => void} o.onMessage every server message, parsed
   * @param {(status: string, info: object) => void} [o.onStatus]
   * @param {import('./clock.js').ServerClock} [o.clock]
   */
  constructor({ code, hello, onMessage, onStatus = () => {}, clock = null }) {
    this.url = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws/${encodeURIComponent(code)}`;
    this.hello = hello;
    this.onMessage = onMessage;
    this.onStatus = onStatus;
    this.clock = clock;
    this.ws = null;
    this.status = 'idle';
    this.attempts = 0; // failed attempts since the last welcome
    this.everOpen = false;
    this.retryTimer = null;
    this.pingTimer = null;
    this.pongTimer = null;
    this.pingSentAt = null;
    this.nextSeq = 1;
    this.pending = new Map(); // key → { seq, msg, resolve }
    this.welcomed = false; // the current socket got its welcome
    this.stopped = false;

    this.wake = this.wake.bind(this);
    this.onVisibility = () => {
      if (document.visibilityState === 'visible') this.wake();
    };
    this.onOffline = () => this.setStatus('offline');
  }

  start() {
    document.addEventListener('visibilitychange', this.onVisibility);
    window.addEventListener('pageshow', this.wake);
    window.addEventListener('online', this.wake);
    window.addEventListener('offline', this.onOffline);
    this.open();
    return this;
  }

  stop(status = 'stopped') {
    this.stopped = true;
    document.removeEventListener('visibilitychange', this.onVisibility);
    window.removeEventListener('pageshow', this.wake);
    window.removeEventListener('online', this.wake);
    window.removeEventListener('offline', this.onOffline);
    clearTimeout(this.retryTimer);
    this.stopPing();
    const ws = this.ws;
    this.ws = null;
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close(1000, 'bye');
    this.setStatus(status);
  }

  /** The role is taken on a socket that is open (whatever the banner says). */
  get isOpen() {
    return this.welcomed && this.ws?.readyState === WebSocket.OPEN;
  }

  setStatus(status) {
    if (this.status === status) return;
    this.status = status;
    this.onStatus(status, { attempts: this.attempts, everOpen: this.everOpen, closeCode: this.closeCode ?? null });
  }

  open() {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.ws && (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING)) return;
    if (navigator.onLine === false) {
      this.setStatus('offline');
      this.schedule();
      return;
    }
    this.setStatus(this.everOpen || this.attempts ? 'reconnecting' : 'connecting');
    const ws = new WebSocket(this.url);
    this.ws = ws;
    this.welcomed = false;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      this.raw(this.hello());
      this.startPing();
    };
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return; // not ours to understand; the protocol only sends JSON objects
      }
      if (!msg || typeof msg !== 'object') return;
      this.handle(msg);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.stopPing();
      this.closeCode = ev.code; // said in the banner (state.js closeText)
      if (this.stopped) return;
      if (ev.code === CLOSE_ROOM_GONE) {
        // The room no longer exists on the server: retrying cannot help.
        this.stop('gone');
        return;
      }
      if (ev.code === CLOSE_REMOVED) {
        // Removed by the facilitator: the seat is gone, a reconnect would be refused.
        this.stop('removed');
        return;
      }
      // 4029 (too many messages) asks us to slow down: start further along the backoff.
      if (ev.code === CLOSE_TOO_MANY) this.attempts = Math.max(this.attempts, 4);
      this.attempts += 1;
      this.setStatus(navigator.onLine === false ? 'offline' : 'reconnecting');
      this.schedule();
    };
    // onerror is always followed by onclose; nothing to do here.
    ws.onerror = () => {};
  }

  handle(msg) {
    switch (msg.type) {
      case 'welcome':
        this.welcomed = true;
        this.attempts = 0;
        this.everOpen = true;
        this.setStatus('open');
        this.flushPending();
        this.ping();
        break;
      case 'ack':
        this.settle(msg.seq, { ok: true, msg });
        break;
      case 'error':
        if (typeof msg.seq === 'number') this.settle(msg.seq, { ok: false, error: msg });
        break;
      case 'pong':
        if (this.pingSentAt !== null) {
          this.clock?.fromPong(msg.now, this.pingSentAt, Date.now());
          this.pingSentAt = null;
        }
        clearTimeout(this.pongTimer);
        this.pongTimer = null;
        // The socket answers: whatever the browser said about the network, we are connected.
        if (this.welcomed && this.status !== 'open') {
          this.setStatus('open');
          this.flushPending();
        }
        break;
      case 'room':
        this.clock?.fromRoom(msg.now, Date.now());
        break;
      default:
        break;
    }
    this.onMessage(msg);
  }

  /**
   * Send everything not yet acknowledged again, oldest first: after a (re)connect, once the
   * role is taken (the seat resumed). The server handles a socket's messages in order and
   * writes are idempotent, so a duplicate does no harm.
   */
  flushPending() {
    for (const p of [...this.pending.values()].sort((a, b) => a.seq - b.seq)) this.raw(p.msg);
  }

  settle(seq, result) {
    for (const [key, p] of this.pending) {
      if (p.seq === seq) {
        this.pending.delete(key);
        p.resolve(result);
        return;
      }
    }
  }

  schedule() {
    if (this.stopped || this.retryTimer) return;
    const base = Math.min(BACKOFF_MAX, BACKOFF_MIN * 2 ** Math.min(this.attempts, 6));
    const delay = base / 2 + Math.random() * (base / 2);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.open();
    }, delay);
  }

  /** The page came back (or the network did): reconnect now, or check the socket is alive. */
  wake() {
    if (this.stopped) return;
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ping();
    } else if (!this.ws || this.ws.readyState === WebSocket.CLOSED || this.ws.readyState === WebSocket.CLOSING) {
      this.attempts = Math.min(this.attempts, 1);
      this.open();
    }
  }

  /** Drop the current socket and connect again now (e.g. after changing what hello() says). */
  restart() {
    const ws = this.ws;
    this.ws = null;
    this.stopPing();
    if (ws) ws.close(1000, 'restart');
    this.attempts = 0;
    this.open();
  }

  startPing() {
    this.stopPing();
    this.pingTimer = setInterval(() => this.ping(), PING_EVERY);
  }

  stopPing() {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
    this.pingTimer = null;
    this.pongTimer = null;
    this.pingSentAt = null;
  }

  ping() {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN || this.pongTimer) return;
    this.pingSentAt = Date.now();
    this.raw({ type: 'ping' });
    const ws = this.ws;
    this.pongTimer = setTimeout(() => {
      // No pong: the socket is dead without knowing it (a phone woke up, a NAT forgot us).
      this.pongTimer = null;
      if (this.ws === ws) ws.close(4000, 'no pong');
    }, PONG_WITHIN);
  }

  raw(msg) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  /** Send now if connected; returns false (and forgets the message) if not. */
  send(msg) {
    return this.isOpen ? this.raw(msg) : false;
  }

  /**
   * Send a message that must arrive: it gets a `seq` and is kept until acknowledged, and
   * sent again after every reconnect. Resolves { ok: true } on ack, { ok: false, error } on
   * an error for that seq, { ok: false, superseded: true } when a newer message with the
   * same key replaced it before its ack.
   */
  sendReliable(msg, key) {
    const seq = this.nextSeq++;
    const full = { ...msg, seq };
    return new Promise((resolve) => {
      const old = this.pending.get(key);
      if (old) old.resolve({ ok: false, superseded: true });
      this.pending.set(key, { seq, msg: full, resolve });
      // Before the welcome the role is not yet taken; the resend on welcome covers that, so
      // only send directly once we are in.
      if (this.isOpen) this.raw(full);
    });
  }

  /** Drop pending reliable messages whose key matches (e.g. writes of a round that ended). */
  forget(predicate) {
    for (const [key, p] of this.pending) {
      if (predicate(key, p.msg)) {
        this.pending.delete(key);
        p.resolve({ ok: false, dropped: true });
      }
    }
  }

  get pendingCount() {
    return this.pending.size;
  }
}
