// The room's method on the facilitator's page (docs/protocol.md, "Methods"): its name, the
// settings line of a brainwriting pool, and what the controls' hint says in a pool, where one
// session clock runs instead of rounds and "advance" would finish.

import { t, duration } from '/lib/i18n.js';

const NAMES = { 635: 'method.635', c_sketch: 'method.c_sketch', pool: 'method.pool' };

/** "6-3-5", "C-Sketch", "Brainwriting pool". */
export function methodLabel(room) {
  return t(NAMES[room?.method] || NAMES[635]);
}

/** A pool's settings ("3 ideas a sheet · a 30-minute session · Quick"), or null in other methods. */
export function poolSettings(room) {
  if (room?.method !== 'pool') return null;
  const names = { quick: 'pool.quick', large: 'preset.large' };
  const line = t('pool.settings', { ideas: t('n.ideas', { n: room.ideas_per_round }), time: duration(room.round_seconds) });
  return names[room.preset] ? `${line} · ${t(names[room.preset])}` : line;
}

/** The hint under the controls in a pool, or null where the 6-3-5 words fit. */
export function poolHint(room) {
  if (room?.method !== 'pool') return null;
  if (room.phase === 'lobby' && room.participants >= 2) {
    return t('pool.hintReady', { people: t('n.people', { n: room.participants }), time: duration(room.round_seconds) });
  }
  if (room.phase === 'writing') return t('pool.hintWriting');
  return null;
}
