// Home page: create a session (then go to its facilitator page) or join one by code.

import { byId, setText } from '/lib/dom.js';
import { normalizeCode } from '/lib/code.js';
import { createRoom, ApiError } from '/lib/api.js';
import { save, keys } from '/lib/storage.js';
import { t, duration, rememberRoomLanguage } from '/lib/i18n.js';
import { errorText } from '/lib/state.js';

const form = byId('create-form');
const topic = byId('topic');
const ideas = byId('ideas');
const minutes = byId('minutes');
const group = byId('group');
const goal = byId('goal');
const outcomes = byId('outcomes');

// The presets of docs/protocol.md ("Creating a room"): choosing one fills the fields, and the
// server applies its own limits (e.g. the number of rounds) from the preset's name. Fields
// changed by hand override the preset.
const PRESETS = {
  classic: { ideas: 3, minutes: 5, group: 6, maxRounds: null },
  quick: { ideas: 3, minutes: 3, group: 6, maxRounds: 3 },
  large: { ideas: 3, minutes: 4, group: 5, maxRounds: 4 },
};
// The methods (docs/protocol.md, "Methods"): C-Sketch is 6-3-5 with one sketch a round; the
// pool has one session clock (its presets: 30, 15, 20 minutes) and no groups.
const POOL_MINUTES = { classic: 30, quick: 15, large: 20 };
// What each method calls the presets and the fields ([name key, description key] per preset).
const WORDS = {
  635: {
    presets: { classic: ['preset.classic', 'preset.classicDesc'], quick: ['preset.quick', 'preset.quickDesc'], large: ['preset.large', 'preset.largeDesc'] },
    ideas: 'home.ideas',
    minutes: 'home.minutes',
  },
  c_sketch: {
    presets: { classic: ['method.sketchClassic', 'method.sketchClassicDesc'], quick: ['preset.quick', 'method.sketchQuickDesc'], large: ['preset.large', 'preset.largeDesc'] },
    ideas: 'home.ideas',
    minutes: 'home.minutes',
  },
  pool: {
    presets: { classic: ['pool.classic', 'pool.classicDesc'], quick: ['pool.quick', 'pool.quickDesc'], large: ['preset.large', 'pool.largeDesc'] },
    ideas: 'pool.ideas',
    minutes: 'pool.minutes',
  },
};

function methodName() {
  return form.querySelector('input[name="method"]:checked')?.value || '635';
}

/** Fields, labels and preset names for the method chosen; the preset's numbers again. */
function applyMethod() {
  const m = methodName();
  const words = WORDS[m] || WORDS[635];
  for (const input of form.querySelectorAll('input[name="preset"]')) {
    const [name, desc] = words.presets[input.value];
    setText(input.parentElement.querySelector('.preset-name'), t(name));
    setText(input.parentElement.querySelector('.preset-desc'), t(desc));
  }
  setText(form.querySelector('label[for="ideas"]'), t(words.ideas));
  setText(form.querySelector('label[for="minutes"]'), t(words.minutes));
  // C-Sketch draws one sketch a round; the pool has no groups.
  ideas.closest('.field').hidden = m === 'c_sketch';
  group.closest('.field').hidden = m === 'pool';
  ideas.closest('.field-row').classList.toggle('three', m === '635');
  ideas.closest('.field-row').classList.toggle('two', m !== '635');
  applyPreset(presetName());
}

for (const radio of form.querySelectorAll('input[name="method"]')) {
  radio.addEventListener('change', () => {
    if (radio.checked) applyMethod();
    summarise();
  });
}
const MAX_OUTCOMES = 10;
const MAX_OUTCOME_CHARS = 200;
const MAX_GOAL_CHARS = 500;

function presetName() {
  return form.querySelector('input[name="preset"]:checked')?.value || 'classic';
}

function applyPreset(name) {
  const p = PRESETS[name];
  if (!p) return;
  ideas.value = String(p.ideas);
  minutes.value = String(methodName() === 'pool' ? POOL_MINUTES[name] : p.minutes);
  group.value = String(p.group);
}

for (const radio of form.querySelectorAll('input[name="preset"]')) {
  radio.addEventListener('change', () => {
    if (radio.checked) applyPreset(radio.value);
    summarise();
  });
}

