// The participant's simpler screens, drawn from the room: the join screen's status line, the
// lobby, "you'll be seated at the next round", and the page title. No state of their own.

import { byId, setText, plural } from '/lib/dom.js';
import { errorText } from '/lib/state.js';
import '/lib/goal.js';

/** What the join screen says about a room before joining it (GET /api/rooms/{code}). */
export function joinStatus(info) {
  if (info.locked) return errorText({ code: 'locked' });
  const n = info.participants ?? 0;
  if (info.phase === 'lobby') return n ? `${plural(n, 'person has', 'people have')} joined so far.` : 'Be the first to join.';
  if (info.phase === 'finished') return 'This session has finished. Join to see every idea.';
  return "This session has already started. You can still join: you'll see every idea at the end.";
}

/** The page title for a room's phase ("Round 2 of 6"). */
export function titleFor(room) {
  if (room.phase === 'lobby') return 'Waiting to start';
  if (room.phase === 'finished') {
    return room.stage === 'voting' ? 'Voting' : room.stage === 'results' ? 'Results' : 'All ideas';
  }
  return `Round ${room.round} of ${room.rounds}`;
}

export function renderLobby(room, seat) {
  setText('lobby-title', seat?.name ? `You're in, ${seat.name}` : "You're in");
  setText('lobby-count', room.participants);
  setText('lobby-count-label', room.participants === 1 ? 'person here' : 'people here');
  setText('lobby-topic', room.topic);
  byId('lobby-goal').update(room);
  const mins = room.round_seconds >= 60 ? plural(Math.round((room.round_seconds / 60) * 10) / 10, 'minute') : plural(room.round_seconds, 'second');
  setText('how-write', `Write up to ${plural(room.ideas_per_round, 'idea')} in ${mins} on the sheet you hold.`);
}

/** Joined after the start: seated at the next round boundary, if there is one. */
export function renderLate(room) {
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
