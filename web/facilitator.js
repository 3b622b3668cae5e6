// Facilitator page, /f/{code}#{token}: share the join link, run the clock, watch progress
// (counts only while writing), manage who is in (remove, lock), then after the rounds:
// present sheets, run a dot vote, cluster and merge ideas, and export from the server.
//
// The token arrives in the URL fragment (never sent to a server), is kept in localStorage
// for reloads, and is then taken out of the address bar so a shared screen does not show it.

import { h, byId, setText, replace, showView } from '/lib/dom.js';
import { t, num, duration, lang, useRoomLanguage } from '/lib/i18n.js';
import { codeFromPath, formatCode } from '/lib/code.js';
import { joinLink } from '/lib/api.js';
import { load, save, remove, keys } from '/lib/storage.js';
import { Connection } from '/lib/ws.js';
import { ServerClock } from '/lib/clock.js';
import { Countdown } from '/lib/countdown.js';
import { initialState, reduce, countIdeas, phaseLabel, errorText, roundProgress } from '/lib/state.js';
import { connectionBanner, trackTopbarHeight, toast, revealText, copyButton } from '/lib/ui.js';
import '/lib/goal.js';
import '/lib/reveal.js';
import '/lib/results.js';
import '/lib/progress.js';
import '/lib/pool-counts.js';
import '/lib/roster.js';
import '/facilitator/cluster-board.js';
import { SessionControls } from '/facilitator/controls.js';
import { methodLabel, poolSettings } from '/facilitator/method.js';
import { wireExports } from '/facilitator/exports.js';

const main = byId('main');
trackTopbarHeight();
const code = codeFromPath();
const clock = new ServerClock();

/** Everything this page knows, in one place. */
const page = {
  state: initialState,
  conn: null,
  token: null,
  awaitingWelcome: false,
};

const countdown = new Countdown({ clock, timer: byId('f-timer'), bar: byId('f-bar') });
const progress = byId('f-sheets');
const roster = byId('f-people');
const reveal = byId('f-reveal-sheets');
const results = byId('f-results-list');
const clusterBoard = byId('cluster-board');

const controls = new SessionControls({ page, render });
const { buttons } = controls;

// ---------- start ----------

if (!code) {
  showView(main, 'missing');
} else {
  const fromHash = decodeURIComponent(location.hash.replace(/^#/, '')).trim();
  if (fromHash) {
    page.token = fromHash;
    save(keys.facilitator(code), page.token);
    // The token stays on this device; the address bar (and a shared screen) no longer shows it.
    history.replaceState(null, '', location.pathname + location.search);
  } else {
    page.token = load(keys.facilitator(code));
  }
  setupStatic();
  if (page.token) connect();
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
  replace(byId('join-actions'), copyButton(t('fac.copyJoin'), () => link));
  replace(
    byId('control-actions'),
    copyButton(t('fac.copyControl'), () => `${location.origin}/f/${code}#${page.token}`, { className: 'btn btn-secondary btn-sm' }),
  );
}

function noToken(text) {
  if (text) setText('notoken-text', text);
  replace(
    byId('notoken-links'),
    h('a', { class: 'btn btn-primary', href: `/r/${code}` }, t('fac.joinAsParticipant')),
    h('a', { class: 'btn btn-secondary', href: `/b/${code}` }, t('fac.openTheBoard')),
  );
  showView(main, 'notoken');
}

function connect() {
  const banner = connectionBanner(byId('conn'));
  page.conn = new Connection({
    code,
    clock,
    hello: () => {
      page.awaitingWelcome = true;
      return { type: 'facilitate', token: page.token };
    },
    onMessage,
    onStatus: (status, info) => {
      banner(status, info);
      if (status === 'gone') {
        countdown.stop();
        showView(main, 'missing');
      }
    },
  });
  page.conn.start();
}

// ---------- messages to the server ----------

/**
 * A message that is not a one-at-a-time session command (presenting, clusters, removing
 * someone): it changes only what it names, and sending it twice does no harm.
 */
function send(msg) {
  if (!page.conn?.send(msg)) {
    toast(t('common.notConnected'), 'error');
    return false;
  }
  return true;
}

// ---------- after the rounds: export and the printable report ----------

wireExports({ code, token: () => page.token, language: () => page.state.room?.language || lang });

// ---------- after the rounds: share ----------

function presentIndex() {
  const sheets = page.state.reveal || [];
  const p = page.state.room?.presenting;
  return p ? sheets.findIndex((s) => s.id === p) : -1;
}

function present(sheetId) {
  send({ type: 'present', sheet: sheetId ?? null });
}

byId('s-prev').addEventListener('click', () => {
  const sheets = page.state.reveal || [];
  const i = presentIndex();
  if (i > 0) present(sheets[i - 1].id);
});
byId('s-next').addEventListener('click', () => {
  const sheets = page.state.reveal || [];
  const i = presentIndex();
  if (i + 1 < sheets.length) present(sheets[i + 1].id);
});
byId('s-all').addEventListener('click', () => present(null));
reveal.addEventListener('present', (ev) => present(ev.detail.sheet));

// ---------- after the rounds: dot voting ----------

byId('vote-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const err = byId('vote-error');
  err.hidden = true;
  const votes = Number(byId('v-votes').value);
  const per = Number(byId('v-per').value);
  if (!Number.isInteger(votes) || votes < 1 || votes > 20) {
    setText(err, t('fac.errVotes'));
    err.hidden = false;
    byId('v-votes').focus();
    return;
  }
  if (!Number.isInteger(per) || per < 1 || per > votes) {
    setText(err, t('fac.errPer', { n: votes }));
    err.hidden = false;
    byId('v-per').focus();
    return;
  }
  controls.command('open_voting', { votes, per_idea: per });
});

// ---------- after the rounds: clusters ----------

byId('cluster-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const input = byId('cluster-name');
  const name = input.value.trim();
  if (!name) {
    input.focus();
    return;
  }
  if (send({ type: 'cluster', name })) {
    input.value = '';
    setText('cluster-announce', t('fac.clusterAdded', { name }));
  }
});

