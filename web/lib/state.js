// The client's view of a room: a pure reducer over server messages (docs/protocol.md).
//
// Pages keep one `state`, feed every message through `reduce`, and render from the result.
// Unknown message types and fields are ignored: the protocol grows by adding them. Events
// are idempotent: the same snapshot applied twice gives the same state, so a resumed
// connection can replay `room`/`sheet`/`reveal` freely.

import { t } from './i18n.js';

export const initialState = Object.freeze({
  role: null, // 'participant' | 'facilitator' | 'board'
  welcome: null, // the welcome message
  room: null, // RoomView
  me: null, // { seated, done, left, waiting }
  sheet: null, // { round, sheet: { id, rows }, draft, links }
  roster: null, // [{ id, name, connected, seated, done }]
  progress: null, // { round, done, seated, sheets: [{ id, ideas, drafted, capacity }], pool }
  reveal: null, // [SheetView]
  ballot: null, // { votes_left, per_idea, mine: [{ idea, votes }] } — participant, while voting
  results: null, // [{ id, text, votes, rank }] — after voting closed
  clusters: null, // { clusters: [{ id, name, ideas: [id] }], merged: [{ idea, into }] }
  error: null, // the last error message
});

export function reduce(state, msg) {
  switch (msg?.type) {
    case 'welcome':
      return { ...state, role: msg.role ?? state.role, welcome: msg };
    case 'room': {
      const room = pickRoom(msg);
      // A new round makes the old sheet and progress stale; a snapshot for them follows.
      const sameRound = state.room && state.room.round === room.round;
      return {
        ...state,
        room,
        progress: sameRound || !state.progress || state.progress.round === room.round ? state.progress : null,
        reveal: room.phase === 'finished' ? state.reveal : null,
        // A ballot belongs to a running vote; results to a closed one.
        ballot: room.stage === 'voting' ? state.ballot : null,
        results: room.stage === 'voting' ? null : state.results,
      };
    }
    case 'me':
      return { ...state, me: { seated: !!msg.seated, done: !!msg.done, left: !!msg.left, waiting: !!msg.waiting } };
    case 'sheet':
      if (state.sheet && msg.round < state.sheet.round) return state; // a late, older sheet
      return {
        ...state,
        sheet: {
          round: msg.round,
          sheet: { id: msg.sheet?.id ?? '', rows: Array.isArray(msg.sheet?.rows) ? msg.sheet.rows : [] },
          draft: Array.isArray(msg.draft) ? msg.draft.map((t) => (typeof t === 'string' ? t : '')) : [],
          links: Array.isArray(msg.links) ? msg.links.map((l) => (l === null || l === undefined ? null : String(l))) : [],
          sketch: Array.isArray(msg.sketch) ? msg.sketch : null, // C-Sketch: the draft layer
        },
      };
    case 'roster':
      return { ...state, roster: Array.isArray(msg.participants) ? msg.participants : [] };
    case 'progress':
      if (state.room && typeof msg.round === 'number' && msg.round < state.room.round) return state;
      return {
        ...state,
        progress: {
          round: msg.round,
          done: msg.done ?? 0,
          seated: msg.seated ?? 0,
          sheets: Array.isArray(msg.sheets) ? msg.sheets : [],
          // A brainwriting pool's counts: { pooled, held, waiting, swaps } (null in other methods).
          pool: msg.pool && typeof msg.pool === 'object' ? msg.pool : null,
        },
      };
    case 'reveal':
      return { ...state, reveal: Array.isArray(msg.sheets) ? msg.sheets : [] };
    case 'ballot':
      return {
        ...state,
        ballot: {
          votes_left: msg.votes_left ?? 0,
          per_idea: msg.per_idea ?? 1,
          mine: Array.isArray(msg.mine) ? msg.mine : [],
        },
      };
    case 'results':
      return { ...state, results: Array.isArray(msg.ideas) ? msg.ideas : [] };
    case 'clusters':
      return {
        ...state,
        clusters: {
          clusters: Array.isArray(msg.clusters) ? msg.clusters : [],
          merged: Array.isArray(msg.merged) ? msg.merged : [],
        },
      };
    case 'error':
      return { ...state, error: { code: msg.code, message: msg.message, seq: msg.seq ?? null } };
    default:
      return state;
  }
}

function pickRoom(m) {
  return {
    code: m.code,
    topic: m.topic ?? '',
    phase: m.phase,
    round: m.round ?? 0,
    rounds: m.rounds ?? 0,
    ideas_per_round: m.ideas_per_round ?? 3,
    round_seconds: m.round_seconds ?? 300,
    deadline: m.deadline ?? null,
    remaining_ms: m.remaining_ms ?? null,
    now: m.now ?? null,
    participants: m.participants ?? 0,
    connected: m.connected ?? 0,
    done: m.done ?? 0,
    seated: m.seated ?? 0,
    // The whole workshop (docs/protocol.md, "protocol v1, extended").
    preset: m.preset ?? null,
    goal: m.goal ?? '',
    outcomes: Array.isArray(m.outcomes) ? m.outcomes : [],
    waiting: m.waiting ?? 0,
    locked: !!m.locked,
    stage: m.stage ?? (m.phase === 'finished' ? 'sharing' : null),
    presenting: m.presenting ?? null,
    votes_cast: m.votes_cast ?? 0,
    language: typeof m.language === 'string' ? m.language : null,
    // "635" (also for rooms made before methods existed), "c_sketch" or "pool".
    method: typeof m.method === 'string' ? m.method : '635',
  };
}