function readOutcomes() {
  return outcomes.value
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);
}
const createError = byId('create-error');
const createBtn = byId('create-btn');

function readNumber(input) {
  const n = Number(input.value);
  return input.value.trim() === '' || !Number.isFinite(n) ? null : n;
}

/** "Groups of 6 · 3 ideas in 5 minutes a round · up to 108 ideas in 30 minutes" */
function summarise() {
  const method = methodName();
  const i = method === 'c_sketch' ? 1 : readNumber(ideas);
  const m = readNumber(minutes);
  const g = method === 'pool' ? 2 : readNumber(group);
  if (!i || !m || !g || i < 1 || m <= 0 || g < 2) {
    setText('create-summary', t('home.summaryEmpty'));
    return;
  }
  if (method === 'pool') {
    setText('create-summary', t('pool.summary', { time: duration(m * 60), ideas: t('n.ideas', { n: i }) }));
    return;
  }
  const cap = PRESETS[presetName()]?.maxRounds;
  const rounds = cap ? Math.min(g, cap) : g;
  const total = g * rounds * (method === 'c_sketch' ? 1 : i);
  setText(
    'create-summary',
    t(method === 'c_sketch' ? 'method.sketchSummary' : 'home.summary', {
      group: g,
      ideas: t('n.ideas', { n: i }),
      time: duration(m * 60),
      rounds: t('n.rounds', { n: rounds }),
      total: t(method === 'c_sketch' ? 'method.sketches' : 'n.ideas', { n: total }),
      totalTime: duration(m * 60 * rounds),
    }),
  );
}

/** Validate the form; returns the request body or throws a message for the person. */
function readForm() {
  const text = topic.value.trim();
  if (!text) {
    topic.focus();
    throw new Error(t('home.errTopic'));
  }
  const method = methodName();
  const i = method === 'c_sketch' ? undefined : readNumber(ideas);
  if (i !== undefined && (!Number.isInteger(i) || i < 1 || i > 10)) {
    ideas.focus();
    throw new Error(t('home.errIdeas'));
  }
  const m = readNumber(minutes);
  const seconds = m === null ? NaN : Math.round(m * 60);
  if (!Number.isFinite(seconds) || seconds < 1 || seconds > 3600) {
    minutes.focus();
    throw new Error(t(method === 'pool' ? 'pool.errMinutes' : 'home.errMinutes'));
  }
  const g = method === 'pool' ? undefined : readNumber(group);
  if (g !== undefined && (!Number.isInteger(g) || g < 2 || g > 12)) {
    group.focus();
    throw new Error(t('home.errGroup'));
  }
  const gl = goal.value.trim();
  if ([...gl].length > MAX_GOAL_CHARS) {
    goal.closest('details').open = true;
    goal.focus();
    throw new Error(t('home.errGoal', { n: MAX_GOAL_CHARS }));
  }
  const outs = readOutcomes();
  if (outs.length > MAX_OUTCOMES) {
    outcomes.closest('details').open = true;
    outcomes.focus();
    throw new Error(t('home.errOutcomes', { n: MAX_OUTCOMES }));
  }
  const long = outs.findIndex((o) => [...o].length > MAX_OUTCOME_CHARS);
  if (long >= 0) {
    outcomes.closest('details').open = true;
    outcomes.focus();
    throw new Error(t('home.errOutcome', { i: long + 1, n: MAX_OUTCOME_CHARS }));
  }
  return {
    topic: text,
    ideas_per_round: i,
    round_seconds: seconds,
    group_size: g,
    preset: presetName(),
    goal: gl || undefined,
    outcomes: outs.length ? outs : undefined,
    language: byId('room-lang').value || undefined,
    // 6-3-5 is the default: its rooms are made with the same request as before methods.
    method: method === '635' ? undefined : method,
  };
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
    rememberRoomLanguage(room.code, room.language);
    location.assign(room.facilitate_url || `/f/${room.code}#${room.facilitator_token}`);
  } catch (e) {
    setText(createError, e instanceof ApiError ? errorText(e) : t('home.errCreate'));
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
    setText(joinError, t('home.errCode'));
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

applyMethod();
summarise();
