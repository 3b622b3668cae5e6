// The server's clock, seen from here, and countdowns rendered from it.
//
// The server owns time: a round ends at `room.deadline` (server epoch ms). We never run a
// local timer that decrements; every frame recomputes `deadline - serverNow()` where
// serverNow() = Date.now() + offset. The offset comes from ping/pong round trips (the
// sample with the smallest round trip is the most trustworthy), and until the first pong
// from the `now` stamped on every `room` message.

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
  if (m) parts.push(`${m} minute${m === 1 ? '' : 's'}`);
  if (s || !m) parts.push(`${s} second${s === 1 ? '' : 's'}`);
  return `${parts.join(' ')} left`;
}

/**
 * Renders a countdown into elements every 250 ms from the room state and the clock.
 *   timer:   the role="timer" element (text "4:59")
 *   bar:     optional element whose width shows the fraction of the round left
 *   announce: optional polite live region; told at 1 minute, 30 s, 10 s and at 0
 *   onZero:  optional callback when a running round reaches 0 on this clock
 */
export class Countdown {
  constructor({ clock, timer, bar = null, announce = null, onChange = null }) {
    this.clock = clock;
    this.timers = [timer].flat().filter(Boolean);
    this.bar = bar;
    this.announce = announce;
    this.onChange = onChange;
    this.room = null;
    this.lastText = null;
    this.lastBucket = undefined;
    this.handle = null;
  }

  /** Point the countdown at a new room state (deadline may have moved). */
  update(room) {
    const deadlineChanged = !this.room || this.room.deadline !== room?.deadline || this.room.round !== room?.round;
    this.room = room;
    if (deadlineChanged) this.lastBucket = undefined;
    this.render();
    if (!this.handle) this.handle = setInterval(() => this.render(), 250);
  }

  stop() {
    clearInterval(this.handle);
    this.handle = null;
  }

  render() {
    const room = this.room;
    const ms = remainingMs(room, this.clock);
    const text = formatClock(ms);
    const state = room?.phase === 'paused' ? 'paused' : ms !== null && ms <= 30_000 ? 'low' : 'normal';
    const key = `${text}|${state}`;
    if (key !== this.lastText) {
      this.lastText = key;
      for (const t of this.timers) {
        t.textContent = text;
        t.dataset.state = state;
        if (ms !== null) t.setAttribute('aria-label', state === 'paused' ? `Paused, ${spokenClock(ms)}` : spokenClock(ms));
        else t.removeAttribute('aria-label');
      }
      if (this.bar) {
        const total = Math.max(1, (room?.round_seconds || 1) * 1000);
        const frac = ms === null ? 0 : Math.min(1, ms / total);
        this.bar.style.width = `${(frac * 100).toFixed(2)}%`;
      }
      this.onChange?.(ms, room);
    }
    if (this.announce && room?.phase === 'writing' && ms !== null) {
      const bucket = ms === 0 ? 0 : ms <= 10_000 ? 10 : ms <= 30_000 ? 30 : ms <= 60_000 ? 60 : null;
      if (bucket !== this.lastBucket) {
        // The first render after a (re)load only primes the bucket: no announcement for
        // a state the person did not just cross into.
        if (this.lastBucket !== undefined && bucket !== null) {
          this.announce.textContent =
            bucket === 0 ? "Time's up." : bucket === 60 ? '1 minute left.' : `${bucket} seconds left.`;
        }
        this.lastBucket = bucket;
      }
    }
  }
}
