// The HTTP side of the protocol (docs/protocol.md, "HTTP").

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
    throw new ApiError(0, 'network', 'Could not reach the server. Check your connection and try again.');
  }
  let data = null;
  try {
    data = await res.json();
  } catch {
    /* not JSON: handled below */
  }
  if (!res.ok) {
    const err = data && data.error ? data.error : {};
    throw new ApiError(res.status, err.code || `http_${res.status}`, err.message || `The server answered ${res.status}.`);
  }
  return data;
}

/** POST /api/rooms → { code, facilitator_token, join_url, facilitate_url } */
export function createRoom({ topic, ideas_per_round, round_seconds, group_size }) {
  return request('POST', '/api/rooms', { topic, ideas_per_round, round_seconds, group_size });
}

/** GET /api/rooms/{code} → { code, topic, phase, participants } */
export function getRoom(code) {
  return request('GET', `/api/rooms/${encodeURIComponent(code)}`);
}

/** Absolute join link for a code, as people will type or scan it. */
export function joinLink(code) {
  return `${location.origin}/r/${code}`;
}
