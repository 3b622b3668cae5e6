// Room codes: 8 characters of Crockford base32 (0-9 A-Z without I L O U).
// People type them from a projector, so we read them the way the server does: any case,
// dashes and spaces ignored, I/L as 1 and O as 0.

const VALID = /^[0-9A-HJKMNP-TV-Z]{8}$/;

/** Normalise a typed code; returns null when it cannot be a room code. */
export function normalizeCode(input) {
  const s = String(input ?? '')
    .toUpperCase()
    .replace(/[\s-]+/g, '')
    .replace(/[IL]/g, '1')
    .replace(/O/g, '0');
  return VALID.test(s) ? s : null;
}

/** "7K3MQ9ZD" → "7K3M-Q9ZD" for reading aloud and off a screen. */
export function formatCode(code) {
  const c = String(code ?? '');
  return c.length === 8 ? `${c.slice(0, 4)}-${c.slice(4)}` : c;
}

/** The room code from a page path such as /r/7K3MQ9ZD (normalised), or null. */
export function codeFromPath(pathname = location.pathname) {
  const m = /^\/[rfb]\/([^/]+)\/?$/.exec(pathname);
  return m ? normalizeCode(decodeURIComponent(m[1])) : null;
}
