// Sketcher: the participant's writing view in a C-Sketch room (docs/protocol.md, "Methods"),
// in place of the Writer's text boxes: the sheet's layers under a drawing pad, undo, what the
// layer has left, the caption line, Done.
//
// The draft is this device's: every stroke lands in localStorage at once (so a reload finds
// it), and goes to the server as a `draw` (or an `undo`). Draws and undos are not idempotent,
// so they travel one at a time, and each `ack` says how many strokes the server's layer now
// holds: that count, with what the `sheet` message says on every (re)join, tells the Sketcher
// what the server has, and it sends the difference (undo what the server has and this device
// does not, then draw what it lacks). A draw resent after a reconnect that had already landed
// shows up as one stroke too many and is taken back. The caption is slot 0, sent as a
// debounced `write` like the Writer's.
//
// The page owns the connection and the room state; it hands the Sketcher `page` and `render`
// and calls the same methods as on the Writer (onSheet, onMe, build, render, lock, saveState,
// flushAll, discard).

import { h, byId, setText, replace } from '/lib/dom.js';
import { t } from '/lib/i18n.js';
import { load, save, remove, keys } from '/lib/storage.js';
import { remainingMs } from '/lib/clock.js';
import { errorText } from '/lib/state.js';
import { toast } from '/lib/ui.js';
import { budget, cleanSketch, legend, sheetLayers, swatch, LIMITS } from '/lib/sketch.js';

const CAPTION_DEBOUNCE_MS = 350;
const RETRY_MS = 1500;
const MAX_RESYNCS = 3;

const sameStroke = (a, b) => a === b || (a.length === b.length && a.every((v, i) => v === b[i]));
const sameLayer = (a, b) => !!a && !!b && a.length === b.length && a.every((s, i) => sameStroke(s, b[i]));

export class Sketcher {
  #code;
  #page;
  #render;
  #clock;
  #draft; // { round, sheet, strokes: [[…]], groups: [n], lastGroup, caption, captionDirty }
  #server = null; // the layer on the server, as far as this page knows; null: not known
  #unsure = false; // an ack's count did not add up: ask for a fresh `sheet`
  #op = null; // the one draw or undo on its way: { kind, points }
  #ops = 0;
  #retry = null;
  #blocked = null; // the room state in which the server said not_writing
  #dead = false; // the server refused sketches here (wrong_method)
  #resyncs = 0;
  #timer = null; // the caption's write
  #under = []; // the layers already on the held sheet
  #builtRound = null;
  #savedOnce = false;
  #rejected = null;
  #localDone = null; // round for which Done was pressed and not yet confirmed by `me`
  #doneAfterSync = null; // round whose `done` goes once every stroke is in
  #editingAfterDone = false;
  #el = null;

  constructor({ code, page, clock, render }) {
    this.#code = code;
    this.#page = page;
    this.#clock = clock;
    this.#render = render;
    const d = code ? load(keys.sketch(code)) : null;
    this.#draft = d && Array.isArray(d.strokes) ? { ...d, strokes: cleanSketch(d.strokes), groups: Array.isArray(d.groups) ? d.groups : d.strokes.map((_, i) => i + 1) } : null;
  }

  // ---------- the view ----------

