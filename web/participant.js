// Participant page, /r/{code}: join → lobby → write rounds → reveal. Phone first.
//
// Drafts are sacred: every keystroke lands in localStorage at once, and goes to the server
// as a debounced `write` that is kept until acknowledged and resent after a reconnect. A
// reloaded page resumes its seat with the token from localStorage, and keeps any slot that
// was changed here but not yet acknowledged over the server's copy.

import { h, byId, setText, replace, showView, plural } from '/lib/dom.js';
import { codeFromPath, formatCode } from '/lib/code.js';
import { getRoom, ApiError } from '/lib/api.js';
import { load, save, remove, keys } from '/lib/storage.js';
import { Connection } from '/lib/ws.js';
import { ServerClock, Countdown, remainingMs } from '/lib/clock.js';
import { initialState, reduce, currentSheet, countIdeas, errorText } from '/lib/state.js';
import { connectionBanner, trackTopbarHeight, toast, rowsList, revealGrid } from '/lib/ui.js';

const WRITE_DEBOUNCE_MS = 350;
const PASSED_MS = 3500;

const main = byId('main');
trackTopbarHeight();
const code = codeFromPath();
const clock = new ServerClock();

let state = initialState;
let conn = null;
let seat = code ? load(keys.seat(code)) : null; // { token, name }
let draft = code ? load(keys.draft(code)) : null; // { round, texts: [], dirty: [] }
let view = 'loading';
let builtRound = null; // round the writing form was built for
let revealShown = null;
let passed = null; // { round, until }
let passedTimer = null;
let localDone = null; // round for which Done was pressed and not yet confirmed by `me`
let wantDone = null; // round whose `done` could not be sent (offline)
let editingAfterDone = false;
let awaitingWelcome = false;
let savedOnce = false;
let rejected = null; // the last write the server refused this round, to say so honestly
let missingCheck = null;
const writeTimers = [];

const countdown = new Countdown({
  clock,
  timer: byId('w-timer'),
  bar: byId('w-bar'),
  announce: byId('w-announce'),
  onChange: () => updateLock(),
});

// ---------- start ----------

if (!code) {
  setView('missing');
} else {
  setText('code-chip', formatCode(code));
  if (seat?.token) connect();
  else showJoin();
}

async function showJoin() {
  setView('loading');
  try {
    const info = await getRoom(code);
    setText('join-topic', info.topic);
    const n = info.participants ?? 0;
    setText(
      'join-status',
      info.phase === 'lobby'
        ? n
          ? `${plural(n, 'person has', 'people have')} joined so far.`
          : 'Be the first to join.'
        : info.phase === 'finished'
          ? 'This session has finished. Join to see every idea.'
          : "This session has already started. You can still join: you'll see every idea at the end.",
    );
    document.title = 'Join — brainwrite';
    setView('join');
    if (!matchMedia('(pointer: coarse)').matches) byId('name').focus();
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) setView('missing');
    else {
      // The server could not be asked; let the person try joining anyway.
      setText('join-status', '');
      setView('join');
    }
  }
}

byId('join-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const name = byId('name').value.trim();
  if (name.length > 40) {
    setText('join-error', 'A name can be at most 40 characters.');
    byId('join-error').hidden = false;
    return;
  }
  byId('join-btn').disabled = true;
  seat = { token: null, name: name || null };
  connect();
});

function hello() {
  awaitingWelcome = true;
  const msg = { type: 'join' };
  if (seat?.token) msg.token = seat.token;
  else if (seat?.name) msg.name = seat.name;
  return msg;
}

function connect() {
  const banner = connectionBanner(byId('conn'));
  conn = new Connection({
    code,
    clock,
    hello,
    onMessage,
    onStatus: (status, info) => {
      banner(status);
      updateSaveState();
      if (status === 'gone') return showGone();
      if (status === 'reconnecting' && info.attempts >= 3) checkStillThere();
    },
  });
  conn.start();
  if (view === 'join') setView('loading');
}

/** After repeated failures, ask over HTTP whether the room still exists. */
async function checkStillThere() {
  if (missingCheck) return;
  missingCheck = getRoom(code)
    .then(() => null)
    .catch((e) => {
      if (e instanceof ApiError && e.status === 404) {
        conn.stop();
        showGone();
      }
    })
    .finally(() => setTimeout(() => (missingCheck = null), 15_000));
}

