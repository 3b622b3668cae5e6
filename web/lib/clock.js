// The server's clock, seen from here (the countdown drawn from it is in countdown.js).
//
// The server owns time: a round ends at `room.deadline` (server epoch ms). We never run a
// local timer that decrements; every frame recomputes `deadline - serverNow()` where
// serverNow() = Date.now() + offset. The offset comes from ping/pong round trips (the
// sample with the smallest round trip is the most trustworthy), and until the first pong
// from the `now` stamped on every `room` message.

import { t } from './i18n.js';

export class ServerClock {
  constructor() {
    this.offset = 0;
    this.best = null; // { rtt, offset } of the tightest ping/pong so far
    this.samples = [];
    this.known = false;
  }

  /** A `room` message arrived carrying the server's `now`. */
  fromRoom(serverNow, receivedAt = Date.now()) {
    if (typeof serverNow !== 'number') return;
    if (!this.best) {
      this.offset = serverNow - receivedAt;
      this.known = true;
    }
  }

  /** A `pong` answered a ping sent at `sentAt` and received at `receivedAt` (local ms). */
  fromPong(serverNow, sentAt, receivedAt = Date.now()) {
    if (typeof serverNow !== 'number' || typeof sentAt !== 'number') return;
    const rtt = Math.max(0, receivedAt - sentAt);
    const offset = serverNow - (sentAt + rtt / 2);
    // Keep the last few samples and trust the one with the smallest round trip.
    this.samples.push({ rtt, offset });
    if (this.samples.length > 8) this.samples.shift();
    this.best = this.samples.reduce((a, b) => (b.rtt < a.rtt ? b : a));
    this.offset = this.best.offset;
    this.known = true;
  }

  /** Server time now, epoch ms. */
  now() {
    return Date.now() + this.offset;
  }
}

/**
 * Milliseconds left in the round as the server sees it, or null when no clock runs.
 * Writing: deadline − server now (never below 0). Paused: the frozen remaining_ms.
 */
export function remainingMs(room, clock) {
  if (!room) return null;
  if (room.phase === 'writing' && typeof room.deadline === 'number') {
    // Time only goes down: never show more than was left when the server sent this state,
    // whatever error the offset estimate has.
    const cap = typeof room.now === 'number' ? room.deadline - room.now : Infinity;
    return Math.max(0, Math.min(cap, room.deadline - clock.now()));
  }
  if (room.phase === 'paused' && typeof room.remaining_ms === 'number') {
    return Math.max(0, room.remaining_ms);
  }
  return null;
}

/** 299_001 → "5:00", 59_000 → "0:59", 3_600_000 → "60:00". Rounds up: 0:00 means over. */
export function formatClock(ms) {
  if (ms === null || ms === undefined) return '–:––';
  const total = Math.ceil(ms / 1000);
  const m = Math.floor(total / 60);
  const s = total % 60;
  return `${m}:${String(s).padStart(2, '0')}`;
}

/** Spoken form for screen readers: "4 minutes 5 seconds left". */
export function spokenClock(ms) {
  const total = Math.ceil(ms / 1000);
  const m = Math.floor(total / 60);
  const s = total % 60;
  const parts = [];
  if (m) parts.push(t('n.minutes', { n: m }));
  if (s || !m) parts.push(t('n.seconds', { n: s }));
  return t('clock.left', { time: parts.join(' ') });
}
