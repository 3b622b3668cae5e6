// Board, /b/{code}: for a projector or a remote team's screen. Read-only (`watch`).
// Lobby: how to join, in large type, with the QR code, the goal and expected outcomes.
// Rounds: the clock and counts (never text while writing). Finished: the sheet being
// presented, large, or every sheet with the clusters; while voting only the number of votes
// cast; then the ranked results.

import { h, byId, setText, replace, showView, plural } from '/lib/dom.js';
import { codeFromPath, formatCode } from '/lib/code.js';
import { getRoom, joinLink, ApiError } from '/lib/api.js';
import { Connection } from '/lib/ws.js';
import { ServerClock, Countdown } from '/lib/clock.js';
import { initialState, reduce, countIdeas, phaseLabel, ideaIndex } from '/lib/state.js';
import { connectionBanner, presentedSheets, clustersView, resultsList, goalBlock } from '/lib/ui.js';

const main = byId('main');
const code = codeFromPath();
const clock = new ServerClock();
let state = initialState;
let view = 'loading';
let revealShown = null; // [reveal, presenting, clusters] last drawn
let resultsShown = null;
let conn = null;

const countdown = new Countdown({ clock, timer: byId('bw-timer'), bar: byId('bw-bar') });

function setView(name) {
  if (view === name) return;
  view = name;
  showView(main, name);
}

if (!code) {
  setView('missing');
} else {
  const link = joinLink(code);
  const shortLink = link.replace(/^https?:\/\//, '');
  const qr = `/api/rooms/${encodeURIComponent(code)}/qr.svg`;
  setText('b-code-chip', formatCode(code));
  setText('bl-code', formatCode(code));
  setText('bw-code', formatCode(code));
  setText('bl-url', `${location.host}`);
  setText('bw-url', shortLink);
  byId('bl-qr').src = qr;
  byId('bw-qr').src = qr;
  const banner = connectionBanner(byId('conn'));
  conn = new Connection({
    code,
    clock,
    hello: () => ({ type: 'watch' }),
    onMessage: (msg) => {
      state = reduce(state, msg);
      render();
    },
    onStatus: (status, info) => {
      banner(status);
      if (status === 'gone') {
        countdown.stop();
        setView('missing');
        return;
      }
      if (status === 'reconnecting' && info.attempts === 3) {
        getRoom(code).catch((e) => {
          if (e instanceof ApiError && e.status === 404) {
            conn.stop();
            byId('conn').hidden = true;
            setView('missing');
          }
        });
      }
    },
  });
  conn.start();
}

function render() {
  const { room } = state;
  if (!room) return;
  document.title = `${phaseLabel(room)} — brainwrite board`;
  setText('b-phase', phaseLabel(room));

  if (room.phase === 'lobby') {
    countdown.stop();
    setText('bl-topic', room.topic);
    setText('bl-count', room.participants);
    setText('bl-count-label', room.participants === 1 ? 'person has joined' : 'people have joined');
    const goalKey = JSON.stringify([room.goal, room.outcomes]);
    const goalEl = byId('bl-goal');
    if (goalEl.dataset.key !== goalKey) {
      goalEl.dataset.key = goalKey;
      replace(goalEl, goalBlock(room, { headingLevel: 2, className: 'goal goal-board' }));
    }
    return setView('lobby');
  }
  if (room.phase === 'finished') {
    countdown.stop();
    if (room.stage === 'voting') return renderVote(room);
    if (room.stage === 'results') return renderResults(room);
    return renderReveal(room);
  }

  setText('bw-topic', room.topic);
  setText('bw-round', room.phase === 'paused' ? `Round ${room.round} of ${room.rounds} · Paused` : `Round ${room.round} of ${room.rounds}`);
  countdown.update(room);
  const pr = state.progress && state.progress.round === room.round ? state.progress : null;
  const done = pr ? pr.done : room.done;
  const seated = pr ? pr.seated : room.seated;
  setText('bw-done', `${done} of ${seated} done`);
  const sheets = pr?.sheets || [];
  const onSheets = sheets.reduce((n, s) => n + (s.ideas || 0), 0);
  setText('bw-ideas', pr ? `${plural(onSheets, 'idea')} on the sheets so far` : '');
  replace(
    byId('bw-sheets'),
    sheets.map((s, i) => {
      const cap = Math.max(1, s.capacity || 1);
      const fill = h('span', { class: 'fill' });
      const pct = Math.min(100, ((s.ideas || 0) / cap) * 100);
      fill.style.width = `${pct}%`;
      const soft = h('span', { class: 'fill-soft' });
      soft.style.width = `${Math.min(100 - pct, ((s.drafted || 0) / cap) * 100)}%`;
      return h(
        'li',
        null,
        h('div', { class: 'bar-label' }, h('span', null, `Sheet ${i + 1}`), h('span', null, `${(s.ideas || 0) + (s.drafted || 0)} of ${s.capacity}`)),
        h('div', { class: 'meter', 'aria-hidden': 'true' }, fill, soft),
      );
    }),
  );
  setView('live');
}

function renderReveal(room) {
  setText('br-topic', room.topic);
  const { reveal, clusters } = state;
  const key = [reveal, room.presenting, clusters];
  if (reveal && !(revealShown && revealShown.every((v, i) => v === key[i]))) {
    revealShown = key;
    const { label, node } = presentedSheets(reveal, room.presenting, { headingLevel: 2 });
    setText('br-eyebrow', label ? `Presenting · ${label}` : 'All ideas');
    setText('br-count', label ? '' : `${plural(countIdeas(reveal), 'idea')} on ${plural(reveal.length, 'sheet')}`);
    const hasClusters = !label && (clusters?.clusters || []).length > 0;
    byId('br-clusters-sec').hidden = !hasClusters;
    replace(byId('br-clusters'), hasClusters ? clustersView(clusters, ideaIndex(reveal), { headingLevel: 3 }) : null);
    replace(byId('br-sheets'), node);
  }
  setView('reveal');
}

/** While voting the board shows only how many votes are in: no tallies, no ideas. */
function renderVote(room) {
  setText('bv-topic', room.topic);
  setText('bv-cast', room.votes_cast);
  setText('bv-cast-label', room.votes_cast === 1 ? 'vote cast' : 'votes cast');
  setView('vote');
}

function renderResults(room) {
  setText('bres-topic', room.topic);
  const { results, reveal } = state;
  if (!results) setText('bres-count', 'Counting the votes…');
  else if (results !== resultsShown) {
    resultsShown = results;
    const votes = results.reduce((n, r) => n + (r.votes || 0), 0);
    setText('bres-count', `${plural(votes, 'vote')} on ${plural(results.length, 'idea')}, ranked`);
    replace(byId('bres-list'), resultsList(results, { index: ideaIndex(reveal) }));
  }
  setView('results');
}