function showGone() {
  countdown.stop();
  byId('conn').hidden = true;
  setText('missing-text', 'This session is no longer on the server.');
  setView('missing');
}

// ---------- messages ----------

function onMessage(msg) {
  state = reduce(state, msg);
  switch (msg.type) {
    case 'welcome':
      awaitingWelcome = false;
      if (msg.token) {
        seat = { token: msg.token, name: msg.name ?? seat?.name ?? null };
        save(keys.seat(code), seat);
      }
      break;
    case 'me':
      localDone = null;
      if (wantDone !== null && !msg.done && state.room?.phase === 'writing' && state.room.round === wantDone) {
        if (conn.send({ type: 'done', round: wantDone })) localDone = wantDone;
      }
      wantDone = null;
      if (!msg.done) editingAfterDone = false;
      break;
    case 'sheet':
      onSheet(msg);
      break;
    case 'error':
      onError(msg);
      break;
    default:
      break;
  }
  render();
}

function onError(msg) {
  if (typeof msg.seq === 'number') return; // a write's answer: handled where it was sent
  if (awaitingWelcome && msg.code === 'forbidden' && seat?.token) {
    // The seat token is unknown here (the room was recreated?): start over as a new person.
    remove(keys.seat(code));
    remove(keys.draft(code));
    seat = { token: null, name: seat.name };
    draft = null;
    toast('Your earlier seat could not be found, so you joined again.', 'info');
    conn.restart();
    return;
  }
  if (awaitingWelcome && msg.code === 'invalid_value') {
    conn.stop();
    remove(keys.seat(code));
    setText('join-error', errorText(msg));
    byId('join-error').hidden = false;
    byId('join-btn').disabled = false;
    setView('join');
    return;
  }
  if (awaitingWelcome && msg.code === 'room_full') {
    conn.stop();
    setText('missing-text', 'This session is full. Ask the facilitator for another one.');
    setView('missing');
    return;
  }
  if (msg.code === 'not_writing' && state.room && state.room.phase !== 'writing') return; // a race with the clock
  toast(errorText(msg), 'error');
}

/** A sheet arrived (new round, or a resume): merge its draft with what this device holds. */
function onSheet(msg) {
  const n = state.room?.ideas_per_round ?? msg.draft?.length ?? 3;
  const server = Array.from({ length: n }, (_, i) => (typeof msg.draft?.[i] === 'string' ? msg.draft[i] : ''));
  if (!draft || draft.round !== msg.round) {
    if (draft && draft.round > 0 && draft.round < msg.round) startPassed(msg.round, msg.sheet);
    // Writes for an earlier round can no longer land; stop retrying them.
    conn.forget((key) => !key.startsWith(`w:${msg.round}:`));
    for (const t of writeTimers) clearTimeout(t);
    draft = { round: msg.round, texts: server, dirty: server.map(() => false) };
    editingAfterDone = false;
    savedOnce = false;
    rejected = null;
  } else {
    // Same round (a reconnect or reload): the server's copy wins unless this device has an
    // edit it has not confirmed yet, which goes again.
    draft.texts.length = n;
    draft.dirty.length = n;
    for (let i = 0; i < n; i++) {
      if (draft.dirty[i]) scheduleWrite(i, 0);
      else draft.texts[i] = server[i];
    }
  }
  saveDraft();
}

function saveDraft() {
  if (draft) save(keys.draft(code), draft);
}

// ---------- the "sheet passed" moment ----------

function startPassed(round, sheet) {
  const ideas = countIdeas([sheet]);
  setText('p-round', `Round ${round}${state.room?.rounds ? ` of ${state.room.rounds}` : ''}`);
  setText(
    'p-text',
    ideas
      ? `You now hold a new sheet with ${plural(ideas, 'idea')} on it. Read them, then add yours.`
      : 'You now hold a new sheet. Add your ideas.',
  );
  passed = { round };
  clearTimeout(passedTimer);
  passedTimer = setTimeout(endPassed, PASSED_MS);
}

function endPassed(focus = false) {
  clearTimeout(passedTimer);
  passed = null;
  render();
  if (focus) document.getElementById('idea-0')?.focus();
}

byId('p-continue').addEventListener('click', () => endPassed(true));

// ---------- writing ----------

function scheduleWrite(i, delay = WRITE_DEBOUNCE_MS) {
  clearTimeout(writeTimers[i]);
  writeTimers[i] = setTimeout(() => flushWrite(i), delay);
}

