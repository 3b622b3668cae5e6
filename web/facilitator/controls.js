// SessionControls: the facilitator's one-at-a-time session commands (Start, Pause, Resume,
// +1 min, Next round, Finish with its confirmation, Lock joining, Open / Close voting) and
// the hint under them.
//
// A command disables every one of these buttons until the server answers with a new `room`
// (the page calls idle()) or 4 s pass: a double click must not skip two rounds. The page
// gives it `page` ({ state, conn }) and `render`, called when the buttons come back.
// update(room) shows the buttons the phase allows and says what happens next.

import { byId, setText } from '/lib/dom.js';
import { t } from '/lib/i18n.js';
import { toast } from '/lib/ui.js';
import { poolHint } from '/facilitator/method.js';

export class SessionControls {
  #page;
  #render;
  #busy = false;
  #timer = null;
  buttons = {
    start: byId('c-start'),
    pause: byId('c-pause'),
    resume: byId('c-resume'),
    extend: byId('c-extend'),
    advance: byId('c-advance'),
    finish: byId('c-finish'),
    lock: byId('c-lock'),
    openVote: byId('v-open'),
    closeVote: byId('v-close'),
  };

  constructor({ page, render }) {
    this.#page = page;
    this.#render = render;
    const b = this.buttons;
    b.start.addEventListener('click', () => this.command('start'));
    b.pause.addEventListener('click', () => this.command('pause'));
    b.resume.addEventListener('click', () => this.command('resume'));
    b.extend.addEventListener('click', () => this.command('extend', { seconds: 60 }));
    b.advance.addEventListener('click', () => this.command('advance'));
    b.finish.addEventListener('click', () => {
      const room = this.#page.state.room;
      // In the last round finishing is what the clock would do anyway: no need to ask. A
      // pool's one session is its last round, and finishing it early is worth asking.
      if (room && room.round >= room.rounds && room.method !== 'pool') return this.command('finish');
      byId('f-confirm').hidden = false;
      byId('f-confirm-no').focus();
    });
    byId('f-confirm-yes').addEventListener('click', () => {
      byId('f-confirm').hidden = true;
      this.command('finish');
    });
    byId('f-confirm-no').addEventListener('click', () => {
      byId('f-confirm').hidden = true;
      b.finish.focus();
    });
    b.lock.addEventListener('click', () => this.command(this.#page.state.room?.locked ? 'unlock' : 'lock'));
    b.closeVote.addEventListener('click', () => this.command('close_voting'));
  }

  get busy() {
    return this.#busy;
  }

  /** Send a session command, unless one is still on its way. */
  command(type, extra = {}) {
    if (this.#busy) return;
    if (!this.#page.conn?.send({ type, ...extra })) {
      toast(t('common.notConnected'), 'error');
      return;
    }
    this.#setBusy(true);
  }

  /** The server answered (a new room state, or an error): the buttons are back. */
  idle() {
    if (this.#busy) this.#setBusy(false);
  }

  #setBusy(on) {
    this.#busy = on;
    clearTimeout(this.#timer);
    if (on) this.#timer = setTimeout(() => this.#setBusy(false), 4000);
    for (const b of Object.values(this.buttons)) b.disabled = on || b.dataset.off === 'true';
    if (!on) this.#render();
  }

  /** Show a button or not, and let it be pressed or not (never while a command is out). */
  show(btn, visible, enabled = true) {
    btn.hidden = !visible;
    btn.dataset.off = String(!enabled);
    btn.disabled = this.#busy || !enabled;
  }

  update(room) {
    const { buttons } = this;
    const p = room.phase;
    const lastRound = room.round >= room.rounds;
    this.show(buttons.start, p === 'lobby', room.participants >= 2);
    this.show(buttons.pause, p === 'writing');
    this.show(buttons.resume, p === 'paused');
    this.show(buttons.extend, p === 'writing' || p === 'paused');
    this.show(buttons.advance, (p === 'writing' || p === 'paused') && !lastRound);
    this.show(buttons.finish, p === 'writing' || p === 'paused');
    if (p === 'lobby' || p === 'finished') byId('f-confirm').hidden = true;
    setText('f-hint', poolHint(room) ?? hint(room, lastRound));
  }
}

function hint(room, lastRound) {
  switch (room.phase) {
    case 'lobby':
      if (room.participants < 2) return room.participants ? t('hint.waitingSoFar', { n: room.participants }) : t('hint.waiting');
      return t('hint.ready', { people: t('n.people', { n: room.participants }), rounds: t('n.rounds', { n: room.rounds }) });
    case 'writing':
      return lastRound ? t('hint.lastRound') : t('hint.writing');
    case 'paused':
      return t('hint.paused');
    case 'finished':
      return room.stage === 'voting' ? t('hint.voting') : room.stage === 'results' ? t('hint.results') : t('hint.finished');
    default:
      return '';
  }
}
