// PoolWriting: a phone in a brainwriting pool (docs/protocol.md, "Brainwriting pool").
//
// The writing view and its draft are the Writer's, as in 6-3-5 (participant/writer.js). A pool
// adds, on the same view:
// - "Put in the pool and take another": the fields are held read-only, every write still on
//   its way is sent and acknowledged, and only then `swap` goes (reliably, naming the sheet).
// - The answer: a new `sheet`, announced in a polite live region and for a moment on screen;
//   or `me.waiting`, a waiting state ("no sheet for you yet") until the server hands one out.
// - The session clock and its label in place of "Round n of m"; "Done" means done for the
//   whole session.
//
// The page calls onMe / onSheet for every `me` and `sheet` message and, in a pool room,
// render(setView) instead of drawing the writing view itself.

import { byId, setText } from '/lib/dom.js';
import { t } from '/lib/i18n.js';
import { currentSheet, countIdeas, errorText } from '/lib/state.js';
import { toast } from '/lib/ui.js';

const NEW_SHEET_MS = 4000;

export class PoolWriting {
  #page;
  #writer;
  #countdown;
  #render;
  #waiting = false; // the server said no sheet may come to us yet
  #gone = null; // id of the sheet we put back, until another arrives
  #swapping = false; // a swap is on its way (writes settling, or the swap itself)
  #noticeTimer = null;

  constructor({ page, writer, countdown, render }) {
    this.#page = page;
    this.#writer = writer;
    this.#countdown = countdown;
    this.#render = render;
    writer.roundLabel = (room) => (this.active ? t('pool.clock') : t('phase.round', { round: room.round, rounds: room.rounds }));
    byId('w-swap').addEventListener('click', () => this.#swap());
  }

  /** The room is a brainwriting pool. */
  get active() {
    return this.#page.state.room?.method === 'pool';
  }

  onMe(msg) {
    if (!this.active) return;
    const waiting = !!msg.waiting;
    if (waiting && !this.#waiting) this.#say(`${t('pool.waitTitle')} ${t('pool.waitText')}`);
    this.#waiting = waiting;
    if (waiting) this.#settle();
  }

  /**
   * A sheet arrived; `passed` is the Writer's word that it follows another. Returns whether
   * the page shows its "Sheet passed" moment: never in a pool, where the new sheet is
   * announced in place.
   */
  onSheet(msg, passed) {
    if (!this.active) return passed;
    this.#waiting = false;
    if (passed || this.#swapping) {
      const ideas = countIdeas([msg.sheet]);
      const text = ideas ? t('pool.newSheet', { ideas: t('n.ideas', { n: ideas }) }) : t('pool.newEmpty');
      this.#say(text);
      const note = byId('w-pool-new');
      setText(note, text);
      note.hidden = false;
      clearTimeout(this.#noticeTimer);
      this.#noticeTimer = setTimeout(() => (note.hidden = true), NEW_SHEET_MS);
      // The keyboard goes to the top of the new sheet, not to a button that was redrawn.
      const active = document.activeElement;
      if (!active || active === document.body || byId('w-form').contains(active)) {
        setTimeout(() => byId('w-sheet-title').focus(), 0);
      }
    }
    this.#settle();
    return false;
  }

  /** Draw the pool's writing view; `setView` is the page's. */
  render(setView) {
    const { state } = this.#page;
    const { room } = state;
    const sheet = currentSheet(state);
    const holding = !!sheet && !this.#waiting && sheet.sheet.id !== this.#gone;
    this.#countdown.update(room);
    if (!holding && !this.#waiting && !this.#gone) return setView('loading');
    if (holding) this.#writer.render(sheet);
    setText('w-topic', room.topic);
    setText('w-round', t('pool.clock'));
    setText('w-timeup-text', t('part.collecting'));
    byId('w-work').hidden = !holding;
    byId('w-pool-wait').hidden = holding;
    setText('w-pool-wait-title', this.#waiting ? t('pool.waitTitle') : t('pool.taking'));
    setText('w-pool-wait-text', this.#waiting ? t('pool.waitText') : '');
    const swap = byId('w-swap');
    swap.hidden = false;
    setText(swap, this.#swapping ? t('pool.swapping') : t('pool.swap'));
    if (this.#swapping) swap.setAttribute('aria-busy', 'true');
    else swap.removeAttribute('aria-busy');
    const done = byId('w-done-btn');
    setText(done, t('pool.done'));
    done.classList.replace('btn-primary', 'btn-secondary');
    setView('write');
    this.#writer.lock();
  }

  async #swap() {
    const { state, conn } = this.#page;
    const sheet = currentSheet(state);
    if (this.#swapping || !sheet || state.room?.phase !== 'writing') return;
    if (!conn?.isOpen) {
      toast(t('common.notConnected'), 'error');
      return;
    }
    this.#swapping = true;
    this.#writer.hold(true);
    this.#render();
    // What is typed goes first: the server makes the draft the sheet's row at the swap.
    const err = await this.#writer.settled();
    if (err) return this.#fail(err.superseded ? null : err);
    const id = sheet.sheet.id;
    this.#gone = id; // the next sheet may arrive before the swap's ack
    const res = await conn.sendReliable({ type: 'swap', sheet: id }, `swap:${id}`);
    if (!res.ok && !res.dropped) return this.#fail(res.error);
    this.#render();
  }

  #fail(err) {
    this.#gone = null;
    this.#settle();
    const room = this.#page.state.room;
    if (err && !(err.code === 'not_writing' && room?.phase !== 'writing')) toast(errorText(err), 'error');
    this.#render();
  }

  /** The swap has its answer (a sheet, waiting, or an error): the fields are the clock's again. */
  #settle() {
    if (!this.#swapping) return;
    this.#swapping = false;
    this.#writer.hold(false);
  }

  #say(text) {
    const el = byId('w-pool-announce');
    // The same words twice must be said twice: clear first, then set.
    el.textContent = '';
    setTimeout(() => setText(el, text), 100);
  }
}
