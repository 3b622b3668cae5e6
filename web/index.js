// Home page: create a session (then go to its facilitator page) or join one by code.

import { byId, setText } from '/lib/dom.js';
import { normalizeCode } from '/lib/code.js';
import { createRoom, ApiError } from '/lib/api.js';
import { save, keys } from '/lib/storage.js';

const form = byId('create-form');
const topic = byId('topic');
const ideas = byId('ideas');
const minutes = byId('minutes');
const group = byId('group');
const createError = byId('create-error');
const createBtn = byId('create-btn');

function readNumber(input) {
  const n = Number(input.value);
  return input.value.trim() === '' || !Number.isFinite(n) ? null : n;
}

function formatMinutes(m) {
  if (m < 1) return `${Math.round(m * 60)} seconds`;
  const r = Math.round(m * 10) / 10;
  return `${r} minute${r === 1 ? '' : 's'}`;
}

/** "Groups of 6 · 3 ideas in 5 minutes a round · up to 108 ideas in 30 minutes" */
function summarise() {
  const i = readNumber(ideas);
  const m = readNumber(minutes);
  const g = readNumber(group);
  if (!i || !m || !g || i < 1 || m <= 0 || g < 2) {
    setText('create-summary', 'Fill in the numbers to see how the session will run.');
    return;
  }
  const total = g * g * i;
  setText(
    'create-summary',
    `Groups of ${g} · ${i} idea${i === 1 ? '' : 's'} in ${formatMinutes(m)} a round · a full group writes up to ${total} ideas in ${formatMinutes(m * g)}.`,
  );
}

/** Validate the form; returns the request body or throws a message for the person. */
function readForm() {
  const t = topic.value.trim();
  if (!t) {
    topic.focus();
    throw new Error('Write the problem statement that heads every sheet.');
  }
  const i = readNumber(ideas);
  if (!Number.isInteger(i) || i < 1 || i > 10) {
    ideas.focus();
    throw new Error('Ideas per round must be a whole number from 1 to 10.');
  }
  const m = readNumber(minutes);
  const seconds = m === null ? NaN : Math.round(m * 60);
  if (!Number.isFinite(seconds) || seconds < 1 || seconds > 3600) {
    minutes.focus();
    throw new Error('Minutes per round must be more than 0 and at most 60.');
  }
  const g = readNumber(group);
  if (!Number.isInteger(g) || g < 2 || g > 12) {
    group.focus();
    throw new Error('Group size must be a whole number from 2 to 12.');
  }
  return { topic: t, ideas_per_round: i, round_seconds: seconds, group_size: g };
}

form.addEventListener('input', () => {
  summarise();
  createError.hidden = true;
});

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  createError.hidden = true;
  let body;
  try {
    body = readForm();
  } catch (e) {
    setText(createError, e.message);
    createError.hidden = false;
    return;
  }
  createBtn.disabled = true;
  createBtn.setAttribute('aria-busy', 'true');
  try {
    const room = await createRoom(body);
    // Keep the facilitator token on this device; the URL carries it only in the fragment.
    save(keys.facilitator(room.code), room.facilitator_token);
    location.assign(room.facilitate_url || `/f/${room.code}#${room.facilitator_token}`);
  } catch (e) {
    setText(createError, e instanceof ApiError ? e.message : 'Could not create the session. Try again.');
    createError.hidden = false;
    createBtn.disabled = false;
    createBtn.removeAttribute('aria-busy');
  }
});

const joinForm = byId('join-form');
const codeInput = byId('code');
const joinError = byId('join-error');

codeInput.addEventListener('input', () => {
  joinError.hidden = true;
  codeInput.removeAttribute('aria-invalid');
});

joinForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const code = normalizeCode(codeInput.value);
  if (!code) {
    setText(joinError, 'A session code has 8 letters and digits, like 7K3M-Q9ZD.');
    joinError.hidden = false;
    codeInput.setAttribute('aria-invalid', 'true');
    codeInput.focus();
    return;
  }
  location.assign(`/r/${code}`);
});

// A code in the query (?code=…) from a printed link or an old bookmark prefills the form.
const fromQuery = new URLSearchParams(location.search).get('code');
if (fromQuery) codeInput.value = fromQuery;

summarise();
