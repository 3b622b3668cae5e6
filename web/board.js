// Board, /b/{code}: for a projector or a remote team's screen. Read-only (`watch`).
// Lobby: how to join, in large type, with the QR code, the goal and expected outcomes.
// Rounds: the clock and counts (never text while writing). Finished: the sheet being
// presented, large, or every sheet with the clusters; while voting only the number of votes
// cast; then the ranked results.

import { byId, setText, showView } from '/lib/dom.js';
import { t, num, useRoomLanguage } from '/lib/i18n.js';
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
import '/lib/pool-counts.js';

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
      if (msg.type === 'room') useRoomLanguage(code, msg.language);
      render();
    },
    onStatus: (status, info) => {
      banner(status, info);
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
  document.title = t('board.pageTitle', { what: phaseLabel(room) });
  setText('b-phase', phaseLabel(room));

  if (room.phase === 'lobby') {
    countdown.stop();
    setText('bl-topic', room.topic);
    setText('bl-count', num(room.participants));
    setText('bl-count-label', t('board.joined', { n: room.participants }));
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
  setText('bw-round', phaseLabel(room));
  countdown.update(room);
  const pr = roundProgress(page.state);
  setText('bw-done', t('common.doneOf', { done: pr.done, seated: pr.seated }));
  setText('bw-ideas', pr.known ? t('board.ideasSoFar', { ideas: t('n.ideas', { n: pr.ideas }) }) : '');
  progress.update({ sheets: pr.sheets });
  // A brainwriting pool: one session clock, and where the sheets are instead of how full.
  byId('bw-bars').hidden = room.method === 'pool';
  byId('bw-pool-sec').hidden = room.method !== 'pool';
  if (room.method === 'pool') byId('bw-pool').update({ pool: page.state.progress?.pool });
  setView('live');
}

function renderReveal(room) {
  setText('br-topic', room.topic);
  const { reveal: sheets, clusters: groups } = page.state;
  if (sheets) {
    reveal.update({ sheets, presenting: room.presenting });
    const { label } = reveal;
    setText('br-eyebrow', label ? t('board.presenting', { sheet: label }) : t('part.allIdeas'));
    setText('br-count', label ? '' : t('board.count', { ideas: t('n.ideas', { n: countIdeas(sheets) }), sheets: t('n.sheets', { n: sheets.length }) }));
    const hasClusters = !label && (groups?.clusters || []).length > 0;
    byId('br-clusters-sec').hidden = !hasClusters;
    clusters.update({ clusters: hasClusters ? groups : null, sheets });
  }
  setView('reveal');
}

/** While voting the board shows only how many votes are in: no tallies, no ideas. */
function renderVote(room) {
  setText('bv-topic', room.topic);
  setText('bv-cast', num(room.votes_cast));
  setText('bv-cast-label', t('board.votesCast', { n: room.votes_cast }));
  setView('vote');
}

function renderResults(room) {
  setText('bres-topic', room.topic);
  const { results: ranked, reveal: sheets } = page.state;
  if (!ranked) setText('bres-count', t('common.counting'));
  else if (results.update({ results: ranked, sheets })) {
    const votes = ranked.reduce((n, r) => n + (r.votes || 0), 0);
    setText('bres-count', t('board.resultsCount', { votes: t('n.votes', { n: votes }), ideas: t('n.ideas', { n: ranked.length }) }));
  }
  setView('results');
}
