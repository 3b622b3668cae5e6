// Facilitator page, /f/{code}#{token}: share the join link, run the clock, watch progress
// (counts only while writing), reveal and export.
//
// The token arrives in the URL fragment (never sent to a server), is kept in localStorage
// for reloads, and is then taken out of the address bar so a shared screen does not show it.

import { h, byId, setText, replace, showView, plural } from '/lib/dom.js';
import { codeFromPath, formatCode } from '/lib/code.js';
import { joinLink } from '/lib/api.js';
import { load, save, remove, keys } from '/lib/storage.js';
import { Connection } from '/lib/ws.js';
import { ServerClock, Countdown } from '/lib/clock.js';
import { initialState, reduce, countIdeas, phaseLabel, errorText } from '/lib/state.js';
import { connectionBanner, trackTopbarHeight, toast, revealGrid, revealText, revealCsv, copyButton } from '/lib/ui.js';

const main = byId('main');
trackTopbarHeight();
const code = codeFromPath();
const clock = new ServerClock();

let state = initialState;
let conn = null;
let token = null;
let awaitingWelcome = false;
let busy = false;
let busyTimer = null;
let revealShown = null;

const countdown = new Countdown({ clock, timer: byId('f-timer'), bar: byId('f-bar') });

const buttons = {
  start: byId('c-start'),
  pause: byId('c-pause'),
  resume: byId('c-resume'),
  extend: byId('c-extend'),
  advance: byId('c-advance'),
  finish: byId('c-finish'),
};

// ---------- start ----------

