// The HTTP side of the protocol (docs/protocol.md, "HTTP").

import { t } from './i18n.js';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function request(method, path, body) {
  let res;
  try {
    res = await fetch(path, {
      method,
      headers: body ? { 'content-type': 'application/json' } : {},
      body: body ? JSON.stringify(body) : undefined,
      cache: 'no-store',
    });
  } catch {
    throw new ApiError(0, 'network', t('error.network'));
  }
  let data = null;
  try {
    data = await res.json();
  } catch {
    /* not JSON: handled below */
  }
  if (!res.ok) {
    const err = data && data.error ? data.error : {};
    throw new ApiError(res.status, err.code || `http_${res.status}`, err.message || t('error.http', { status: res.status }));
  }
  return data;
}

/**
 * POST /api/rooms → { code, facilitator_token, join_url, facilitate_url }.
 * `preset` ('classic' | 'quick' | 'large'), `goal`, `outcomes`, `language` and `method`
 * ('635' | 'c_sketch' | 'pool'), and the numbers a method does not use, are sent only when given.
 */
export function createRoom({ topic, ideas_per_round, round_seconds, group_size, preset, goal, outcomes, language, method }) {
  const body = { topic, ideas_per_round, round_seconds, group_size };
  for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
  if (method) body.method = method;
  if (preset) body.preset = preset;
  if (goal) body.goal = goal;
  if (outcomes?.length) body.outcomes = outcomes;
  if (language) body.language = language;
  return request('POST', '/api/rooms', body);
}

/**
 * GET /api/rooms/{code}/export.{md,csv,json}?lang= with the facilitator token as a bearer token.
 * Resolves { blob, filename }; the filename comes from Content-Disposition when the server
 * sends one.
 */
export async function fetchExport(code, token, ext, lang = 'en') {
  let res;
  try {
    res = await fetch(`/api/rooms/${encodeURIComponent(code)}/export.${ext}?lang=${encodeURIComponent(lang)}`, {
      headers: { authorization: `Bearer ${token}` },
      cache: 'no-store',
    });
  } catch {
    throw new ApiError(0, 'network', t('error.network'));
  }
  if (!res.ok) {
    let err = {};
    try {
      err = (await res.json())?.error || {};
    } catch {
      /* not JSON */
    }
    const message =
      res.status === 401 || res.status === 403
        ? t('error.exportForbidden')
        : err.message || t('error.http', { status: res.status });
    throw new ApiError(res.status, err.code || `http_${res.status}`, message);
  }
  const blob = await res.blob();
  const cd = res.headers.get('content-disposition') || '';
  const m = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(cd);
  let filename = `brainwrite-${code}.${ext}`;
  if (m) {
    try {
      filename = decodeURIComponent(m[1]).replace(/[\\/]/g, '_');
    } catch {
      /* keep the default */
    }
  }
  return { blob, filename };
}

/** GET /api/rooms/{code} → { code, topic, phase, participants } */
export function getRoom(code) {
  return request('GET', `/api/rooms/${encodeURIComponent(code)}`);
}

/** Absolute join link for a code, as people will type or scan it. */
export function joinLink(code) {
  return `${location.origin}/r/${code}`;
}
