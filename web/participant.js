// Participant page, /r/{code}: join → lobby → write rounds → reveal → share, vote, results.
// Phone first.
//
// Drafts are sacred: every keystroke lands in localStorage at once, and goes to the server
// as a debounced `write` that is kept until acknowledged and resent after a reconnect. A
// reloaded page resumes its seat with the token from localStorage, and keeps any slot that
// was changed here but not yet acknowledged over the server's copy. A slot is its text and
// the idea it builds on (`builds_on`): both travel in every write of that slot.

import { h, byId, setText, replace, showView, plural } from '/lib/dom.js';
import { codeFromPath, formatCode } from '/lib/code.js';
import { getRoom, ApiError } from '/lib/api.js';
import { load, save, remove, keys } from '/lib/storage.js';
import { Connection } from '/lib/ws.js';
import { ServerClock, Countdown, remainingMs } from '/lib/clock.js';
import { initialState, reduce, currentSheet, countIdeas, errorText, allIdeas, ideaIndex, mergedMap } from '/lib/state.js';
import {
  connectionBanner,
  trackTopbarHeight,
  toast,
  rowsList,
  rowsIndex,
  buildsOnLine,
  presentedSheets,
  resultsList,
  goalBlock,
} from '/lib/ui.js';

const WRITE_DEBOUNCE_MS = 350;
const PASSED_MS = 3500;

const main = byId('main');
trackTopbarHeight();
const code = codeFromPath();
const clock = new ServerClock();

let state = initialState;
let conn = null;
let seat = code ? load(keys.seat(code)) : null; // { token, name }
let draft = code ? load(keys.draft(code)) : null; // { round, texts: [], links: [], dirty: [] }
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
let removed = false; // closed with 4003: the facilitator removed this participant
let lastSlot = 0; // the idea box last focused, for "Build on this"
let voteNote = null; // { idea, text }: the server refused a vote for this idea
let voteShown = null; // the state pieces the vote list was built from
let resultsShown = null;
let presentShown = null;
const writeTimers = [];
if (draft && !Array.isArray(draft.links)) draft.links = (draft.texts || []).map(() => null);

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
    if (info.locked) setText('join-status', errorText({ code: 'locked' }));
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
  byId('join-error').hidden = true;
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
      if (status === 'removed') return showRemoved();
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

