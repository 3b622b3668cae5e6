// The participant's simpler screens, drawn from the room: the join screen's status line, the
// lobby, "you'll be seated at the next round", and the page title. No state of their own.

import { byId, setText } from '/lib/dom.js';
import { t, num, duration } from '/lib/i18n.js';
import { errorText } from '/lib/state.js';
import '/lib/goal.js';

/** What the join screen says about a room before joining it (GET /api/rooms/{code}). */
export function joinStatus(info) {
  if (info.locked) return errorText({ code: 'locked' });
  const n = info.participants ?? 0;
  if (info.phase === 'lobby') return n ? t('part.joinedSoFar', { n }) : t('part.beFirst');
  if (info.phase === 'finished') return t('part.joinFinished');
  return t('part.joinStarted');
}

/** The page title for a room's phase ("Round 2 of 6"). */
export function titleFor(room) {
  if (room.phase === 'lobby') return t('phase.lobby');
  if (room.phase === 'finished') {
    return room.stage === 'voting' ? t('phase.voting') : room.stage === 'results' ? t('phase.results') : t('part.allIdeas');
  }
  if (room.method === 'pool') return t('pool.phase');
  return t('phase.round', { round: room.round, rounds: room.rounds });
}

export function renderLobby(room, seat) {
  setText('lobby-title', seat?.name ? t('part.youreInName', { name: seat.name }) : t('part.youreIn'));
  setText('lobby-count', num(room.participants));
  setText('lobby-count-label', t('part.peopleHere', { n: room.participants }));
  setText('lobby-topic', room.topic);
  byId('lobby-goal').update(room);
  const time = duration(room.round_seconds);
  const ideas = t('n.ideas', { n: room.ideas_per_round });
  const how = { c_sketch: t('sketch.howDraw', { time }), pool: t('pool.howWrite', { ideas, time }) };
  setText('how-write', how[room.method] ?? t('part.howWrite', { ideas, time }));
  // A pool has no rounds: sheets go back whenever their writer wants another.
  if (room.method === 'pool') setText('how-pass', t('pool.howPass'));
}

/** Joined after the start: seated at the next round boundary, if there is one. */
export function renderLate(room) {
  const last = room.round >= room.rounds;
  setText('late-title', last ? t('part.lateStarted') : t('part.lateTitle'));
  setText('late-text', last ? t('part.lateLast') : t('part.lateText'));
  setText('late-round', t(room.phase === 'paused' ? 'phase.paused' : 'phase.round', { round: room.round, rounds: room.rounds }));
}