if (!code) {
  showView(main, 'missing');
} else {
  const fromHash = decodeURIComponent(location.hash.replace(/^#/, '')).trim();
  if (fromHash) {
    token = fromHash;
    save(keys.facilitator(code), token);
    // The token stays on this device; the address bar (and a shared screen) no longer shows it.
    history.replaceState(null, '', location.pathname + location.search);
  } else {
    token = load(keys.facilitator(code));
  }
  setupStatic();
  if (token) connect();
  else noToken();
}

function setupStatic() {
  const link = joinLink(code);
  const a = byId('join-link');
  a.href = link;
  setText(a, link.replace(/^https?:\/\//, ''));
  setText('join-code', formatCode(code));
  byId('qr').src = `/api/rooms/${encodeURIComponent(code)}/qr.svg`;
  byId('board-link').href = `/b/${code}`;
  replace(byId('join-actions'), copyButton('Copy join link', () => link));
  replace(
    byId('control-actions'),
    copyButton('Copy facilitator link', () => `${location.origin}/f/${code}#${token}`, { className: 'btn btn-secondary btn-sm' }),
  );
}

function noToken(text) {
  if (text) setText('notoken-text', text);
  replace(
    byId('notoken-links'),
    h('a', { class: 'btn btn-primary', href: `/r/${code}` }, 'Join as a participant'),
    h('a', { class: 'btn btn-secondary', href: `/b/${code}` }, 'Open the board'),
  );
  showView(main, 'notoken');
}

function connect() {
  const banner = connectionBanner(byId('conn'));
  conn = new Connection({
    code,
    clock,
    hello: () => {
      awaitingWelcome = true;
      return { type: 'facilitate', token };
    },
    onMessage,
    onStatus: (status) => {
      banner(status);
      if (status === 'gone') {
        countdown.stop();
        showView(main, 'missing');
      }
    },
  });
  conn.start();
}

// ---------- commands ----------

function command(type, extra = {}) {
  if (busy) return;
  if (!conn?.send({ type, ...extra })) {
    toast('Not connected right now. Try again in a moment.', 'error');
    return;
  }
  // One command at a time: a double click must not skip two rounds.
  setBusy(true);
}

function setBusy(on) {
  busy = on;
  clearTimeout(busyTimer);
  if (on) busyTimer = setTimeout(() => setBusy(false), 4000);
  for (const b of Object.values(buttons)) b.disabled = on || b.dataset.off === 'true';
  if (!on) render();
}

buttons.start.addEventListener('click', () => command('start'));
buttons.pause.addEventListener('click', () => command('pause'));
buttons.resume.addEventListener('click', () => command('resume'));
buttons.extend.addEventListener('click', () => command('extend', { seconds: 60 }));
buttons.advance.addEventListener('click', () => command('advance'));
buttons.finish.addEventListener('click', () => {
  const room = state.room;
  // In the last round finishing is what the clock would do anyway: no need to ask.
  if (room && room.round >= room.rounds) return command('finish');
  byId('f-confirm').hidden = false;
  byId('f-confirm-no').focus();
});
byId('f-confirm-yes').addEventListener('click', () => {
  byId('f-confirm').hidden = true;
  command('finish');
});
byId('f-confirm-no').addEventListener('click', () => {
  byId('f-confirm').hidden = true;
  buttons.finish.focus();
});

// ---------- messages ----------

function onMessage(msg) {
  state = reduce(state, msg);
  if (msg.type === 'welcome') awaitingWelcome = false;
  if (msg.type === 'room' && busy) setBusy(false);
  if (msg.type === 'error') {
    if (awaitingWelcome && msg.code === 'forbidden') {
      conn.stop();
      remove(keys.facilitator(code));
      noToken('This facilitator link is not valid for this session. Open the link you got when you created it.');
      return;
    }
    if (busy) setBusy(false);
    toast(errorText(msg), 'error');
  }
  render();
}

// ---------- render ----------

function render() {
  const { room } = state;
  if (!room) return;
  showView(main, 'main');
  document.body.dataset.phase = room.phase;
  document.title = `${phaseLabel(room)} · ${formatCode(room.code || code)} — brainwrite`;

  setText('f-topic', room.topic);
  setText('f-phase', phaseLabel(room));
  const f = byId('f-phase');
  f.className = `chip ${room.phase === 'paused' ? 'chip-warn' : room.phase === 'finished' ? 'chip-ok' : 'chip-accent'}`;
  const mins = room.round_seconds % 60 === 0 ? plural(room.round_seconds / 60, 'minute') : plural(room.round_seconds, 'second');
  setText('f-settings', `${plural(room.ideas_per_round, 'idea')} · ${mins} a round`);

  const running = room.phase === 'writing' || room.phase === 'paused';
  byId('f-clock').hidden = !running;
  if (running) countdown.update(room);
  else countdown.stop();

  renderControls(room);
  renderProgress(room);
  renderPeople(room);
  renderReveal(room);
}

function show(btn, visible, enabled = true) {
  btn.hidden = !visible;
  btn.dataset.off = String(!enabled);
  btn.disabled = busy || !enabled;
}

function renderControls(room) {
  const p = room.phase;
  const lastRound = room.round >= room.rounds;
  show(buttons.start, p === 'lobby', room.participants >= 2);
  show(buttons.pause, p === 'writing');
  show(buttons.resume, p === 'paused');
  show(buttons.extend, p === 'writing' || p === 'paused');
  show(buttons.advance, (p === 'writing' || p === 'paused') && !lastRound);
  show(buttons.finish, p === 'writing' || p === 'paused');
  if (p === 'lobby' || p === 'finished') byId('f-confirm').hidden = true;

  let hint = '';
  if (p === 'lobby') {
    hint =
      room.participants < 2
        ? `Waiting for people to join: at least 2 are needed to start${room.participants ? ` (${room.participants} so far)` : ''}.`
        : `${plural(room.participants, 'person', 'people')} ready. Starting seats everyone and hands out the sheets: ${plural(room.rounds, 'round')}.`;
  } else if (p === 'writing') {
    hint = lastRound
      ? 'Last round. The session finishes when it ends.'
      : 'The round ends when the clock runs out or when everyone is done.';
  } else if (p === 'paused') {
    hint = 'Paused: nobody can write until you resume.';
  } else if (p === 'finished') {
    hint = 'The session is finished. Every sheet is revealed below.';
  }
  setText('f-hint', hint);
}

function renderProgress(room) {
  const running = room.phase === 'writing' || room.phase === 'paused';
  byId('f-progress').hidden = !running;
  if (!running) return;
  const pr = state.progress && state.progress.round === room.round ? state.progress : null;
  const done = pr ? pr.done : room.done;
  const seated = pr ? pr.seated : room.seated;
  setText('f-done', `${done} of ${seated} done`);
  byId('f-done-bar').style.width = `${seated ? (done / seated) * 100 : 0}%`;
  const sheets = pr?.sheets || [];
  const onSheets = sheets.reduce((n, s) => n + (s.ideas || 0), 0);
  const drafting = sheets.reduce((n, s) => n + (s.drafted || 0), 0);
  setText('f-ideas', pr ? `${plural(onSheets, 'idea')} on the sheets · ${drafting} being written` : '');
  replace(
    byId('f-sheets'),
    sheets.map((s, i) => {
      const cap = Math.max(1, s.capacity || 1);
      const ideas = s.ideas || 0;
      const drafted = s.drafted || 0;
      const fill = h('span', { class: 'fill' });
      fill.style.width = `${Math.min(100, (ideas / cap) * 100)}%`;
      const soft = h('span', { class: 'fill-soft' });
      soft.style.width = `${Math.min(100 - Math.min(100, (ideas / cap) * 100), (drafted / cap) * 100)}%`;
      return h(
        'li',
        null,
        h(
          'div',
          { class: 'bar-label' },
          h('span', null, `Sheet ${i + 1}`),
          h('span', null, `${ideas + drafted} of ${s.capacity}`),
        ),
        h('div', { class: 'meter', 'aria-hidden': 'true' }, fill, soft),
        h('span', { class: 'visually-hidden' }, `${ideas} on the sheet, ${drafted} being written, room for ${s.capacity}.`),
      );
    }),
  );
}

function renderPeople(room) {
  const roster = state.roster || [];
  setText(
    'f-people-count',
    roster.length ? `${roster.length} joined · ${roster.filter((p) => p.connected).length} online` : '',
  );
  byId('f-people-empty').hidden = roster.length > 0;
  const started = room.phase !== 'lobby';
  replace(
    byId('f-people'),
    roster.map((p, i) => {
      const name = p.name || `Guest ${i + 1}`;
      const chips = [];
      if (!p.connected) chips.push(h('span', { class: 'chip' }, 'Offline'));
      if (started && !p.seated) chips.push(h('span', { class: 'chip chip-warn' }, 'Joined late'));
      else if (room.phase === 'writing' || room.phase === 'paused') {
        chips.push(p.done ? h('span', { class: 'chip chip-ok' }, '✓ Done') : h('span', { class: 'chip chip-accent' }, 'Writing'));
      } else if (!started && p.connected) chips.push(h('span', { class: 'chip chip-ok' }, 'Here'));
      return h(
        'li',
        { class: p.connected ? '' : 'offline' },
        h(
          'span',
          { class: 'who' },
          h('span', { class: 'avatar', 'aria-hidden': 'true' }, initial(name)),
          h('span', { class: 'name' }, name),
        ),
        h('span', { class: 'btn-row' }, chips),
      );
    }),
  );
}

function initial(name) {
  const ch = [...String(name).trim()][0] || '?';
  return ch.toUpperCase();
}

function renderReveal(room) {
  const sec = byId('f-reveal');
  const reveal = state.reveal;
  sec.hidden = room.phase !== 'finished';
  if (room.phase !== 'finished' || !reveal || revealShown === reveal) return;
  const first = revealShown === null;
  revealShown = reveal;
  setText('f-reveal-count', `${plural(countIdeas(reveal), 'idea')} on ${plural(reveal.length, 'sheet')}, without names.`);
  replace(
    byId('reveal-actions'),
    copyButton('Copy all ideas', () => revealText(room.topic, reveal)),
    h('button', { type: 'button', class: 'btn btn-secondary', on: { click: () => downloadCsv(reveal) } }, 'Download CSV'),
  );
  replace(byId('f-reveal-sheets'), revealGrid(reveal));
  if (first) byId('f-reveal-h').focus({ preventScroll: false });
}

function downloadCsv(sheets) {
  const blob = new Blob([revealCsv(sheets)], { type: 'text/csv;charset=utf-8' });
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: `brainwrite-${code}.csv` });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