/** The sheet the participant holds in the current round, or null if none (yet). */
export function currentSheet(state) {
  const { room, sheet } = state;
  if (!room || !sheet) return null;
  if (room.phase !== 'writing' && room.phase !== 'paused') return null;
  return sheet.round === room.round ? sheet : null;
}

/**
 * The current round's progress: from the last `progress` message of this round, else the
 * room's own counts. { known, done, seated, sheets, ideas, drafted } (ideas on the sheets,
 * ideas being written).
 */
export function roundProgress(state) {
  const { room, progress } = state;
  const pr = room && progress && progress.round === room.round ? progress : null;
  const sheets = pr?.sheets || [];
  return {
    known: !!pr,
    done: pr ? pr.done : room?.done,
    seated: pr ? pr.seated : room?.seated,
    sheets,
    ideas: sheets.reduce((n, s) => n + (s.ideas || 0), 0),
    drafted: sheets.reduce((n, s) => n + (s.drafted || 0), 0),
  };
}

/** Total number of ideas over a list of sheets. */
export function countIdeas(sheets) {
  let n = 0;
  for (const s of sheets || []) for (const r of s.rows || []) n += (r.ideas || []).length;
  return n;
}

/** Every idea of a list of sheets, in reading order: [{ id, text, builds_on, sketch, sheet, sheetIndex, row }]. */
export function allIdeas(sheets) {
  const out = [];
  (sheets || []).forEach((s, si) =>
    (s.rows || []).forEach((r, ri) =>
      (r.ideas || []).forEach((idea) =>
        out.push({ id: idea.id, text: idea.text ?? '', builds_on: idea.builds_on ?? null, sketch: idea.sketch ?? null, sheet: s.id, sheetIndex: si, row: ri }),
      ),
    ),
  );
  return out;
}

/** idea id → idea, over a list of sheets. */
export function ideaIndex(sheets) {
  return new Map(allIdeas(sheets).map((i) => [i.id, i]));
}

/** idea id → the id it was merged into. */
export function mergedMap(clusters) {
  return new Map((clusters?.merged || []).map((m) => [m.idea, m.into]));
}

/** Human text for the phase line: "Waiting to start", "Round 2 of 6", "Paused", "Finished". */
export function phaseLabel(room) {
  if (!room) return '';
  // A brainwriting pool has one session clock, no rounds.
  if (room.method === 'pool' && (room.phase === 'writing' || room.phase === 'paused')) {
    return t(room.phase === 'paused' ? 'pool.phasePaused' : 'pool.phase');
  }
  switch (room.phase) {
    case 'lobby':
      return t('phase.lobby');
    case 'writing':
      return t('phase.round', { round: room.round, rounds: room.rounds });
    case 'paused':
      return t('phase.paused', { round: room.round, rounds: room.rounds });
    case 'finished':
      return room.stage === 'voting' ? t('phase.voting') : room.stage === 'results' ? t('phase.results') : t('phase.finished');
    default:
      return '';
  }
}

// The catalog key of every error code the server sends: the WebSocket's ErrorCode
// (src/protocol.rs) and the HTTP API's codes (docs/protocol.md), plus the client's own
// `network`. tests/i18n checks that every code of src/protocol.rs is here.
const ERRORS = {
  not_joined: 'error.not_joined',
  forbidden: 'error.forbidden',
  not_writing: 'error.not_writing',
  invalid_slot: 'error.invalid_slot',
  too_long: 'error.too_long',
  already_started: 'error.already_started',
  not_enough_participants: 'error.not_enough_participants',
  bad_message: 'error.bad_message',
  invalid_value: 'error.invalid_value',
  wrong_phase: 'error.wrong_phase',
  finished: 'error.finished',
  room_full: 'error.room_full',
  rate_limited: 'error.rate_limited',
  locked: 'error.locked',
  unknown_participant: 'error.unknown_participant',
  unknown_idea: 'error.unknown_idea',
  unknown_cluster: 'error.unknown_cluster',
  own_idea: 'error.own_idea',
  no_votes_left: 'error.no_votes_left',
  idea_cap: 'error.idea_cap',
  not_voting: 'error.not_voting',
  removed: 'error.removed',
  unavailable: 'error.unavailable',
  wrong_method: 'error.wrong_method',
  sketch_too_big: 'error.sketch_too_big',
  // HTTP
  invalid_request: 'error.invalid_request',
  room_not_found: 'error.room_not_found',
  too_many_rooms: 'error.too_many_rooms',
  too_many_connections: 'error.too_many_connections',
  not_finished: 'error.not_finished',
  unauthorized: 'error.unauthorized',
  not_found: 'error.not_found',
  network: 'error.network',
};

/** The person's words for a protocol error code (`{ code, message }`); the server's message is the fallback. */
export function errorText(err) {
  const key = ERRORS[err?.code];
  if (key) return t(key, { message: err.message ?? '' });
  return err?.message || t('error.unknown');
}

// The catalog key of every WebSocket close code of src/protocol.rs (`protocol::close`).
const CLOSES = {
  1000: 'close.1000',
  1002: 'close.1002',
  1007: 'close.1007',
  1009: 'close.1009',
  1011: 'close.1011',
  1012: 'close.1012',
  4000: 'close.4000',
  4001: 'close.4001',
  4003: 'close.4003',
  4004: 'close.4004',
  4008: 'close.4008',
  4029: 'close.4029',
};

/** Why the server closed the connection, in the person's words, or '' for a code it does not send. */
export function closeText(code) {
  return CLOSES[code] ? t(CLOSES[code]) : '';
}
