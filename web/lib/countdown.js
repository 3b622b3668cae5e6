// Countdown: the round's clock on every page, drawn from the room state and the server's
// clock (never a local timer that counts down: see clock.js).
//
//   new Countdown({ clock, timer, bar, announce, onChange })
//     timer:    the role="timer" element (text "4:59")
//     bar:      optional element whose width shows the fraction of the round left
//     announce: optional polite live region; told at 1 minute, 30 s, 10 s and at 0
//     onChange: optional callback (ms, room) when the text shown changes
//
// update(room) points it at a new room state (the deadline may have moved) and keeps it
// redrawing every 250 ms until stop(). It writes to the page only when the text changed.

import { remainingMs, formatClock, spokenClock } from './clock.js';
import { t } from './i18n.js';

export class Countdown {
  #clock;
  #timers;
  #bar;
  #announce;
  #onChange;
  #room = null;
  #lastText = null;
  #lastBucket = undefined;
  #handle = null;

  constructor({ clock, timer, bar = null, announce = null, onChange = null }) {
    this.#clock = clock;
    this.#timers = [timer].flat().filter(Boolean);
    this.#bar = bar;
    this.#announce = announce;
    this.#onChange = onChange;
  }

  update(room) {
    const deadlineChanged = !this.#room || this.#room.deadline !== room?.deadline || this.#room.round !== room?.round;
    this.#room = room;
    if (deadlineChanged) this.#lastBucket = undefined;
    this.#render();
    if (!this.#handle) this.#handle = setInterval(() => this.#render(), 250);
  }

  stop() {
    clearInterval(this.#handle);
    this.#handle = null;
  }

  #render() {
    const room = this.#room;
    const ms = remainingMs(room, this.#clock);
    const text = formatClock(ms);
    const state = room?.phase === 'paused' ? 'paused' : ms !== null && ms <= 30_000 ? 'low' : 'normal';
    const key = `${text}|${state}`;
    if (key !== this.#lastText) {
      this.#lastText = key;
      for (const el of this.#timers) {
        el.textContent = text;
        el.dataset.state = state;
        if (ms !== null) el.setAttribute('aria-label', state === 'paused' ? t('clock.pausedAt', { time: spokenClock(ms) }) : spokenClock(ms));
        else el.removeAttribute('aria-label');
      }
      if (this.#bar) {
        const total = Math.max(1, (room?.round_seconds || 1) * 1000);
        const frac = ms === null ? 0 : Math.min(1, ms / total);
        this.#bar.style.width = `${(frac * 100).toFixed(2)}%`;
      }
      this.#onChange?.(ms, room);
    }
    if (this.#announce && room?.phase === 'writing' && ms !== null) {
      const bucket = ms === 0 ? 0 : ms <= 10_000 ? 10 : ms <= 30_000 ? 30 : ms <= 60_000 ? 60 : null;
      if (bucket !== this.#lastBucket) {
        // The first render after a (re)load only primes the bucket: no announcement for
        // a state the person did not just cross into.
        if (this.#lastBucket !== undefined && bucket !== null) {
          this.#announce.textContent =
            bucket === 0 ? t('clock.timeUp') : bucket === 60 ? t('clock.minuteLeft') : t('clock.secondsLeft', { n: bucket });
        }
        this.#lastBucket = bucket;
      }
    }
  }
}
