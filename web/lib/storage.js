// localStorage with JSON and without surprises: private browsing modes and full quotas throw,
// and a page must keep working (it just forgets more) when they do.

const PREFIX = 'brainwrite:';

export function load(key, fallback = null) {
  try {
    const raw = localStorage.getItem(PREFIX + key);
    return raw === null ? fallback : JSON.parse(raw);
  } catch {
    return fallback;
  }
}

export function save(key, value) {
  try {
    localStorage.setItem(PREFIX + key, JSON.stringify(value));
    return true;
  } catch {
    return false;
  }
}

export function remove(key) {
  try {
    localStorage.removeItem(PREFIX + key);
  } catch {
    /* nothing to forget */
  }
}

// Keys, in one place so pages agree on them.
export const keys = {
  /** Participant seat: { token, name } */
  seat: (code) => `seat:${code}`,
  /** Participant draft: { round, texts: [], dirty: [] } */
  draft: (code) => `draft:${code}`,
  /** C-Sketch draft: { round, strokes: [[x, y, …]], groups: [], lastGroup, caption, captionDirty } */
  sketch: (code) => `sketch:${code}`,
  /** Facilitator token for a room. */
  facilitator: (code) => `facilitator:${code}`,
};
