// Writer: the participant's writing view (#w-… in participant.html) and the draft behind it.
//
// Drafts are sacred: every keystroke lands in localStorage at once, and goes to the server
// as a debounced `write` that is kept until acknowledged and resent after a reconnect. A
// reloaded page keeps any slot that was changed here but not yet acknowledged over the
// server's copy. A slot is its text and the idea it builds on (`builds_on`): both travel in
// every write of that slot.
//
// The Writer owns the draft, its write timers, the form built for a round and "Done" (sent,
// wanted while offline, or taken back with "Keep editing"). The page owns the connection and
// the room state: it hands the Writer `page` ({ state, conn, view }) and a `render` callback.
//
// A draft belongs to one turn: a round and the sheet held in it. In 6-3-5 a new round brings
// a new sheet; in a brainwriting pool (participant/pool.js) the round stays 1 and the sheet
// changes at each swap.

import { h, byId, setText, replace } from '/lib/dom.js';
import { t } from '/lib/i18n.js';
import { load, save, remove, keys } from '/lib/storage.js';
import { remainingMs } from '/lib/clock.js';
import { currentSheet, errorText } from '/lib/state.js';
import { toast, rowsList, rowsIndex, buildsOnLine } from '/lib/ui.js';
import { shortIdea } from '/lib/text.js';

const WRITE_DEBOUNCE_MS = 350;

export class Writer {
  #code;
  #page;
  #render;
  #clock;
  #draft; // { round, sheet, texts: [], links: [], dirty: [] }
  #timers = [];
  #inflight = new Map(); // slot → the promise of its write on the way
  #held = false; // fields read-only whatever the clock says (a pool's swap on its way)
  #builtRound = null; // turn (round and sheet) the form was built for
  #savedOnce = false;
  #rejected = null; // the last write the server refused this round, to say so honestly
  #lastSlot = 0; // the idea box last focused, for "Build on this"
  #localDone = null; // round for which Done was pressed and not yet confirmed by `me`
  #wantDone = null; // round whose `done` could not be sent (offline)
  #editingAfterDone = false;

  /** The line above the clock; a pool page puts its own (participant/pool.js). */
  roundLabel = (room) => t('phase.round', { round: room.round, rounds: room.rounds });

  constructor({ code, page, clock, render }) {
    this.#code = code;
    this.#page = page;
    this.#clock = clock;
    this.#render = render;
    this.#draft = code ? load(keys.draft(code)) : null;
    if (this.#draft && !Array.isArray(this.#draft.links)) this.#draft.links = (this.#draft.texts || []).map(() => null);

    byId('w-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const { room } = this.#page.state;
      if (!room || room.phase !== 'writing') return;
      this.flushAll();
      this.#editingAfterDone = false;
      if (this.#page.conn.send({ type: 'done', round: room.round })) {
        this.#localDone = room.round;
      } else {
        this.#wantDone = room.round;
        toast(t('write.offlineDone'), 'info');
      }
      this.#render();
    });
    byId('w-edit').addEventListener('click', () => {
      this.#editingAfterDone = true;
      this.#render();
      document.getElementById('idea-0')?.focus();
    });
  }