/** Closed with 4003: removed by the facilitator. The seat is gone; stop for good. */
function showRemoved() {
  removed = true;
  countdown.stop();
  for (const t of writeTimers) clearTimeout(t);
  byId('conn').hidden = true;
  remove(keys.seat(code));
  remove(keys.draft(code));
  seat = null;
  draft = null;
  byId('leave-area').hidden = true;
  document.title = 'Removed — brainwrite';
  setView('removed');
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
    case 'ballot':
      // The vote went through (or the ballot was resent): nothing to explain any more.
      if (voteNote?.pending) voteNote = null;
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
  if (awaitingWelcome && msg.code === 'locked') {
    // Nobody new may join right now; a seat with a token would still have resumed.
    conn.stop();
    conn = null;
    seat = { token: null, name: seat?.name ?? null };
    setText('join-error', `${errorText(msg)} Ask the facilitator to unlock it, then try again.`);
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
  if (['own_idea', 'no_votes_left', 'idea_cap', 'not_voting'].includes(msg.code) && voteNote?.pending) {
    // A refused vote: said next to the idea, politely, not as an alarm.
    voteNote = { idea: voteNote.idea, text: errorText(msg) };
    setText('v-announce', voteNote.text);
    voteShown = null;
    return;
  }
  toast(errorText(msg), 'error');
}

/** A sheet arrived (new round, or a resume): merge its draft with what this device holds. */
function onSheet(msg) {
  const n = state.room?.ideas_per_round ?? msg.draft?.length ?? 3;
  const server = Array.from({ length: n }, (_, i) => (typeof msg.draft?.[i] === 'string' ? msg.draft[i] : ''));
  const serverLinks = Array.from({ length: n }, (_, i) => (msg.links?.[i] ? String(msg.links[i]) : null));
  if (!draft || draft.round !== msg.round) {
    if (draft && draft.round > 0 && draft.round < msg.round) startPassed(msg.round, msg.sheet);
    // Writes for an earlier round can no longer land; stop retrying them.
    conn.forget((key) => !key.startsWith(`w:${msg.round}:`));
    for (const t of writeTimers) clearTimeout(t);
    draft = { round: msg.round, texts: server, links: serverLinks, dirty: server.map(() => false) };
    editingAfterDone = false;
    savedOnce = false;
    rejected = null;
  } else {
    // Same round (a reconnect or reload): the server's copy wins unless this device has an
    // edit it has not confirmed yet, which goes again.
    draft.texts.length = n;
    draft.dirty.length = n;
    draft.links.length = n;
    for (let i = 0; i < n; i++) {
      if (draft.dirty[i]) scheduleWrite(i, 0);
      else {
        draft.texts[i] = server[i];
        draft.links[i] = serverLinks[i];
      }
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
  const link = draft.links[i] ?? null;
  // A write sets the whole slot: its text and the idea it builds on (left out when none).
  const msg = { type: 'write', slot: i, text, round };
  if (link) msg.builds_on = link;
  conn.sendReliable(msg, `w:${round}:${i}`).then((res) => {
    if (!draft || draft.round !== round) return;
    const same = draft.texts[i] === text && (draft.links[i] ?? null) === link;
    if (res.ok) {
      if (same) draft.dirty[i] = false;
      savedOnce = true;
      rejected = null;
      saveDraft();
    } else if (res.error) {
      // Rejected: retrying would be rejected again. Keep the text on screen and say why.
      if (same) draft.dirty[i] = false;
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

/** "Row 2: Pair each newcomer with a buddy…" for a select option. */
function shortIdea(text, max = 60) {
  const chars = [...String(text)];
  return chars.length > max ? `${chars.slice(0, max - 1).join('').trimEnd()}…` : chars.join('');
}

function buildWrite(sheet) {
  const room = state.room;
  builtRound = sheet.round;
  const rows = sheet.sheet.rows || [];
  const earlier = [];
  rows.forEach((r, ri) => (r.ideas || []).forEach((idea) => earlier.push({ ...idea, row: ri })));
  setText('w-sheet-title', rows.length ? 'On this sheet so far' : 'On this sheet');
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
                on: { click: () => buildOn(idea.id) },
              },
              h('span', { 'aria-hidden': 'true' }, '↳ '),
              h('span', { id: `bo-${textId}-l` }, 'Build on this'),
            ),
        })
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
      on: { input: onIdeaInput, keydown: onIdeaKey, blur: () => flushWrite(i), focus: () => (lastSlot = i) },
    });
    ta.value = draft?.texts[i] ?? '';
    let link = null;
    if (earlier.length) {
      const select = h(
        'select',
        { id: `link-${i}`, class: 'link-select', dataset: { slot: String(i) }, on: { change: onLinkChange } },
        h('option', { value: '' }, 'Nothing: a new idea'),
        earlier.map((idea) => h('option', { value: idea.id }, `Row ${idea.row + 1}: ${shortIdea(idea.text)}`)),
      );
      select.value = draft?.links[i] ?? '';
      link = h('div', { class: 'link-field' }, h('label', { for: `link-${i}` }, `Idea ${i + 1} builds on`), select);
    }
    fields.push(
      h(
        'div',
        { class: 'idea-field' },
        h('label', { for: `idea-${i}` }, `Idea ${i + 1}`),
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
}

/** A slot now builds on another idea (or on nothing): send the whole slot again. */
function setLink(i, id) {
  if (!draft) return;
  const link = id || null;
  if ((draft.links[i] ?? null) === link) return;
  draft.links[i] = link;
  draft.dirty[i] = true;
  saveDraft();
  scheduleWrite(i, 0);
  updateSaveState();
}

function onLinkChange(ev) {
  setLink(Number(ev.target.dataset.slot), ev.target.value);
}

/**
 * "Build on this" next to an earlier idea: the first empty idea box that builds on nothing
 * yet gets the link (else the box last used), and the cursor goes there.
 */
function buildOn(ideaId) {
  if (!draft || !state.room) return;
  const n = state.room.ideas_per_round;
  let slot = -1;
  for (let i = 0; i < n && slot < 0; i++) if (!draft.texts[i]?.trim() && !draft.links[i]) slot = i;
  if (slot < 0) slot = Math.min(lastSlot, n - 1);
  setLink(slot, ideaId);
  const select = document.getElementById(`link-${slot}`);
  if (select) select.value = ideaId;
  const ta = document.getElementById(`idea-${slot}`);
  if (ta && !ta.readOnly) {
    ta.focus();
    ta.scrollIntoView({ block: 'center', behavior: 'smooth' });
  }
}

/** Refresh text boxes and links from the draft (after a resume), leaving the focused one alone. */
function syncFields() {
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
  for (const el of byId('w-fields').querySelectorAll('select')) if (el.disabled !== locked) el.disabled = locked;
  for (const b of byId('w-rows').querySelectorAll('.build-btn')) if (b.disabled !== locked) b.disabled = locked;
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

// ---------- leaving ----------

byId('leave-btn').addEventListener('click', () => {
  byId('leave-confirm').hidden = false;
  byId('leave-btn').hidden = true;
  byId('leave-no').focus();
});
byId('leave-no').addEventListener('click', () => {
  byId('leave-confirm').hidden = true;
  byId('leave-btn').hidden = false;
  byId('leave-btn').focus();
});
byId('leave-yes').addEventListener('click', () => {
  // What is typed goes first: this round's draft still becomes this person's row.
  flushAll();
  if (!conn?.send({ type: 'leave' })) {
    toast('Not connected right now. Try again in a moment.', 'error');
    return;
  }
  byId('leave-confirm').hidden = true;
  byId('leave-btn').hidden = false;
});

// ---------- voting ----------

function vote(ideaId, type) {
  voteNote = { idea: ideaId, text: null, pending: true };
  if (!conn?.send({ type, idea: ideaId })) {
    voteNote = { idea: ideaId, text: 'Not connected right now. Try again in a moment.' };
    voteShown = null;
    render();
  }
}

// ---------- render ----------

function setView(name) {
  if (view === name) return;
  view = name;
  showView(main, name);
  if (name === 'passed') byId('p-title').focus({ preventScroll: true });
  // Leaving is offered wherever the person is part of the writing.
  const canLeave = ['lobby', 'late', 'write', 'passed'].includes(name);
  byId('leave-area').hidden = !canLeave;
  if (!canLeave) {
    byId('leave-confirm').hidden = true;
    byId('leave-btn').hidden = false;
  }
}

function render() {
  const { room, me } = state;
  if (!room || removed) return;
  document.title = `${titleFor(room)} — brainwrite`;

  if (room.phase === 'finished') {
    countdown.stop();
    if (room.stage === 'voting') {
      renderVote();
      return setView('vote');
    }
    if (room.stage === 'results') {
      renderResults();
      return setView('results');
    }
    renderReveal();
    return setView('reveal');
  }
  if (me?.left) {
    countdown.stop();
    return setView('left');
  }
  if (room.phase === 'lobby') {
    renderLobby();
    return setView('lobby');
  }
  if (me && !me.seated) {
    renderLate();
    return setView('late');
  }
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
  if (room.phase === 'finished') {
    return room.stage === 'voting' ? 'Voting' : room.stage === 'results' ? 'Results' : 'All ideas';
  }
  return `Round ${room.round} of ${room.rounds}`;
}

function renderLobby() {
  const { room } = state;
  setText('lobby-title', seat?.name ? `You're in, ${seat.name}` : "You're in");
  setText('lobby-count', room.participants);
  setText('lobby-count-label', room.participants === 1 ? 'person here' : 'people here');
  setText('lobby-topic', room.topic);
  replace(byId('lobby-goal'), goalBlock(room, { headingLevel: 2, className: 'goal goal-small' }));
  const mins = room.round_seconds >= 60 ? plural(Math.round((room.round_seconds / 60) * 10) / 10, 'minute') : plural(room.round_seconds, 'second');
  setText('how-write', `Write up to ${plural(room.ideas_per_round, 'idea')} in ${mins} on the sheet you hold.`);
}

/** Joined after the start: seated at the next round boundary, if there is one. */
function renderLate() {
  const { room } = state;
  const last = room.round >= room.rounds;
  setText('late-title', last ? 'The session has already started' : "You'll be seated at the next round");
  setText(
    'late-text',
    last
      ? "This is the last round, so there is no sheet for you this time. Stay here: you'll see every idea when it ends."
      : 'The session has already started. When this round ends you get a sheet of your own to write on. Keep this page open.',
  );
  setText('late-round', `Round ${room.round} of ${room.rounds}${room.phase === 'paused' ? ' · paused' : ''}`);
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
    const index = rowsIndex(currentSheet(state)?.sheet.rows);
    const mine = draft.texts.map((t, i) => ({ text: t, builds_on: draft.links[i] })).filter((x) => x.text.trim());
    replace(
      byId('w-my-row'),
      mine.length ? mine.map((x) => h('li', null, x.text, buildsOnLine(x, index))) : h('li', { class: 'empty' }, 'No ideas this round.'),
    );
  }
  setText('w-done-wait', others ? `Waiting for ${plural(others, 'other')} or the clock. You can still change your ideas.` : 'Passing the sheets…');
  updateSaveState();
}

function renderReveal() {
  const { room, reveal } = state;
  setText('r-topic', room.topic);
  if (!reveal) {
    setText('r-count', 'Collecting every sheet…');
    return;
  }
  const key = `${room.presenting ?? ''}`;
  if (revealShown === reveal && presentShown === key) return;
  revealShown = reveal;
  presentShown = key;
  setText('r-count', `${plural(countIdeas(reveal), 'idea')} on ${plural(reveal.length, 'sheet')}. Nobody's name is on any of them.`);
  const { label, node } = presentedSheets(reveal, room.presenting, { headingLevel: 2 });
  const note = byId('r-presenting');
  note.hidden = !label;
  if (label) replace(note, h('div', null, h('strong', null, 'On the shared screen'), `The facilitator is showing ${label.toLowerCase()}.`));
  replace(byId('r-sheets'), node);
  remove(keys.draft(code));
}

/** Every idea that can get votes: merged duplicates are hidden (they count with their idea). */
function votableIdeas() {
  const merged = mergedMap(state.clusters);
  const ideas = allIdeas(state.reveal).filter((i) => !merged.has(i.id));
  const dupes = new Map();
  const index = ideaIndex(state.reveal);
  for (const [idea, into] of merged) {
    if (!dupes.has(into)) dupes.set(into, []);
    if (index.has(idea)) dupes.get(into).push(index.get(idea).text);
  }
  return { ideas, dupes, index };
}

function renderVote() {
  const { room, ballot, reveal, clusters } = state;
  setText('v-topic', room.topic);
  const mine = new Map((ballot?.mine || []).map((m) => [m.idea, m.votes]));
  const used = [...mine.values()].reduce((a, b) => a + b, 0);
  const perIdea = ballot?.per_idea ?? 1;
  if (ballot) {
    setText('v-left', `${plural(ballot.votes_left, 'vote')} left`);
    setText('v-rule', `You have ${plural(ballot.votes_left + used, 'vote')} · up to ${plural(perIdea, 'vote')} on one idea`);
  } else {
    setText('v-left', 'Getting your ballot…');
    setText('v-rule', '');
  }
  if (!reveal) return;
  if (voteShown && voteShown.ballot === ballot && voteShown.reveal === reveal && voteShown.clusters === clusters) return;
  voteShown = { ballot, reveal, clusters };
  const { ideas, dupes, index } = votableIdeas();
  const focusKey = document.activeElement?.dataset?.focusKey;
  const card = (idea, n) => {
    const votes = mine.get(idea.id) || 0;
    const textId = `v-text-${n}`;
    const note = voteNote?.idea === idea.id && voteNote.text ? voteNote.text : null;
    return h(
      'li',
      { class: votes ? 'vote-card voted' : 'vote-card', dataset: { idea: idea.id } },
      h('p', { class: 'vote-text', id: textId }, idea.text),
      buildsOnLine(idea, index),
      (dupes.get(idea.id) || []).map((t) => h('p', { class: 'dupe' }, h('span', { class: 'dupe-label' }, 'Same idea: '), t)),
      h(
        'div',
        { class: 'vote-actions' },
        h(
          'span',
          { class: votes ? 'chip chip-ok' : 'chip', 'aria-hidden': votes ? null : 'true' },
          votes ? (perIdea > 1 ? `✓ ${plural(votes, 'vote')} from you` : '✓ Your vote') : 'No vote',
        ),
        h(
          'span',
          { class: 'btn-row' },
          votes
            ? h(
                'button',
                {
                  type: 'button',
                  class: 'btn btn-secondary btn-sm',
                  'aria-describedby': textId,
                  dataset: { focusKey: `un:${idea.id}` },
                  on: { click: () => vote(idea.id, 'unvote') },
                },
                'Take back',
              )
            : null,
          votes < perIdea
            ? h(
                'button',
                {
                  type: 'button',
                  class: 'btn btn-primary btn-sm',
                  'aria-describedby': textId,
                  dataset: { focusKey: `vote:${idea.id}` },
                  on: { click: () => vote(idea.id, 'vote') },
                },
                votes ? 'Vote again' : 'Vote',
              )
            : null,
        ),
      ),
      note ? h('p', { class: 'vote-note' }, note) : null,
    );
  };
  let n = 0;
  const groups = [];
  const placed = new Set();
  for (const c of clusters?.clusters || []) {
    const members = ideas.filter((i) => (c.ideas || []).includes(i.id));
    if (!members.length) continue;
    members.forEach((i) => placed.add(i.id));
    groups.push({ name: c.name, members });
  }
  const rest = ideas.filter((i) => !placed.has(i.id));
  if (rest.length) groups.push({ name: groups.length ? 'Other ideas' : null, members: rest });
  replace(
    byId('v-list'),
    groups.map((g) =>
      h(
        'section',
        { class: 'vote-group' },
        g.name ? h('h2', { class: 'section-title' }, g.name) : null,
        h('ul', { class: 'vote-cards' }, g.members.map((i) => card(i, n++))),
      ),
    ),
  );
  if (focusKey) {
    const again = byId('v-list').querySelector(`[data-focus-key="${CSS.escape(focusKey)}"]`);
    const fallback = byId('v-list').querySelector(`[data-idea="${CSS.escape(focusKey.replace(/^\w+:/, ''))}"] button`);
    (again || fallback)?.focus({ preventScroll: true });
  }
}

function renderResults() {
  const { room, results, reveal } = state;
  setText('res-topic', room.topic);
  if (!results) {
    setText('res-count', 'Counting the votes…');
    return;
  }
  if (resultsShown === results) return;
  resultsShown = results;
  const votes = results.reduce((n, r) => n + (r.votes || 0), 0);
  setText('res-count', `${plural(votes, 'vote')} on ${plural(results.length, 'idea')}, ranked. Nobody's name is on any of them.`);
  replace(byId('res-list'), resultsList(results, { index: ideaIndex(reveal) }));
}