function flushWrite(i) {
  clearTimeout(writeTimers[i]);
  writeTimers[i] = null;
  if (!draft || !draft.dirty[i] || !conn) return;
  const { round } = draft;
  const text = draft.texts[i];
  conn.sendReliable({ type: 'write', slot: i, text, round }, `w:${round}:${i}`).then((res) => {
    if (!draft || draft.round !== round) return;
    if (res.ok) {
      if (draft.texts[i] === text) draft.dirty[i] = false;
      savedOnce = true;
      rejected = null;
      saveDraft();
    } else if (res.error) {
      // Rejected: retrying would be rejected again. Keep the text on screen and say why.
      if (draft.texts[i] === text) draft.dirty[i] = false;
      rejected = res.error;
      saveDraft();
      if (!(res.error.code === 'not_writing' && state.room?.phase !== 'writing')) toast(errorText(res.error), 'error');
    }
    updateSaveState();
  });
  updateSaveState();
}

function flushAll() {
  if (!draft) return;
  for (let i = 0; i < draft.texts.length; i++) if (draft.dirty[i]) flushWrite(i);
}

// Ideas are single lines on the wire (the server strips control characters), so Enter moves
// on to the next box and pasted line breaks become spaces.
function onIdeaKey(ev) {
  if (ev.key !== 'Enter' || ev.isComposing) return;
  ev.preventDefault();
  const i = Number(ev.target.dataset.slot);
  const next = document.getElementById(`idea-${i + 1}`);
  if (next) next.focus();
  else byId('w-done-btn').focus();
}

function onIdeaInput(ev) {
  const ta = ev.target;
  const i = Number(ta.dataset.slot);
  if (/[\r\n]/.test(ta.value)) {
    const pos = ta.selectionStart;
    ta.value = ta.value.replace(/\r\n|[\r\n]/g, ' ');
    ta.setSelectionRange(pos, pos);
  }
  autosize(ta);
  updateCounter(ta);
  if (!draft) return;
  draft.texts[i] = ta.value;
  draft.dirty[i] = true;
  saveDraft();
  scheduleWrite(i);
  updateSaveState();
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
  setText(c, `${plural(left, 'character')} left`);
  if (left <= 20) c.dataset.near = '';
  else delete c.dataset.near;
}

byId('w-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  if (!state.room || state.room.phase !== 'writing') return;
  flushAll();
  const round = state.room.round;
  editingAfterDone = false;
  if (conn.send({ type: 'done', round })) {
    localDone = round;
  } else {
    wantDone = round;
    toast("You're offline: you'll be marked done when the connection is back.", 'info');
  }
  render();
});

byId('w-edit').addEventListener('click', () => {
  editingAfterDone = true;
  render();
  document.getElementById('idea-0')?.focus();
});

function buildWrite(sheet) {
  const room = state.room;
  builtRound = sheet.round;
  const rows = sheet.sheet.rows || [];
  setText('w-sheet-title', rows.length ? 'On this sheet so far' : 'On this sheet');
  replace(
    byId('w-rows'),
    rows.length
      ? rowsList(rows)
      : h('p', { class: 'empty-sheet' }, 'Nothing yet — this sheet starts with you. Write the first ideas.'),
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
      on: { input: onIdeaInput, keydown: onIdeaKey, blur: () => flushWrite(i) },
    });
    ta.value = draft?.texts[i] ?? '';
    fields.push(
      h(
        'div',
        { class: 'idea-field' },
        h('label', { for: `idea-${i}` }, `Idea ${i + 1}`),
        ta,
        h('p', { class: 'hint counter', id: `idea-${i}-count`, hidden: true }),
      ),
    );
  }
  replace(byId('w-fields'), fields);
  for (const ta of byId('w-fields').querySelectorAll('textarea')) {
    autosize(ta);
    updateCounter(ta);
  }
}

/** Refresh text box values from the draft (after a resume), leaving the focused one alone. */
function syncFields() {
  if (!draft) return;
  for (let i = 0; i < draft.texts.length; i++) {
    const ta = document.getElementById(`idea-${i}`);
    if (ta && document.activeElement !== ta && ta.value !== draft.texts[i]) {
      ta.value = draft.texts[i];
      autosize(ta);
      updateCounter(ta);
    }
  }
}