  #ensure() {
    if (this.#el) return this.#el;
    const el = {
      title: h('h2', { class: 'section-title', id: 'sk-sheet-title' }),
      legend: h('div', { id: 'sk-legend' }),
      hint: h('p', { class: 'hint sketch-hint', id: 'sk-hint' }),
      pad: h('bw-sketch-pad', { id: 'sk-pad' }),
      undo: h('button', { type: 'button', class: 'btn btn-secondary btn-sm', id: 'sk-undo' }, h('span', { 'aria-hidden': 'true' }, '↶ '), t('sketch.undo')),
      left: h('span', { class: 'sketch-left', id: 'sk-left' }),
      caption: h('input', { id: 'sk-caption', type: 'text', maxlength: '500', autocomplete: 'off', enterkeyhint: 'done', 'aria-describedby': 'sk-caption-hint' }),
      save: h('p', { class: 'save-state', id: 'sk-save', 'aria-live': 'polite' }),
      done: h('button', { type: 'submit', class: 'btn btn-primary btn-lg btn-block', id: 'sk-done' }, t('part.done')),
      mine: h('p', { id: 'sk-mine' }),
      wait: h('p', { id: 'sk-done-wait' }),
      edit: h('button', { type: 'button', class: 'btn btn-secondary', id: 'sk-edit' }, t('part.keepEditing')),
    };
    el.tools = h('div', { class: 'sketch-tools' }, el.undo, el.left);
    el.form = h(
      'form',
      { id: 'sk-form', novalidate: true },
      h('div', { class: 'idea-field' }, h('label', { for: 'sk-caption' }, t('sketch.caption')), el.caption, h('p', { class: 'hint', id: 'sk-caption-hint' }, t('sketch.captionHint'))),
      el.save,
      el.done,
    );
    el.donecard = h('div', { class: 'notice notice-ok', id: 'sk-donecard', hidden: true }, h('div', null, h('strong', null, t('sketch.rowIn')), el.mine, el.wait, el.edit));
    const host = byId('w-sketch');
    replace(host, el.title, el.legend, el.hint, el.pad, el.tools, el.form, el.donecard);
    host.hidden = false;
    byId('w-text').hidden = true;

    el.pad.addEventListener('stroke', (ev) => this.#addStrokes(ev.detail.strokes));
    el.pad.addEventListener('full', () => toast(t('sketch.full'), 'info'));
    el.undo.addEventListener('click', () => this.#undo());
    el.caption.addEventListener('input', () => {
      const d = this.#draft;
      if (!d) return;
      d.caption = el.caption.value;
      d.captionDirty = true;
      this.#save();
      this.#scheduleCaption();
      this.saveState();
    });
    el.caption.addEventListener('blur', () => this.#flushCaption());
    el.caption.addEventListener('keydown', (ev) => {
      // One line; Enter sends it and moves on to Done rather than pressing Done.
      if (ev.key !== 'Enter' || ev.isComposing) return;
      ev.preventDefault();
      el.done.focus();
    });
    el.form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.#done();
    });
    el.edit.addEventListener('click', () => {
      this.#editingAfterDone = true;
      this.#render();
      el.caption.focus();
    });
    this.#el = el;
    return el;
  }

  /** Build the view for this round's sheet, once per round. */
  build(sheet) {
    const el = this.#ensure();
    if (this.#builtRound === sheet.round) return false;
    this.#builtRound = sheet.round;
    const rows = sheet.sheet.rows || [];
    this.#under = sheetLayers(rows);
    setText(el.title, rows.length ? t('write.sheetSoFar') : t('write.sheet'));
    replace(el.legend, this.#under.length ? legend(this.#under) : null);
    replace(el.hint, swatch(sheet.round), h('span', null, t(this.#under.length ? 'sketch.hint' : 'sketch.hintFirst')));
    el.caption.value = this.#draft?.round === sheet.round ? this.#draft.caption : '';
    return true;
  }

  /** Draw the view for this round's sheet (the page shows it and starts the clock). */
  render(sheet) {
    const el = this.#ensure();
    this.build(sheet);
    const { room, me } = this.#page.state;
    const d = this.#draft;
    setText('w-topic', room.topic);
    setText('w-round', t('phase.round', { round: room.round, rounds: room.rounds }));
    setText('w-done', room.seated ? t('common.doneOf', { done: room.done, seated: room.seated }) : '');
    const done = (me?.done || this.#localDone === room.round) && !this.#editingAfterDone;
    el.form.hidden = done;
    el.tools.hidden = done;
    el.donecard.hidden = !done;
    if (d && document.activeElement !== el.caption && el.caption.value !== d.caption) el.caption.value = d.caption;
    if (done) {
      const nothing = !d || (!d.strokes.length && !d.caption.trim());
      replace(el.mine, nothing ? t('sketch.nothing') : d.caption.trim() ? h('q', null, d.caption) : null);
    }
    const others = Math.max(0, room.seated - room.done);
    setText(el.wait, others ? t('write.waitingOthers', { n: others }) : t('part.passing'));
    this.#showPad(done);
    this.saveState();
    this.#sync();
  }

  #locked() {
    const room = this.#page.state.room;
    if (!room) return true;
    return room.phase !== 'writing' || remainingMs(room, this.#clock) === 0;
  }

  #showPad(done = !this.#el.donecard.hidden) {
    const el = this.#el;
    const d = this.#draft;
    const strokes = d?.strokes || [];
    const locked = this.#locked();
    el.pad.update({ under: this.#under, round: this.#page.state.room?.round ?? 1, strokes, locked: locked || done });
    const left = budget(strokes);
    const ink = Math.round((left.points / LIMITS.points) * 100);
    setText(el.left, left.full ? t('sketch.full') : ink < 50 ? t('sketch.leftInk', { strokes: t('sketch.strokesLeft', { n: left.strokes }), pct: ink }) : t('sketch.strokesLeft', { n: left.strokes }));
    el.left.dataset.state = left.full ? 'full' : left.strokes <= 10 || ink < 25 ? 'low' : '';
    el.undo.disabled = locked || !strokes.length;
    el.caption.readOnly = locked;
    el.done.disabled = locked;
  }

  /** The pad and the caption are read-only while paused and once the clock reached zero. */
  lock() {
    const room = this.#page.state.room;
    if (!room || this.#page.view !== 'write' || !this.#el) return;
    const timeUp = room.phase === 'writing' && remainingMs(room, this.#clock) === 0;
    byId('w-timeup').hidden = !timeUp;
    byId('w-paused').hidden = room.phase !== 'paused';
    this.#showPad();
  }

  /** "Saving…", "✓ Saved", "Not sent yet…" under the caption. */
  saveState() {
    const el = this.#el;
    const d = this.#draft;
    if (!el || !d) return;
    const dirty = d.captionDirty || !!this.#op || !sameLayer(d.strokes, this.#server);
    let text;
    let st;
    if (dirty && this.#page.conn?.status === 'open') [text, st] = [t('write.saving'), 'saving'];
    else if (dirty) [text, st] = [t('write.notSent'), 'offline'];
    else if (this.#rejected) [text, st] = [t('write.notSaved', { why: errorText(this.#rejected) }), 'offline'];
    else if (this.#savedOnce || d.strokes.length || d.caption) [text, st] = [t('write.saved'), 'saved'];
    else [text, st] = [t('sketch.idle'), 'idle'];
    el.save.dataset.state = st;
    setText(el.save, text);
  }

  // ---------- the draft ----------

  #save() {
    if (this.#draft) save(keys.sketch(this.#code), this.#draft);
  }

  /** Forget the draft here and on this device (removed, or a seat that no longer exists). */
  discard() {
    clearTimeout(this.#timer);
    clearTimeout(this.#retry);
    remove(keys.sketch(this.#code));
    this.#draft = null;
    this.#server = null;
    this.#op = null;
  }

  #addStrokes(parts) {
    const d = this.#draft;
    if (!d || this.#locked()) return;
    const group = (d.lastGroup || 0) + 1;
    d.lastGroup = group;
    d.strokes = [...d.strokes, ...parts];
    d.groups = [...d.groups, ...parts.map(() => group)];
    this.#changed();
  }

  /** Take back the last stroke (all parts of a long one). */
  #undo() {
    const d = this.#draft;
    if (!d || !d.strokes.length || this.#locked()) return;
    const group = d.groups.at(-1);
    let n = d.strokes.length;
    while (n > 0 && d.groups[n - 1] === group) n--;
    d.strokes = d.strokes.slice(0, n);
    d.groups = d.groups.slice(0, n);
    this.#changed();
  }

  #changed() {
    this.#rejected = null;
    this.#save();
    this.#sync();
    this.#render();
  }

  // ---------- to the server ----------

  /**
   * A sheet arrived (new round, or a resume): it says what the server's layer holds.
   * True when it is a new sheet after one held here earlier (the sheet passed).
   */
  onSheet(msg) {
    const server = cleanSketch(msg.sketch);
    const caption = typeof msg.draft?.[0] === 'string' ? msg.draft[0] : '';
    let passed = false;
    const d = this.#draft;
    if (!d || d.round !== msg.round) {
      passed = !!(d && d.round > 0 && d.round < msg.round);
      // Strokes and captions for an earlier round can no longer land.
      this.#page.conn.forget((key) => !key.startsWith(`w:${msg.round}:`) && !key.startsWith(`sk:${msg.round}:`));
      clearTimeout(this.#timer);
      clearTimeout(this.#retry);
      this.#op = null;
      this.#draft = { round: msg.round, sheet: msg.sheet?.id ?? null, strokes: server, groups: server.map((_, i) => i + 1), lastGroup: server.length, caption, captionDirty: false };
      this.#editingAfterDone = false;
      this.#savedOnce = false;
      this.#rejected = null;
      this.#blocked = null;
      this.#doneAfterSync = null;
      this.#resyncs = 0;
    } else if (d.captionDirty) {
      this.#scheduleCaption(0);
    } else {
      d.caption = caption;
    }
    this.#server = server;
    this.#unsure = false;
    this.#save();
    this.#sync();
    return passed;
  }

  /** `me` arrived: Done is confirmed (or not). */
  onMe(msg) {
    if (this.#doneAfterSync === null) this.#localDone = null;
    if (!msg.done) this.#editingAfterDone = false;
  }

  /** Send what the server's layer lacks, one message at a time. */
  #sync() {
    const d = this.#draft;
    const conn = this.#page.conn;
    const room = this.#page.state.room;
    if (!d || !conn || this.#op || this.#dead || this.#retry) return;
    if (!room || room.phase !== 'writing' || room.round !== d.round || this.#blocked === room) return;
    if (this.#server === null) return this.#unsure ? this.#resync() : undefined;
    const local = d.strokes;
    const server = this.#server;
    let p = 0;
    while (p < local.length && p < server.length && sameStroke(local[p], server[p])) p++;
    if (server.length > p) this.#send({ kind: 'undo' });
    else if (local.length > p) this.#send({ kind: 'draw', points: local[p] });
    else if (this.#doneAfterSync === d.round) this.#sendDone();
  }

  #send(op) {
    const { round, sheet } = this.#draft;
    this.#op = op;
    const msg = op.kind === 'draw' ? { type: 'draw', points: op.points, round } : { type: 'undo', round };
    if (sheet) msg.sheet = sheet;
    this.#page.conn.sendReliable(msg, `sk:${round}:${++this.#ops}`).then((res) => this.#settle(op, round, res));
  }

  #settle(op, round, res) {
    if (this.#op !== op) return; // a round that ended, or a discarded draft
    this.#op = null;
    const d = this.#draft;
    if (!d || d.round !== round || (!res.ok && !res.error)) return;
    if (res.ok) {
      const m = this.#server ?? [];
      const c = res.msg?.strokes;
      if (!Number.isInteger(c)) this.#server = op.kind === 'draw' ? [...m, op.points] : m.slice(0, -1);
      else if (op.kind === 'draw' && c > m.length) this.#server = [...m, ...Array.from({ length: c - m.length }, () => op.points)];
      else if (op.kind === 'undo' && c < m.length) this.#server = m.slice(0, c);
      else [this.#server, this.#unsure] = [null, true]; // a count this page cannot explain: ask the server again
      this.#savedOnce = true;
      this.#rejected = null;
    } else {
      const err = res.error;
      if (err.code === 'not_writing') this.#blocked = this.#page.state.room;
      else if (err.code === 'rate_limited' || err.code === 'unavailable') {
        this.#retry = setTimeout(() => {
          this.#retry = null;
          this.#sync();
        }, RETRY_MS);
      } else if (op.kind === 'undo' && err.code === 'invalid_value') this.#server = []; // nothing left to undo
      else if (err.code === 'wrong_method') {
        this.#dead = true;
        this.#rejected = err;
        toast(errorText(err), 'error');
      } else {
        // sketch_too_big or a stroke the server will not take: it cannot go in, so it goes here too.
        const i = d.strokes.indexOf(op.points);
        if (i >= 0) {
          d.strokes = d.strokes.filter((_, j) => j !== i);
          d.groups = d.groups.filter((_, j) => j !== i);
          this.#save();
        }
        this.#rejected = err;
        toast(errorText(err), 'error');
      }
    }
    this.#sync();
    this.#render();
  }

  /** The page's idea of the server's layer is lost: a fresh `sheet` comes with a new socket. */
  #resync() {
    if (this.#resyncs >= MAX_RESYNCS) return;
    this.#resyncs += 1;
    this.#page.conn.restart();
  }

  #done() {
    const room = this.#page.state.room;
    if (!room || room.phase !== 'writing') return;
    this.flushAll();
    this.#editingAfterDone = false;
    this.#localDone = room.round;
    this.#doneAfterSync = room.round;
    if (this.#page.conn?.status !== 'open') toast(t('write.offlineDone'), 'info');
    this.#sync();
    this.#render();
  }

  #sendDone() {
    if (this.#page.conn.send({ type: 'done', round: this.#doneAfterSync })) this.#doneAfterSync = null;
  }

  // ---------- the caption ----------

  #scheduleCaption(delay = CAPTION_DEBOUNCE_MS) {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#flushCaption(), delay);
  }

  #flushCaption() {
    clearTimeout(this.#timer);
    this.#timer = null;
    const d = this.#draft;
    const conn = this.#page.conn;
    if (!d || !d.captionDirty || !conn) return;
    const { round, caption } = d;
    conn.sendReliable({ type: 'write', slot: 0, text: caption, round }, `w:${round}:0`).then((res) => {
      const now = this.#draft;
      if (!now || now.round !== round) return;
      if (res.ok || res.error) {
        if (now.caption === caption) now.captionDirty = false;
        if (res.ok) this.#savedOnce = true;
        this.#rejected = res.error ?? null;
        this.#save();
        if (res.error && !(res.error.code === 'not_writing' && this.#page.state.room?.phase !== 'writing')) toast(errorText(res.error), 'error');
      }
      this.saveState();
    });
    this.saveState();
  }

  /** Send the caption if it changed here and was not sent yet (before Done or leaving). */
  flushAll() {
    if (this.#draft?.captionDirty) this.#flushCaption();
  }
}
