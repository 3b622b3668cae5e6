// Participant page, /r/{code}: join → lobby → write rounds → reveal → share, vote, results.
// Phone first.
//
// The page owns the connection, the seat and the views; the writing view and its draft are
// the Writer's (participant/writer.js); the reveal, the ballot and the results are the shared
// components of lib/ (docs/architecture-web.md). A reloaded page resumes its seat with the
// token from localStorage.

import { h, byId, setText, replace, showView } from '/lib/dom.js';
import { t, useRoomLanguage } from '/lib/i18n.js';
import { codeFromPath, formatCode } from '/lib/code.js';
import { getRoom, ApiError } from '/lib/api.js';
import { load, save, remove, keys } from '/lib/storage.js';
import { Connection } from '/lib/ws.js';
import { ServerClock } from '/lib/clock.js';
import { Countdown } from '/lib/countdown.js';
import { initialState, reduce, currentSheet, countIdeas, errorText } from '/lib/state.js';
import { connectionBanner, trackTopbarHeight, toast } from '/lib/ui.js';
import '/lib/reveal.js';
import '/lib/ballot.js';
import '/lib/results.js';
import { Writer } from '/participant/writer.js';
import { Sketcher } from '/participant/sketcher.js';
import { PoolWriting } from '/participant/pool.js';
import { joinStatus, titleFor, renderLobby, renderLate } from '/participant/screens.js';

const PASSED_MS = 3500;
const VOTE_REFUSALS = ['own_idea', 'no_votes_left', 'idea_cap', 'not_voting'];

const main = byId('main');
trackTopbarHeight();
const code = codeFromPath();
const clock = new ServerClock();

/** Everything this page knows, in one place. */
const page = {
  state: initialState,
  conn: null,
  seat: code ? load(keys.seat(code)) : null, // { token, name }
  view: 'loading',
  passed: null, // { round, timer }: the "Sheet passed" moment
  awaitingWelcome: false,
  missingCheck: null,
  removed: false, // closed with 4003: the facilitator removed this participant
};

const writer = new Writer({ code, page, clock, render });
const sketcher = new Sketcher({ code, page, clock, render });
const drafting = () => (page.state.room?.method === 'c_sketch' ? sketcher : writer); // C-Sketch draws instead of writing
const countdown = new Countdown({
  clock,
  timer: byId('w-timer'),
  bar: byId('w-bar'),
  announce: byId('w-announce'),
  onChange: () => drafting().lock(),
});
const pool = new PoolWriting({ page, writer, countdown, render });
const reveal = byId('r-sheets');
const ballot = byId('v-list');
const results = byId('res-list');

// ---------- start ----------

if (!code) {
  setView('missing');
} else {
  setText('code-chip', formatCode(code));
  if (page.seat?.token) connect();
  else showJoin();
}

async function showJoin() {
  setView('loading');
  try {
    const info = await getRoom(code);
    // The room's language from the first screen on (it reloads into it once, if needed).
    if (info.language) useRoomLanguage(code, info.language);
    setText('join-topic', info.topic);
    setText('join-status', joinStatus(info));
    document.title = t('part.titleJoin');
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
    showJoinError(t('part.errName'));
    return;
  }
  byId('join-btn').disabled = true;
  byId('join-error').hidden = true;
  page.seat = { token: null, name: name || null };
  connect();
});

function showJoinError(text) {
  setText('join-error', text);
  byId('join-error').hidden = false;
}

function hello() {
  page.awaitingWelcome = true;
  const msg = { type: 'join' };
  if (page.seat?.token) msg.token = page.seat.token;
  else if (page.seat?.name) msg.name = page.seat.name;
  return msg;
}

function connect() {
  const banner = connectionBanner(byId('conn'));
  page.conn = new Connection({
    code,
    clock,
    hello,
    onMessage,
    onStatus: (status, info) => {
      banner(status, info);
      drafting().saveState();
      if (status === 'gone') return showGone();
      if (status === 'removed') return showRemoved();
      if (status === 'reconnecting' && info.attempts >= 3) checkStillThere();
    },
  });
  page.conn.start();
  if (page.view === 'join') setView('loading');
}