clusterBoard.addEventListener('assign', (ev) => send({ type: 'assign', idea: ev.detail.idea, cluster: ev.detail.cluster || null }));
clusterBoard.addEventListener('merge', (ev) => send({ type: 'merge', idea: ev.detail.idea, into: ev.detail.into || null }));
clusterBoard.addEventListener('rename', (ev) => send({ type: 'cluster', id: ev.detail.cluster, name: ev.detail.name }));
clusterBoard.addEventListener('delete-cluster', (ev) => {
  const { cluster, name } = ev.detail;
  if (send({ type: 'delete_cluster', cluster })) {
    setText('cluster-announce', t('fac.clusterDeleted', { name }));
    byId('cluster-name').focus();
  }
});

// ---------- people ----------

roster.addEventListener('remove', (ev) => {
  const { participant, name } = ev.detail;
  if (send({ type: 'remove', participant })) toast(t('fac.removed', { name }), 'info');
});

// ---------- messages ----------

function onMessage(msg) {
  page.state = reduce(page.state, msg);
  if (msg.type === 'welcome') page.awaitingWelcome = false;
  if (msg.type === 'room') useRoomLanguage(code, msg.language);
  if (msg.type === 'room') controls.idle();
  if (msg.type === 'error') {
    if (page.awaitingWelcome && msg.code === 'forbidden') {
      page.conn.stop();
      remove(keys.facilitator(code));
      noToken(t('fac.badToken'));
      return;
    }
    controls.idle();
    toast(errorText(msg), 'error');
  }
  render();
}

// ---------- render ----------

function render() {
  const { room } = page.state;
  if (!room) return;
  showView(main, 'main');
  document.body.dataset.phase = room.phase;
  document.title = t('common.pageTitle', { what: `${phaseLabel(room)} · ${formatCode(room.code || code)}` });

  setText('f-topic', room.topic);
  setText('f-phase', phaseLabel(room));
  const f = byId('f-phase');
  f.className = `chip ${room.phase === 'paused' ? 'chip-warn' : room.phase === 'finished' ? 'chip-ok' : 'chip-accent'}`;
  const mins = room.round_seconds % 60 === 0 ? duration(room.round_seconds) : t('n.seconds', { n: room.round_seconds });
  setText('f-method', methodLabel(room));
  // A running pool's phase already reads "Brainwriting pool": one chip says it.
  byId('f-method').hidden = methodLabel(room) === phaseLabel(room);
  setText('f-settings', poolSettings(room) ?? `${t('fac.settings', { ideas: t('n.ideas', { n: room.ideas_per_round }), time: mins })}${presetLabel(room.preset)}`);
  byId('f-goal').update(room);

  const running = room.phase === 'writing' || room.phase === 'paused';
  byId('f-clock').hidden = !running;
  if (running) countdown.update(room);
  else countdown.stop();

  controls.update(room);
  renderProgress(room);
  renderPeople(room);
  renderAfter(room);
  renderReveal(room);
}

function presetLabel(preset) {
  // Classic is the default for every room: only the other formats are worth a word.
  const names = { quick: 'preset.quick', large: 'preset.large' };
  return names[preset] ? ` · ${t(names[preset])}` : '';
}