/** Text boxes are read-only while paused and once the clock reached zero. */
function updateLock() {
  const room = state.room;
  if (!room || view !== 'write') return;
  const ms = remainingMs(room, clock);
  const timeUp = room.phase === 'writing' && ms === 0;
  const locked = room.phase !== 'writing' || timeUp;
  byId('w-timeup').hidden = !timeUp;
  byId('w-paused').hidden = room.phase !== 'paused';
  for (const ta of byId('w-fields').querySelectorAll('textarea')) if (ta.readOnly !== locked) ta.readOnly = locked;
  byId('w-done-btn').disabled = locked;
}

function updateSaveState() {
  const el = document.getElementById('w-save');
  if (!el || !draft) return;
  const dirty = draft.dirty.some(Boolean);
  let text;
  let st;
  if (dirty && conn?.status === 'open') {
    text = 'Saving…';
    st = 'saving';
  } else if (dirty) {
    text = 'Not sent yet — kept on this device until you are back online.';
    st = 'offline';
  } else if (rejected) {
    text = `Not saved: ${errorText(rejected)}`;
    st = 'offline';
  } else if (savedOnce || draft.texts.some((t) => t)) {
    text = '✓ Saved';
    st = 'saved';
  } else {
    text = 'Your ideas save as you type.';
    st = 'idle';
  }
  el.dataset.state = st;
  setText(el, text);
}

// ---------- render ----------

function setView(name) {
  if (view === name) return;
  view = name;
  showView(main, name);
  if (name === 'passed') byId('p-title').focus({ preventScroll: true });
}

function render() {
  const { room, me } = state;
  if (!room) return;
  document.title = `${titleFor(room)} — brainwrite`;

  if (room.phase === 'finished') {
    renderReveal();
    return setView('reveal');
  }
  if (room.phase === 'lobby') {
    renderLobby();
    return setView('lobby');
  }
  if (me && !me.seated) return setView('late');
  const sheet = currentSheet(state);
  if (!sheet) return setView('loading');
  if (passed && passed.round === sheet.round) {
    if (builtRound !== sheet.round) buildWrite(sheet);
    return setView('passed');
  }
  if (builtRound !== sheet.round) buildWrite(sheet);
  else syncFields();
  renderWrite();
  setView('write');
  updateLock();
}

function titleFor(room) {
  if (room.phase === 'lobby') return 'Waiting to start';
  if (room.phase === 'finished') return 'All ideas';
  return `Round ${room.round} of ${room.rounds}`;
}

function renderLobby() {
  const { room } = state;
  setText('lobby-title', seat?.name ? `You're in, ${seat.name}` : "You're in");
  setText('lobby-count', room.participants);
  setText('lobby-count-label', room.participants === 1 ? 'person here' : 'people here');
  setText('lobby-topic', room.topic);
  const mins = room.round_seconds >= 60 ? plural(Math.round((room.round_seconds / 60) * 10) / 10, 'minute') : plural(room.round_seconds, 'second');
  setText('how-write', `Write up to ${plural(room.ideas_per_round, 'idea')} in ${mins} on the sheet you hold.`);
}

function renderWrite() {
  const { room, me } = state;
  setText('w-topic', room.topic);
  setText('w-round', `Round ${room.round} of ${room.rounds}`);
  setText('w-done', room.seated ? `${room.done} of ${room.seated} done` : '');
  countdown.update(room);
  const done = (me?.done || localDone === room.round) && !editingAfterDone;
  byId('w-form').hidden = done;
  byId('w-donecard').hidden = !done;
  const others = Math.max(0, room.seated - room.done);
  if (done && draft) {
    const mine = draft.texts.filter((t) => t.trim());
    replace(byId('w-my-row'), mine.length ? mine.map((t) => h('li', null, t)) : h('li', { class: 'empty' }, 'No ideas this round.'));
  }
  setText('w-done-wait', others ? `Waiting for ${plural(others, 'other')} or the clock. You can still change your ideas.` : 'Passing the sheets…');
  updateSaveState();
}

function renderReveal() {
  const { room, reveal } = state;
  countdown.stop();
  setText('r-topic', room.topic);
  if (!reveal) {
    setText('r-count', 'Collecting every sheet…');
    return;
  }
  if (revealShown === reveal) return;
  revealShown = reveal;
  setText('r-count', `${plural(countIdeas(reveal), 'idea')} on ${plural(reveal.length, 'sheet')}. Nobody's name is on any of them.`);
  replace(byId('r-sheets'), revealGrid(reveal, { headingLevel: 2 }));
  remove(keys.draft(code));
}