/** After repeated failures, ask over HTTP whether the room still exists. */
async function checkStillThere() {
  if (page.missingCheck) return;
  page.missingCheck = getRoom(code)
    .then(() => null)
    .catch((e) => {
      if (e instanceof ApiError && e.status === 404) {
        page.conn.stop();
        showGone();
      }
    })
    .finally(() => setTimeout(() => (page.missingCheck = null), 15_000));
}

/** Closed with 4003: removed by the facilitator. The seat is gone; stop for good. */
function showRemoved() {
  page.removed = true;
  countdown.stop();
  writer.discard(); sketcher.discard();
  byId('conn').hidden = true;
  remove(keys.seat(code));
  page.seat = null;
  byId('leave-area').hidden = true;
  document.title = t('part.titleRemoved');
  setView('removed');
}

function showGone() {
  countdown.stop();
  byId('conn').hidden = true;
  setText('missing-text', t('part.gone'));
  setView('missing');
}

// ---------- messages ----------

function onMessage(msg) {
  page.state = reduce(page.state, msg);
  if (msg.type === 'room') useRoomLanguage(code, msg.language);
  switch (msg.type) {
    case 'welcome':
      page.awaitingWelcome = false;
      if (msg.token) {
        page.seat = { token: msg.token, name: msg.name ?? page.seat?.name ?? null };
        save(keys.seat(code), page.seat);
      }
      break;
    case 'me':
      drafting().onMe(msg);
      pool.onMe(msg);
      break;
    case 'sheet':
      // A pool is written, never drawn: it wraps the Writer's answer.
      if (pool.onSheet(msg, drafting().onSheet(msg))) startPassed(msg.round, msg.sheet);
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
  const { conn, seat, awaitingWelcome } = page;
  if (awaitingWelcome && msg.code === 'forbidden' && seat?.token) {
    // The seat token is unknown here (the room was recreated?): start over as a new person.
    remove(keys.seat(code));
    writer.discard(); sketcher.discard();
    page.seat = { token: null, name: seat.name };
    toast(t('part.seatLost'), 'info');
    conn.restart();
    return;
  }
  if (awaitingWelcome && msg.code === 'invalid_value') {
    conn.stop();
    remove(keys.seat(code));
    showJoinError(errorText(msg));
    byId('join-btn').disabled = false;
    setView('join');
    return;
  }
  if (awaitingWelcome && msg.code === 'locked') {
    // Nobody new may join right now; a seat with a token would still have resumed.
    conn.stop();
    page.conn = null;
    page.seat = { token: null, name: seat?.name ?? null };
    showJoinError(`${errorText(msg)} ${t('part.askUnlock')}`);
    byId('join-btn').disabled = false;
    setView('join');
    return;
  }
  if (awaitingWelcome && msg.code === 'room_full') {
    conn.stop();
    setText('missing-text', t('part.full'));
    setView('missing');
    return;
  }
  if (msg.code === 'not_writing' && page.state.room && page.state.room.phase !== 'writing') return; // a race with the clock
  if (VOTE_REFUSALS.includes(msg.code) && ballot.pending) {
    // A refused vote: said next to the idea, politely, not as an alarm.
    const text = errorText(msg);
    setText('v-announce', text);
    ballot.refuse(text);
    return;
  }
  toast(errorText(msg), 'error');
}

// ---------- the "sheet passed" moment ----------

function startPassed(round, sheet) {
  const ideas = countIdeas([sheet]);
  const rounds = page.state.room?.rounds;
  setText('p-round', rounds ? t('phase.round', { round, rounds }) : t('part.roundN', { round }));
  setText('p-text', ideas ? t('part.passedText', { ideas: t('n.ideas', { n: ideas }) }) : t('part.passedEmpty'));
  clearTimeout(page.passed?.timer);
  page.passed = { round, timer: setTimeout(endPassed, PASSED_MS) };
}

function endPassed(focus = false) {
  clearTimeout(page.passed?.timer);
  page.passed = null;
  render();
  if (focus) document.querySelector('#idea-0, #sk-caption')?.focus();
}

byId('p-continue').addEventListener('click', () => endPassed(true));

// ---------- leaving ----------

function showLeaveConfirm(on) {
  byId('leave-confirm').hidden = !on;
  byId('leave-btn').hidden = on;
}

byId('leave-btn').addEventListener('click', () => {
  showLeaveConfirm(true);
  byId('leave-no').focus();
});
byId('leave-no').addEventListener('click', () => {
  showLeaveConfirm(false);
  byId('leave-btn').focus();
});
byId('leave-yes').addEventListener('click', () => {
  // What is typed goes first: this round's draft still becomes this person's row.
  drafting().flushAll();
  if (!page.conn?.send({ type: 'leave' })) {
    toast(t('common.notConnected'), 'error');
    return;
  }
  showLeaveConfirm(false);
});

// ---------- voting ----------

ballot.addEventListener('vote', (ev) => {
  const { idea, type } = ev.detail;
  if (!page.conn?.send({ type, idea })) ballot.refuse(t('common.notConnected'), idea);
});

// ---------- render ----------

function setView(name) {
  if (page.view === name) return;
  page.view = name;
  showView(main, name);
  if (name === 'passed') byId('p-title').focus({ preventScroll: true });
  // Leaving is offered wherever the person is part of the writing.
  const canLeave = ['lobby', 'late', 'write', 'passed'].includes(name);
  byId('leave-area').hidden = !canLeave;
  if (!canLeave) showLeaveConfirm(false);
}

function render() {
  const { state } = page;
  const { room, me } = state;
  if (!room || page.removed) return;
  document.title = t('common.pageTitle', { what: titleFor(room) });

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
    renderLobby(room, page.seat);
    return setView('lobby');
  }
  if (me && !me.seated) {
    renderLate(room);
    return setView('late');
  }
  if (pool.active) return pool.render(setView);
  const sheet = currentSheet(state);
  if (!sheet) return setView('loading');
  if (page.passed && page.passed.round === sheet.round) {
    drafting().build(sheet);
    return setView('passed');
  }
  drafting().render(sheet);
  countdown.update(room);
  setView('write');
  drafting().lock();
}