  /** Forget the draft here and on this device (removed, or a seat that no longer exists). */
  discard() {
    for (const t of this.#timers) clearTimeout(t);
    remove(keys.draft(this.#code));
    this.#draft = null;
  }

  /** `me` arrived: Done is confirmed (or not), and a Done wanted while offline goes now. */
  onMe(msg) {
    const { room } = this.#page.state;
    this.#localDone = null;
    if (this.#wantDone !== null && !msg.done && room?.phase === 'writing' && room.round === this.#wantDone) {
      if (this.#page.conn.send({ type: 'done', round: this.#wantDone })) this.#localDone = this.#wantDone;
    }
    this.#wantDone = null;
    if (!msg.done) this.#editingAfterDone = false;
  }

  /**
   * A sheet arrived (new round, or a resume): merge its draft with what this device holds.
   * True when it is a new sheet after one held here earlier (the sheet passed).
   */
  onSheet(msg) {
    const n = this.#page.state.room?.ideas_per_round ?? msg.draft?.length ?? 3;
    const server = Array.from({ length: n }, (_, i) => (typeof msg.draft?.[i] === 'string' ? msg.draft[i] : ''));
    const serverLinks = Array.from({ length: n }, (_, i) => (msg.links?.[i] ? String(msg.links[i]) : null));
    let passed = false;
    const draft = this.#draft;
    const sheet = msg.sheet?.id ?? null;
    // A draft kept from before drafts knew their sheet belongs to the round's sheet.
    const sameTurn = draft && draft.round === msg.round && (draft.sheet === undefined || draft.sheet === sheet);
    if (!sameTurn) {
      passed = !!(draft && draft.round > 0 && draft.round <= msg.round);
      // Writes for an earlier turn can no longer land; stop retrying them.
      const prefix = `w:${turnKey(msg.round, sheet)}:`;
      this.#page.conn.forget((key) => key.startsWith('w:') && !key.startsWith(prefix));
      for (const t of this.#timers) clearTimeout(t);
      this.#draft = { round: msg.round, sheet, texts: server, links: serverLinks, dirty: server.map(() => false) };
      this.#editingAfterDone = false;
      this.#savedOnce = false;
      this.#rejected = null;
    } else {
      // Same turn (a reconnect or reload): the server's copy wins unless this device has an
      // edit it has not confirmed yet, which goes again.
      draft.sheet = sheet;
      draft.texts.length = n;
      draft.dirty.length = n;
      draft.links.length = n;
      for (let i = 0; i < n; i++) {
        if (draft.dirty[i]) this.#scheduleWrite(i, 0);
        else {
          draft.texts[i] = server[i];
          draft.links[i] = serverLinks[i];
        }
      }
    }
    this.#saveDraft();
    return passed;
  }

  #saveDraft() {
    if (this.#draft) save(keys.draft(this.#code), this.#draft);
  }

  // ---------- writes ----------

  #scheduleWrite(i, delay = WRITE_DEBOUNCE_MS) {
    clearTimeout(this.#timers[i]);
    this.#timers[i] = setTimeout(() => this.#flushWrite(i), delay);
  }

  #flushWrite(i) {
    clearTimeout(this.#timers[i]);
    this.#timers[i] = null;
    const draft = this.#draft;
    const conn = this.#page.conn;
    if (!draft || !draft.dirty[i] || !conn) return;
    const { round, sheet } = draft;
    const text = draft.texts[i];
    const link = draft.links[i] ?? null;
    // A write sets the whole slot: its text and the idea it builds on (left out when none).
    const msg = { type: 'write', slot: i, text, round };
    if (link) msg.builds_on = link;
    // The sheet this draft is for: a write that arrives after it changed hands is refused.
    if (sheet) msg.sheet = sheet;
    const sent = conn.sendReliable(msg, `w:${turnKey(round, sheet)}:${i}`).then((res) => {
      if (this.#inflight.get(i) === sent) this.#inflight.delete(i);
      const d = this.#draft;
      if (!d || d.round !== round || (d.sheet ?? null) !== (sheet ?? null)) return res;
      const same = d.texts[i] === text && (d.links[i] ?? null) === link;
      if (res.ok) {
        if (same) d.dirty[i] = false;
        this.#savedOnce = true;
        this.#rejected = null;
        this.#saveDraft();
      } else if (res.error) {
        // Rejected: retrying would be rejected again. Keep the text on screen and say why.
        if (same) d.dirty[i] = false;
        this.#rejected = res.error;
        this.#saveDraft();
        if (!(res.error.code === 'not_writing' && this.#page.state.room?.phase !== 'writing')) toast(errorText(res.error), 'error');
      }
      this.saveState();
      return res;
    });
    this.#inflight.set(i, sent);
    this.saveState();
  }

  /** Send every slot changed here and not yet sent (before Done or leaving). */
  flushAll() {
    if (!this.#draft) return;
    for (let i = 0; i < this.#draft.texts.length; i++) if (this.#draft.dirty[i]) this.#flushWrite(i);
  }

  /**
   * Send what is not sent yet and wait for the answers of every write on its way. Resolves
   * null when the server has every slot, else the error of a refused write (or `superseded`
   * when one was typed over meanwhile).
   */
  async settled() {
    this.flushAll();
    for (;;) {
      const pending = [...this.#inflight.values()];
      if (!pending.length) break;
      const results = await Promise.all(pending);
      const bad = results.find((r) => !r.ok && !r.superseded);
      if (bad) return bad.error ?? { code: 'not_writing' };
    }
    return this.#draft?.dirty.some(Boolean) ? { superseded: true } : null;
  }

  /** Keep the fields read-only (true) whatever the clock says, or let lock() decide again. */
  hold(on) {
    this.#held = on;
    this.lock();
  }

  // ---------- the form ----------

  // Ideas are single lines on the wire (the server strips control characters), so Enter moves
  // on to the next box and pasted line breaks become spaces.
  #onIdeaKey = (ev) => {
    if (ev.key !== 'Enter' || ev.isComposing) return;
    ev.preventDefault();
    const i = Number(ev.target.dataset.slot);
    const next = document.getElementById(`idea-${i + 1}`);
    if (next) next.focus();
    else byId('w-done-btn').focus();
  };

  #onIdeaInput = (ev) => {
    const ta = ev.target;
    const i = Number(ta.dataset.slot);
    if (/[\r\n]/.test(ta.value)) {
      const pos = ta.selectionStart;
      ta.value = ta.value.replace(/\r\n|[\r\n]/g, ' ');
      ta.setSelectionRange(pos, pos);
    }
    autosize(ta);
    updateCounter(ta);
    if (!this.#draft) return;
    this.#draft.texts[i] = ta.value;
    this.#draft.dirty[i] = true;
    this.#saveDraft();
    this.#scheduleWrite(i);
    this.saveState();
  };

  #onLinkChange = (ev) => this.#setLink(Number(ev.target.dataset.slot), ev.target.value);

  /** Build the form for this round's sheet, once per round. */
  build(sheet) {
    const turn = turnKey(sheet.round, sheet.sheet?.id);
    if (this.#builtRound === turn) return false;
    const room = this.#page.state.room;
    const draft = this.#draft;
    this.#builtRound = turn;
    const rows = sheet.sheet.rows || [];
    const earlier = [];
    rows.forEach((r, ri) => (r.ideas || []).forEach((idea) => earlier.push({ ...idea, row: ri })));
    setText('w-sheet-title', rows.length ? t('write.sheetSoFar') : t('write.sheet'));
    replace(
      byId('w-rows'),
      rows.length
        ? rowsList(rows, {
            // Named "Build on this" plus the idea's text, without repeating the text in the page.
            action: (idea, textId) =>
              h(
                'button',
                {
                  type: 'button',
                  id: `bo-${textId}`,
                  class: 'btn btn-ghost btn-sm build-btn',
                  'aria-labelledby': `bo-${textId}-l ${textId}`,
                  on: { click: () => this.#buildOn(idea.id) },
                },
                h('span', { 'aria-hidden': 'true' }, '↳ '),
                h('span', { id: `bo-${textId}-l` }, t('write.buildOn')),
              ),
          })
        : h('p', { class: 'empty-sheet' }, t('write.emptySheet')),
    );
    const n = room.ideas_per_round;
    const fields = [];
    for (let i = 0; i < n; i++) {
      const ta = h('textarea', {
        id: `idea-${i}`,
        class: 'idea-box',
        rows: '2',
        maxlength: '500',
        enterkeyhint: i === n - 1 ? 'done' : 'next',
        autocomplete: 'off',
        dataset: { slot: String(i) },
        'aria-describedby': `idea-${i}-count`,
        on: { input: this.#onIdeaInput, keydown: this.#onIdeaKey, blur: () => this.#flushWrite(i), focus: () => (this.#lastSlot = i) },
      });
      ta.value = draft?.texts[i] ?? '';
      let link = null;
      if (earlier.length) {
        const select = h(
          'select',
          { id: `link-${i}`, class: 'link-select', dataset: { slot: String(i) }, on: { change: this.#onLinkChange } },
          h('option', { value: '' }, t('write.newIdea')),
          earlier.map((idea) => h('option', { value: idea.id }, t('write.rowIdea', { i: idea.row + 1, text: shortIdea(idea.text) }))),
        );
        select.value = draft?.links[i] ?? '';
        link = h('div', { class: 'link-field' }, h('label', { for: `link-${i}` }, t('write.ideaBuildsOn', { i: i + 1 })), select);
      }
      fields.push(
        h(
          'div',
          { class: 'idea-field' },
          h('label', { for: `idea-${i}` }, t('write.idea', { i: i + 1 })),
          ta,
          h('p', { class: 'hint counter', id: `idea-${i}-count`, hidden: true }),
          link,
        ),
      );
    }
    replace(byId('w-fields'), fields);
    for (const ta of byId('w-fields').querySelectorAll('textarea')) {
      autosize(ta);
      updateCounter(ta);
    }
    return true;
  }

  /** A slot now builds on another idea (or on nothing): send the whole slot again. */
  #setLink(i, id) {
    const draft = this.#draft;
    if (!draft) return;
    const link = id || null;
    if ((draft.links[i] ?? null) === link) return;
    draft.links[i] = link;
    draft.dirty[i] = true;
    this.#saveDraft();
    this.#scheduleWrite(i, 0);
    this.saveState();
  }

  /**
   * "Build on this" next to an earlier idea: the first empty idea box that builds on nothing
   * yet gets the link (else the box last used), and the cursor goes there.
   */
  #buildOn(ideaId) {
    const draft = this.#draft;
    const room = this.#page.state.room;
    if (!draft || !room) return;
    const n = room.ideas_per_round;
    let slot = -1;
    for (let i = 0; i < n && slot < 0; i++) if (!draft.texts[i]?.trim() && !draft.links[i]) slot = i;
    if (slot < 0) slot = Math.min(this.#lastSlot, n - 1);
    this.#setLink(slot, ideaId);
    const select = document.getElementById(`link-${slot}`);
    if (select) select.value = ideaId;
    const ta = document.getElementById(`idea-${slot}`);
    if (ta && !ta.readOnly) {
      ta.focus();
      ta.scrollIntoView({ block: 'center', behavior: 'smooth' });
    }
  }

  /** Refresh text boxes and links from the draft (after a resume), leaving the focused one alone. */
  #syncFields() {
    const draft = this.#draft;
    if (!draft) return;
    for (let i = 0; i < draft.texts.length; i++) {
      const ta = document.getElementById(`idea-${i}`);
      if (ta && document.activeElement !== ta && ta.value !== draft.texts[i]) {
        ta.value = draft.texts[i];
        autosize(ta);
        updateCounter(ta);
      }
      const select = document.getElementById(`link-${i}`);
      const want = draft.links[i] ?? '';
      if (select && document.activeElement !== select && select.value !== want) select.value = want;
    }
  }

  // ---------- drawing ----------

  /** Draw the writing view for this round's sheet (the page shows it and starts the clock). */
  render(sheet) {
    const { room, me } = this.#page.state;
    const draft = this.#draft;
    if (!this.build(sheet)) this.#syncFields();
    setText('w-topic', room.topic);
    setText('w-round', this.roundLabel(room));
    setText('w-done', room.seated ? t('common.doneOf', { done: room.done, seated: room.seated }) : '');
    const done = (me?.done || this.#localDone === room.round) && !this.#editingAfterDone;
    byId('w-form').hidden = done;
    byId('w-donecard').hidden = !done;
    const others = Math.max(0, room.seated - room.done);
    if (done && draft) {
      const index = rowsIndex(currentSheet(this.#page.state)?.sheet.rows);
      const mine = draft.texts.map((t, i) => ({ text: t, builds_on: draft.links[i] })).filter((x) => x.text.trim());
      replace(
        byId('w-my-row'),
        mine.length ? mine.map((x) => h('li', null, x.text, buildsOnLine(x, index))) : h('li', { class: 'empty' }, t('write.noIdeasRound')),
      );
    }
    setText('w-done-wait', others ? t('write.waitingOthers', { n: others }) : t('part.passing'));
    this.saveState();
  }

  /** Text boxes are read-only while paused and once the clock reached zero. */
  lock() {
    const room = this.#page.state.room;
    if (!room || this.#page.view !== 'write') return;
    const ms = remainingMs(room, this.#clock);
    const timeUp = room.phase === 'writing' && ms === 0;
    const locked = room.phase !== 'writing' || timeUp || this.#held;
    byId('w-timeup').hidden = !timeUp;
    byId('w-paused').hidden = room.phase !== 'paused';
    for (const ta of byId('w-fields').querySelectorAll('textarea')) if (ta.readOnly !== locked) ta.readOnly = locked;
    for (const el of byId('w-fields').querySelectorAll('select')) if (el.disabled !== locked) el.disabled = locked;
    for (const b of byId('w-rows').querySelectorAll('.build-btn')) if (b.disabled !== locked) b.disabled = locked;
    for (const b of byId('w-form').querySelectorAll('button')) if (b.disabled !== locked) b.disabled = locked;
  }

  /** "Saving…", "✓ Saved", "Not sent yet…" under the boxes. */
  saveState() {
    const el = document.getElementById('w-save');
    const draft = this.#draft;
    if (!el || !draft) return;
    const dirty = draft.dirty.some(Boolean);
    let text;
    let st;
    if (dirty && this.#page.conn?.status === 'open') {
      text = t('write.saving');
      st = 'saving';
    } else if (dirty) {
      text = t('write.notSent');
      st = 'offline';
    } else if (this.#rejected) {
      text = t('write.notSaved', { why: errorText(this.#rejected) });
      st = 'offline';
    } else if (this.#savedOnce || draft.texts.some((t) => t)) {
      text = t('write.saved');
      st = 'saved';
    } else {
      text = t('write.idle');
      st = 'idle';
    }
    el.dataset.state = st;
    setText(el, text);
  }
}

/** What names a turn in write keys: the round, and the sheet when it is known. */
function turnKey(round, sheet) {
  return sheet ? `${round}:${sheet}` : `${round}`;
}

function autosize(ta) {
  ta.style.height = 'auto';
  ta.style.height = `${Math.max(84, ta.scrollHeight + 3)}px`;
}

function updateCounter(ta) {
  const c = document.getElementById(`${ta.id}-count`);
  if (!c) return;
  const left = 500 - ta.value.length;
  c.hidden = left > 100;
  setText(c, t('write.charsLeft', { n: left }));
  if (left <= 20) c.dataset.near = '';
  else delete c.dataset.near;
}
