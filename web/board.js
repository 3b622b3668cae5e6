// Board, /b/{code}: for a projector or a remote team's screen. Read-only (`watch`).
// Lobby: how to join, in large type, with the QR code, the goal and expected outcomes.
// Rounds: the clock and counts (never text while writing). Finished: the sheet being
// presented, large, or every sheet with the clusters; while voting only the number of votes
// cast; then the ranked results.

import { byId, setText, showView, plural } from '/lib/dom.js';
import { codeFromPath, formatCode } from '/lib/code.js';
import { getRoom, joinLink, ApiError } from '/lib/api.js';
import { Connection } from '/lib/ws.js';
import { ServerClock } from '/lib/clock.js';
import { Countdown } from '/lib/countdown.js';
import { initialState, reduce, countIdeas, phaseLabel, roundProgress } from '/lib/state.js';
import { connectionBanner } from '/lib/ui.js';
import '/lib/goal.js';
import '/lib/reveal.js';
import '/lib/clusters.js';
import '/lib/results.js';
import '/lib/progress.js';

const main = byId('main');
const code = codeFromPath();
const clock = new ServerClock();
/** Everything this page knows, in one place. */
const page = { state: initialState, view: 'loading', conn: null };

const countdown = new Countdown({ clock, timer: byId('bw-timer'), bar: byId('bw-bar') });
const progress = byId('bw-sheets');
const reveal = byId('br-sheets');
const clusters = byId('br-clusters');
const results = byId('bres-list');

function setView(name) {
  if (page.view === name) return;
  page.view = name;
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
  const conn = new Connection({
    code,
    clock,
    hello: () => ({ type: 'watch' }),
    onMessage: (msg) => {
      page.state = reduce(page.state, msg);
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
  page.conn = conn;
  conn.start();
}

function render() {
  const { room } = page.state;
  if (!room) return;
  document.title = `${phaseLabel(room)} — brainwrite board`;
  setText('b-phase', phaseLabel(room));

  if (room.phase === 'lobby') {
    countdown.stop();
    setText('bl-topic', room.topic);
    setText('bl-count', room.participants);
    setText('bl-count-label', room.participants === 1 ? 'person has joined' : 'people have joined');
    byId('bl-goal').update(room);
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
  const pr = roundProgress(page.state);
  setText('bw-done', `${pr.done} of ${pr.seated} done`);
  setText('bw-ideas', pr.known ? `${plural(pr.ideas, 'idea')} on the sheets so far` : '');
  progress.update({ sheets: pr.sheets });
  setView('live');
}

function renderReveal(room) {
  setText('br-topic', room.topic);
  const { reveal: sheets, clusters: groups } = page.state;
  if (sheets) {
    reveal.update({ sheets, presenting: room.presenting });
    const { label } = reveal;
    setText('br-eyebrow', label ? `Presenting · ${label}` : 'All ideas');
    setText('br-count', label ? '' : `${plural(countIdeas(sheets), 'idea')} on ${plural(sheets.length, 'sheet')}`);
    const hasClusters = !label && (groups?.clusters || []).length > 0;
    byId('br-clusters-sec').hidden = !hasClusters;
    clusters.update({ clusters: hasClusters ? groups : null, sheets });
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
  const { results: ranked, reveal: sheets } = page.state;
  if (!ranked) setText('bres-count', 'Counting the votes…');
  else if (results.update({ results: ranked, sheets })) {
    const votes = ranked.reduce((n, r) => n + (r.votes || 0), 0);
    setText('bres-count', `${plural(votes, 'vote')} on ${plural(ranked.length, 'idea')}, ranked`);
  }
  setView('results');
}