function renderProgress(room) {
  const running = room.phase === 'writing' || room.phase === 'paused';
  byId('f-progress').hidden = !running;
  if (!running) return;
  const pr = roundProgress(page.state);
  setText('f-done', t('common.doneOf', { done: pr.done, seated: pr.seated }));
  byId('f-done-bar').style.width = `${pr.seated ? (pr.done / pr.seated) * 100 : 0}%`;
  setText('f-ideas', pr.known ? t('fac.ideasDrafted', { ideas: t('n.ideas', { n: pr.ideas }), drafted: pr.drafted }) : '');
  progress.update({ sheets: pr.sheets });
  // A pool has no rounds to fill: its state is how many sheets are where.
  byId('f-bars').hidden = room.method === 'pool';
  byId('f-pool-sec').hidden = room.method !== 'pool';
  if (room.method === 'pool') byId('f-pool').update({ pool: page.state.progress?.pool });
}

function renderPeople(room) {
  const people = page.state.roster || [];
  const online = people.filter((p) => p.connected).length;
  const waiting = room.phase === 'lobby' ? 0 : room.waiting || people.filter((p) => !p.seated && !p.left).length;
  setText(
    'f-people-count',
    people.length
      ? `${t('fac.joinedOnline', { joined: people.length, online })}${waiting && room.phase !== 'finished' ? ` · ${t('fac.waitingNext', { n: waiting })}` : ''}`
      : '',
  );
  byId('f-people-empty').hidden = people.length > 0;

  // Joining can be locked until the session is over.
  const finished = room.phase === 'finished';
  byId('lock-line').hidden = finished;
  controls.show(buttons.lock, !finished);
  setText(buttons.lock, room.locked ? t('fac.unlock') : t('fac.lock'));
  const lockState = byId('lock-state');
  lockState.className = room.locked ? 'chip chip-warn' : 'chip chip-ok';
  setText(lockState, room.locked ? t('fac.lockedState') : t('fac.openState'));
  roster.update({ roster: people, room });
}

/** Share, vote, results and clusters: the parts of the page for after the rounds. */
function renderAfter(room) {
  const finished = room.phase === 'finished';
  for (const id of ['f-export', 'f-share', 'f-vote', 'f-clusters']) byId(id).hidden = !finished;
  byId('f-results').hidden = !(finished && room.stage === 'results');
  if (!finished) return;
  const sheets = page.state.reveal || [];

  // Share
  const i = presentIndex();
  setText('f-share-now', i >= 0 ? t('fac.onScreenSheet', { i: i + 1, n: sheets.length }) : t('fac.onScreenAll'));
  byId('s-prev').disabled = i <= 0;
  byId('s-next').disabled = !sheets.length || i + 1 >= sheets.length;
  byId('s-all').disabled = i < 0;

  // Voting
  const voting = room.stage === 'voting';
  byId('vote-form').hidden = voting;
  byId('vote-running').hidden = !voting;
  setText('f-votes-cast', num(room.votes_cast));
  setText('f-votes-cast-label', t('fac.votesCastSoFar', { n: room.votes_cast }));
  setText('f-vote-state', voting ? t('fac.voteOpen') : room.stage === 'results' ? t('fac.voteClosed') : '');
  setText(buttons.openVote, room.stage === 'results' ? t('fac.openAgain') : t('fac.openVoting'));
  controls.show(buttons.openVote, !voting);
  controls.show(buttons.closeVote, voting);

  // Results
  const ranked = page.state.results;
  if (room.stage === 'results' && results.update({ results: ranked, sheets })) {
    const votes = ranked.reduce((n, r) => n + (r.votes || 0), 0);
    setText('f-results-count', t('fac.resultsCount', { votes: t('n.votes', { n: votes }), ideas: t('n.ideas', { n: ranked.length }) }));
    if (results.renders === 1) byId('f-results-h').focus({ preventScroll: false });
  }

  // Clusters
  if (clusterBoard.update({ sheets: page.state.reveal, clusters: page.state.clusters, voting })) {
    setText('f-clusters-count', clusterBoard.summary);
    byId('cl-merge-note').hidden = !voting;
  }
}

function renderReveal(room) {
  const sec = byId('f-reveal');
  const sheets = page.state.reveal;
  sec.hidden = room.phase !== 'finished';
  if (room.phase !== 'finished' || !sheets) return;
  if (!reveal.update({ sheets, presenting: room.presenting })) return;
  setText('f-reveal-count', t('fac.revealCount', { ideas: t('n.ideas', { n: countIdeas(sheets) }), sheets: t('n.sheets', { n: sheets.length }) }));
  replace(byId('reveal-actions'), copyButton(t('fac.copyAll'), () => revealText(room.topic, sheets)));
  if (reveal.renders === 1) byId('f-reveal-h').focus({ preventScroll: false });
}