function renderReveal() {
  const { room, reveal: sheets } = page.state;
  setText('r-topic', room.topic);
  if (!sheets) {
    setText('r-count', t('part.collecting'));
    return;
  }
  if (!reveal.update({ sheets, presenting: room.presenting })) return;
  setText('r-count', t('part.revealCount', { ideas: t('n.ideas', { n: countIdeas(sheets) }), sheets: t('n.sheets', { n: sheets.length }) }));
  const note = byId('r-presenting');
  const { label } = reveal;
  note.hidden = !label;
  if (label) replace(note, h('div', null, h('strong', null, t('part.sharedScreen')), t('part.showing', { i: sheets.findIndex((s) => s.id === room.presenting) + 1, n: sheets.length })));
  remove(keys.draft(code));
  remove(keys.sketch(code));
}

function renderVote() {
  const { room, ballot: mine, reveal: sheets, clusters } = page.state;
  setText('v-topic', room.topic);
  if (mine) {
    const used = [...new Map((mine.mine || []).map((m) => [m.idea, m.votes])).values()].reduce((a, b) => a + b, 0);
    setText('v-left', t('part.votesLeft', { n: mine.votes_left }));
    setText('v-rule', t('part.voteRule', { votes: t('n.votes', { n: mine.votes_left + used }), per: t('n.votes', { n: mine.per_idea ?? 1 }) }));
  } else {
    setText('v-left', t('part.gettingBallot'));
    setText('v-rule', '');
  }
  ballot.update({ ballot: mine, sheets, clusters });
}

function renderResults() {
  const { room, results: ranked, reveal: sheets } = page.state;
  setText('res-topic', room.topic);
  if (!ranked) {
    setText('res-count', t('common.counting'));
    return;
  }
  if (!results.update({ results: ranked, sheets })) return;
  const votes = ranked.reduce((n, r) => n + (r.votes || 0), 0);
  setText('res-count', t('part.resultsCount', { votes: t('n.votes', { n: votes }), ideas: t('n.ideas', { n: ranked.length }) }));
}
