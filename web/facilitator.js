// Facilitator page, /f/{code}#{token}: share the join link, run the clock, watch progress
// (counts only while writing), manage who is in (remove, lock), then after the rounds:
// present sheets, run a dot vote, cluster and merge ideas, and export from the server.
//
// The token arrives in the URL fragment (never sent to a server), is kept in localStorage
// for reloads, and is then taken out of the address bar so a shared screen does not show it.

import { h, byId, setText, replace, replaceKeepingFocus, showView, plural } from '/lib/dom.js';
import { codeFromPath, formatCode } from '/lib/code.js';
import { joinLink, fetchExport } from '/lib/api.js';
import { load, save, remove, keys } from '/lib/storage.js';
import { Connection } from '/lib/ws.js';
import { ServerClock, Countdown } from '/lib/clock.js';
import { initialState, reduce, countIdeas, phaseLabel, errorText, allIdeas, ideaIndex, mergedMap } from '/lib/state.js';
import {
  connectionBanner,
  trackTopbarHeight,
  toast,
  revealGrid,
  revealText,
  copyButton,
  buildsOnLine,
  resultsList,
  goalBlock,
  saveBlob,
} from '/lib/ui.js';

const main = byId('main');
trackTopbarHeight();
const code = codeFromPath();
const clock = new ServerClock();

let state = initialState;
let conn = null;
let token = null;
let awaitingWelcome = false;
let busy = false;
let busyTimer = null;
let revealShown = null;
let confirmRemove = null; // participant id whose removal is being confirmed
let peopleShown = null; // what the roster list was last built from
let renaming = null; // cluster id being renamed
let clustersShown = null;
let resultsShown = null;
let presentShown = null;

const countdown = new Countdown({ clock, timer: byId('f-timer'), bar: byId('f-bar') });

const buttons = {
  start: byId('c-start'),
  pause: byId('c-pause'),
  resume: byId('c-resume'),
  extend: byId('c-extend'),
  advance: byId('c-advance'),
  finish: byId('c-finish'),
  lock: byId('c-lock'),
  openVote: byId('v-open'),
  closeVote: byId('v-close'),
};

// ---------- start ----------

if (!code) {
  showView(main, 'missing');
} else {
  const fromHash = decodeURIComponent(location.hash.replace(/^#/, '')).trim();
  if (fromHash) {
    token = fromHash;
    save(keys.facilitator(code), token);
    // The token stays on this device; the address bar (and a shared screen) no longer shows it.
    history.replaceState(null, '', location.pathname + location.search);
  } else {
    token = load(keys.facilitator(code));
  }
  setupStatic();
  if (token) connect();
  else noToken();
}

function setupStatic() {
  const link = joinLink(code);
  const a = byId('join-link');
  a.href = link;
  setText(a, link.replace(/^https?:\/\//, ''));
  setText('join-code', formatCode(code));
  byId('qr').src = `/api/rooms/${encodeURIComponent(code)}/qr.svg`;
  byId('board-link').href = `/b/${code}`;
  replace(byId('join-actions'), copyButton('Copy join link', () => link));
  replace(
    byId('control-actions'),
    copyButton('Copy facilitator link', () => `${location.origin}/f/${code}#${token}`, { className: 'btn btn-secondary btn-sm' }),
  );
}

function noToken(text) {
  if (text) setText('notoken-text', text);
  replace(
    byId('notoken-links'),
    h('a', { class: 'btn btn-primary', href: `/r/${code}` }, 'Join as a participant'),
    h('a', { class: 'btn btn-secondary', href: `/b/${code}` }, 'Open the board'),
  );
  showView(main, 'notoken');
}

function connect() {
  const banner = connectionBanner(byId('conn'));
  conn = new Connection({
    code,
    clock,
    hello: () => {
      awaitingWelcome = true;
      return { type: 'facilitate', token };
    },
    onMessage,
    onStatus: (status) => {
      banner(status);
      if (status === 'gone') {
        countdown.stop();
        showView(main, 'missing');
      }
    },
  });
  conn.start();
}

// ---------- commands ----------

function command(type, extra = {}) {
  if (busy) return;
  if (!conn?.send({ type, ...extra })) {
    toast('Not connected right now. Try again in a moment.', 'error');
    return;
  }
  // One command at a time: a double click must not skip two rounds.
  setBusy(true);
}

function setBusy(on) {
  busy = on;
  clearTimeout(busyTimer);
  if (on) busyTimer = setTimeout(() => setBusy(false), 4000);
  for (const b of Object.values(buttons)) b.disabled = on || b.dataset.off === 'true';
  if (!on) render();
}

buttons.start.addEventListener('click', () => command('start'));
buttons.pause.addEventListener('click', () => command('pause'));
buttons.resume.addEventListener('click', () => command('resume'));
buttons.extend.addEventListener('click', () => command('extend', { seconds: 60 }));
buttons.advance.addEventListener('click', () => command('advance'));
buttons.finish.addEventListener('click', () => {
  const room = state.room;
  // In the last round finishing is what the clock would do anyway: no need to ask.
  if (room && room.round >= room.rounds) return command('finish');
  byId('f-confirm').hidden = false;
  byId('f-confirm-no').focus();
});
byId('f-confirm-yes').addEventListener('click', () => {
  byId('f-confirm').hidden = true;
  command('finish');
});
byId('f-confirm-no').addEventListener('click', () => {
  byId('f-confirm').hidden = true;
  buttons.finish.focus();
});

/**
 * A message that is not a one-at-a-time session command (presenting, clusters, removing
 * someone): it changes only what it names, and sending it twice does no harm.
 */
function send(msg) {
  if (!conn?.send(msg)) {
    toast('Not connected right now. Try again in a moment.', 'error');
    return false;
  }
  return true;
}

buttons.lock.addEventListener('click', () => command(state.room?.locked ? 'unlock' : 'lock'));

// ---------- after the rounds: export ----------

for (const btn of byId('export-actions').querySelectorAll('button[data-ext]')) {
  btn.addEventListener('click', async () => {
    const ext = btn.dataset.ext;
    const status = byId('x-status');
    btn.disabled = true;
    btn.setAttribute('aria-busy', 'true');
    status.dataset.state = 'saving';
    setText(status, 'Preparing the download…');
    try {
      const { blob, filename } = await fetchExport(code, token, ext);
      saveBlob(blob, filename);
      status.dataset.state = 'saved';
      setText(status, `✓ Downloaded ${filename}`);
    } catch (e) {
      status.dataset.state = 'offline';
      setText(status, `Not downloaded: ${e.message}`);
    } finally {
      btn.disabled = false;
      btn.removeAttribute('aria-busy');
    }
  });
}

// ---------- after the rounds: share ----------

function presentIndex() {
  const sheets = state.reveal || [];
  const p = state.room?.presenting;
  return p ? sheets.findIndex((s) => s.id === p) : -1;
}

function present(sheetId) {
  send({ type: 'present', sheet: sheetId ?? null });
}

byId('s-prev').addEventListener('click', () => {
  const sheets = state.reveal || [];
  const i = presentIndex();
  if (i > 0) present(sheets[i - 1].id);
});
byId('s-next').addEventListener('click', () => {
  const sheets = state.reveal || [];
  const i = presentIndex();
  if (i + 1 < sheets.length) present(sheets[i + 1].id);
});
byId('s-all').addEventListener('click', () => present(null));

// ---------- after the rounds: dot voting ----------

byId('vote-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const err = byId('vote-error');
  err.hidden = true;
  const votes = Number(byId('v-votes').value);
  const per = Number(byId('v-per').value);
  if (!Number.isInteger(votes) || votes < 1 || votes > 20) {
    setText(err, 'Votes per person must be a whole number from 1 to 20.');
    err.hidden = false;
    byId('v-votes').focus();
    return;
  }
  if (!Number.isInteger(per) || per < 1 || per > votes) {
    setText(err, `Votes for one idea must be a whole number from 1 to ${votes}.`);
    err.hidden = false;
    byId('v-per').focus();
    return;
  }
  command('open_voting', { votes, per_idea: per });
});
byId('v-close').addEventListener('click', () => command('close_voting'));

// ---------- after the rounds: clusters ----------

byId('cluster-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const input = byId('cluster-name');
  const name = input.value.trim();
  if (!name) {
    input.focus();
    return;
  }
  if (send({ type: 'cluster', name })) {
    input.value = '';
    setText('cluster-announce', `Cluster “${name}” added.`);
  }
});

function assign(ideaId, clusterId) {
  send({ type: 'assign', idea: ideaId, cluster: clusterId || null });
}

function merge(ideaId, intoId) {
  send({ type: 'merge', idea: ideaId, into: intoId || null });
}

// ---------- messages ----------

function onMessage(msg) {
  state = reduce(state, msg);
  if (msg.type === 'welcome') awaitingWelcome = false;
  if (msg.type === 'room' && busy) setBusy(false);
  if (msg.type === 'error') {
    if (awaitingWelcome && msg.code === 'forbidden') {
      conn.stop();
      remove(keys.facilitator(code));
      noToken('This facilitator link is not valid for this session. Open the link you got when you created it.');
      return;
    }
    if (busy) setBusy(false);
    toast(errorText(msg), 'error');
  }
  render();
}

// ---------- render ----------

function render() {
  const { room } = state;
  if (!room) return;
  showView(main, 'main');
  document.body.dataset.phase = room.phase;
  document.title = `${phaseLabel(room)} · ${formatCode(room.code || code)} — brainwrite`;

  setText('f-topic', room.topic);
  setText('f-phase', phaseLabel(room));
  const f = byId('f-phase');
  f.className = `chip ${room.phase === 'paused' ? 'chip-warn' : room.phase === 'finished' ? 'chip-ok' : 'chip-accent'}`;
  const mins = room.round_seconds % 60 === 0 ? plural(room.round_seconds / 60, 'minute') : plural(room.round_seconds, 'second');
  setText('f-settings', `${plural(room.ideas_per_round, 'idea')} · ${mins} a round${presetLabel(room.preset)}`);
  const goalKey = JSON.stringify([room.goal, room.outcomes]);
  const goalEl = byId('f-goal');
  if (goalEl.dataset.key !== goalKey) {
    goalEl.dataset.key = goalKey;
    replace(goalEl, goalBlock(room, { headingLevel: 2 }));
  }

  const running = room.phase === 'writing' || room.phase === 'paused';
  byId('f-clock').hidden = !running;
  if (running) countdown.update(room);
  else countdown.stop();

  renderControls(room);
  renderProgress(room);
  renderPeople(room);
  renderAfter(room);
  renderReveal(room);
}

function presetLabel(preset) {
  // Classic is the default for every room: only the other formats are worth a word.
  const names = { quick: 'Quick 3-3', large: 'Large group' };
  return names[preset] ? ` · ${names[preset]}` : '';
}

function show(btn, visible, enabled = true) {
  btn.hidden = !visible;
  btn.dataset.off = String(!enabled);
  btn.disabled = busy || !enabled;
}

function renderControls(room) {
  const p = room.phase;
  const lastRound = room.round >= room.rounds;
  show(buttons.start, p === 'lobby', room.participants >= 2);
  show(buttons.pause, p === 'writing');
  show(buttons.resume, p === 'paused');
  show(buttons.extend, p === 'writing' || p === 'paused');
  show(buttons.advance, (p === 'writing' || p === 'paused') && !lastRound);
  show(buttons.finish, p === 'writing' || p === 'paused');
  if (p === 'lobby' || p === 'finished') byId('f-confirm').hidden = true;

  let hint = '';
  if (p === 'lobby') {
    hint =
      room.participants < 2
        ? `Waiting for people to join: at least 2 are needed to start${room.participants ? ` (${room.participants} so far)` : ''}.`
        : `${plural(room.participants, 'person', 'people')} ready. Starting seats everyone and hands out the sheets: ${plural(room.rounds, 'round')}.`;
  } else if (p === 'writing') {
    hint = lastRound
      ? 'Last round. The session finishes when it ends.'
      : 'The round ends when the clock runs out or when everyone is done.';
  } else if (p === 'paused') {
    hint = 'Paused: nobody can write until you resume.';
  } else if (p === 'finished') {
    hint =
      room.stage === 'voting'
        ? 'Voting is open. Close it when everyone has voted to show the ranked results.'
        : room.stage === 'results'
          ? 'Voting is closed: the ranked results are on every screen.'
          : 'The session is finished. Present the sheets, cluster the ideas, then run a dot vote.';
  }
  setText('f-hint', hint);
}

function renderProgress(room) {
  const running = room.phase === 'writing' || room.phase === 'paused';
  byId('f-progress').hidden = !running;
  if (!running) return;
  const pr = state.progress && state.progress.round === room.round ? state.progress : null;
  const done = pr ? pr.done : room.done;
  const seated = pr ? pr.seated : room.seated;
  setText('f-done', `${done} of ${seated} done`);
  byId('f-done-bar').style.width = `${seated ? (done / seated) * 100 : 0}%`;
  const sheets = pr?.sheets || [];
  const onSheets = sheets.reduce((n, s) => n + (s.ideas || 0), 0);
  const drafting = sheets.reduce((n, s) => n + (s.drafted || 0), 0);
  setText('f-ideas', pr ? `${plural(onSheets, 'idea')} on the sheets · ${drafting} being written` : '');
  replace(
    byId('f-sheets'),
    sheets.map((s, i) => {
      const cap = Math.max(1, s.capacity || 1);
      const ideas = s.ideas || 0;
      const drafted = s.drafted || 0;
      const fill = h('span', { class: 'fill' });
      fill.style.width = `${Math.min(100, (ideas / cap) * 100)}%`;
      const soft = h('span', { class: 'fill-soft' });
      soft.style.width = `${Math.min(100 - Math.min(100, (ideas / cap) * 100), (drafted / cap) * 100)}%`;
      return h(
        'li',
        null,
        h(
          'div',
          { class: 'bar-label' },
          h('span', null, `Sheet ${i + 1}`),
          h('span', null, `${ideas + drafted} of ${s.capacity}`),
        ),
        h('div', { class: 'meter', 'aria-hidden': 'true' }, fill, soft),
        h('span', { class: 'visually-hidden' }, `${ideas} on the sheet, ${drafted} being written, room for ${s.capacity}.`),
      );
    }),
  );
}

function renderPeople(room) {
  const roster = state.roster || [];
  const online = roster.filter((p) => p.connected).length;
  const waiting = room.phase === 'lobby' ? 0 : room.waiting || roster.filter((p) => !p.seated && !p.left).length;
  setText(
    'f-people-count',
    roster.length
      ? `${roster.length} joined · ${online} online${waiting && room.phase !== 'finished' ? ` · ${waiting} waiting for the next round` : ''}`
      : '',
  );
  byId('f-people-empty').hidden = roster.length > 0;

  // Joining can be locked until the session is over.
  const finished = room.phase === 'finished';
  byId('lock-line').hidden = finished;
  show(buttons.lock, !finished);
  setText(buttons.lock, room.locked ? 'Unlock joining' : 'Lock joining');
  const lockState = byId('lock-state');
  lockState.className = room.locked ? 'chip chip-warn' : 'chip chip-ok';
  setText(lockState, room.locked ? 'Locked: nobody new can join' : 'Open: anyone with the link can join');

  const key = JSON.stringify([roster, room.phase, room.round, room.rounds, confirmRemove]);
  if (peopleShown === key) return;
  peopleShown = key;
  const started = room.phase !== 'lobby';
  const lastRound = room.round >= room.rounds;
  replaceKeepingFocus(
    byId('f-people'),
    roster.map((p, i) => {
      const name = p.name || `Guest ${i + 1}`;
      const chips = [];
      if (p.left) chips.push(h('span', { class: 'chip' }, 'Left'));
      else if (!p.connected) chips.push(h('span', { class: 'chip' }, 'Offline'));
      if (p.left) {
        /* nothing more to say */
      } else if (started && !p.seated) {
        chips.push(h('span', { class: 'chip chip-warn' }, finished || lastRound ? 'Joined late' : 'Waiting for next round'));
      } else if (room.phase === 'writing' || room.phase === 'paused') {
        chips.push(p.done ? h('span', { class: 'chip chip-ok' }, '✓ Done') : h('span', { class: 'chip chip-accent' }, 'Writing'));
      } else if (!started && p.connected) chips.push(h('span', { class: 'chip chip-ok' }, 'Here'));

      let actions = null;
      if (!finished && !p.left) {
        actions =
          confirmRemove === p.id
            ? h(
                'span',
                { class: 'confirm-inline', role: 'group', 'aria-label': `Remove ${name}?` },
                h('span', { class: 'confirm-q' }, `Remove ${name}?`),
                h(
                  'button',
                  {
                    type: 'button',
                    class: 'btn btn-danger-solid btn-sm',
                    dataset: { focusKey: `rm-yes:${p.id}` },
                    on: {
                      click: () => {
                        confirmRemove = null;
                        if (send({ type: 'remove', participant: p.id })) toast(`${name} was removed.`, 'info');
                        render();
                        byId('f-people-h').focus?.();
                      },
                    },
                  },
                  'Yes, remove',
                ),
                h(
                  'button',
                  {
                    type: 'button',
                    class: 'btn btn-secondary btn-sm',
                    dataset: { focusKey: `rm-no:${p.id}` },
                    on: {
                      click: () => {
                        confirmRemove = null;
                        render();
                        document.querySelector(`[data-focus-key="rm:${CSS.escape(p.id)}"]`)?.focus();
                      },
                    },
                  },
                  'Cancel',
                ),
              )
            : h(
                'button',
                {
                  type: 'button',
                  class: 'btn btn-ghost btn-sm',
                  'aria-label': `Remove ${name}`,
                  dataset: { focusKey: `rm:${p.id}` },
                  on: {
                    click: () => {
                      confirmRemove = p.id;
                      render();
                      document.querySelector(`[data-focus-key="rm-no:${CSS.escape(p.id)}"]`)?.focus();
                    },
                  },
                },
                'Remove',
              );
      }
      return h(
        'li',
        { class: p.connected && !p.left ? '' : 'offline', dataset: { participant: p.id } },
        h(
          'span',
          { class: 'who' },
          h('span', { class: 'avatar', 'aria-hidden': 'true' }, initial(name)),
          h('span', { class: 'name' }, name),
        ),
        h('span', { class: 'btn-row people-actions' }, chips, actions),
      );
    }),
    '#f-people-h',
  );
}

function initial(name) {
  const ch = [...String(name).trim()][0] || '?';
  return ch.toUpperCase();
}

/** Share, vote, results and clusters: the parts of the page for after the rounds. */
function renderAfter(room) {
  const finished = room.phase === 'finished';
  for (const id of ['f-export', 'f-share', 'f-vote', 'f-clusters']) byId(id).hidden = !finished;
  byId('f-results').hidden = !(finished && room.stage === 'results');
  if (!finished) return;
  const sheets = state.reveal || [];

  // Share
  const i = presentIndex();
  setText('f-share-now', i >= 0 ? `On screen: sheet ${i + 1} of ${sheets.length}` : 'On screen: all sheets');
  byId('s-prev').disabled = i <= 0;
  byId('s-next').disabled = !sheets.length || i + 1 >= sheets.length;
  byId('s-all').disabled = i < 0;

  // Voting
  const voting = room.stage === 'voting';
  byId('vote-form').hidden = voting;
  byId('vote-running').hidden = !voting;
  setText('f-votes-cast', room.votes_cast);
  setText('f-votes-cast-label', `${room.votes_cast === 1 ? 'vote' : 'votes'} cast so far`);
  setText('f-vote-state', voting ? 'Open' : room.stage === 'results' ? 'Closed' : '');
  setText(buttons.openVote, room.stage === 'results' ? 'Open voting again' : 'Open voting');
  show(buttons.openVote, !voting);
  show(buttons.closeVote, voting);

  // Results
  if (room.stage === 'results' && state.results && resultsShown !== state.results) {
    const first = resultsShown === null;
    resultsShown = state.results;
    const votes = state.results.reduce((n, r) => n + (r.votes || 0), 0);
    setText('f-results-count', `${plural(votes, 'vote')} on ${plural(state.results.length, 'idea')}, ranked. Merged repeats count with the idea they joined.`);
    replace(byId('f-results-list'), resultsList(state.results, { index: ideaIndex(sheets) }));
    if (first) byId('f-results-h').focus({ preventScroll: false });
  }

  renderClusters();
}

/** A short, single-line form of an idea for a menu. */
function shortIdea(text, max = 60) {
  const chars = [...String(text)];
  return chars.length > max ? `${chars.slice(0, max - 1).join('').trimEnd()}…` : chars.join('');
}

function renderClusters() {
  const { reveal, clusters } = state;
  if (!reveal) return;
  // The server refuses merges while voting is open: the menus say so by being off.
  const voting = state.room?.stage === 'voting';
  const key = [reveal, clusters, renaming, voting];
  if (clustersShown && clustersShown.every((v, i) => v === key[i])) return;
  clustersShown = key;
  // A rename being typed survives a re-render caused by someone else's change.
  const typing = renaming ? (document.querySelector('.rename-form input')?.value ?? null) : null;

  const index = ideaIndex(reveal);
  const list = clusters?.clusters || [];
  const merged = mergedMap(clusters);
  const dupes = new Map();
  for (const [idea, into] of merged) {
    if (!dupes.has(into)) dupes.set(into, []);
    dupes.get(into).push(idea);
  }
  const ideas = allIdeas(reveal).filter((i) => !merged.has(i.id));
  const inCluster = new Map();
  for (const c of list) for (const id of c.ideas || []) inCluster.set(id, c.id);
  setText(
    'f-clusters-count',
    list.length ? `${plural(list.length, 'cluster')} · ${plural(ideas.filter((i) => !inCluster.has(i.id)).length, 'idea')} not in one` : '',
  );

  let n = 0;
  const card = (idea) => {
    const k = n++;
    const textId = `cl-text-${k}`;
    const move = h(
      'select',
      {
        id: `cl-move-${k}`,
        'aria-describedby': textId,
        dataset: { focusKey: `mv:${idea.id}` },
        on: { change: (ev) => assign(idea.id, ev.target.value) },
      },
      h('option', { value: '' }, 'No cluster'),
      list.map((c) => h('option', { value: c.id }, c.name)),
    );
    move.value = inCluster.get(idea.id) || '';
    const mergeSel = h(
      'select',
      {
        id: `cl-merge-${k}`,
        'aria-describedby': voting ? `${textId} cl-merge-note` : textId,
        disabled: voting,
        dataset: { focusKey: `mg:${idea.id}` },
        on: { change: (ev) => ev.target.value && merge(idea.id, ev.target.value) },
      },
      h('option', { value: '' }, 'Not a repeat'),
      ideas.filter((o) => o.id !== idea.id).map((o) => h('option', { value: o.id }, `Sheet ${o.sheetIndex + 1}: ${shortIdea(o.text)}`)),
    );
    return h(
      'li',
      {
        class: 'cl-card',
        draggable: 'true',
        dataset: { idea: idea.id },
        on: {
          dragstart: (ev) => {
            ev.dataTransfer.setData('text/plain', idea.id);
            ev.dataTransfer.effectAllowed = 'move';
            ev.currentTarget.classList.add('dragging');
          },
          dragend: (ev) => ev.currentTarget.classList.remove('dragging'),
        },
      },
      h('p', { class: 'cl-text', id: textId }, idea.text),
      buildsOnLine(idea, index),
      (dupes.get(idea.id) || [])
        .filter((d) => index.has(d))
        .map((d) =>
          h(
            'div',
            { class: 'dupe dupe-row' },
            h('span', null, h('span', { class: 'dupe-label' }, 'Merged repeat: '), index.get(d).text),
            h(
              'button',
              {
                type: 'button',
                class: 'btn btn-ghost btn-sm',
                'aria-label': `Undo merge of “${shortIdea(index.get(d).text)}”`,
                disabled: voting,
                dataset: { focusKey: `undo:${d}` },
                on: { click: () => merge(d, null) },
              },
              'Undo merge',
            ),
          ),
        ),
      h(
        'div',
        { class: 'cl-controls' },
        h('div', { class: 'mini-field' }, h('label', { for: `cl-move-${k}` }, 'Move to'), move),
        h('div', { class: 'mini-field' }, h('label', { for: `cl-merge-${k}` }, 'Merge into'), mergeSel),
      ),
    );
  };

  const zone = (c, ci) => {
    const members = ideas.filter((i) => (c ? inCluster.get(i.id) === c.id : !inCluster.has(i.id)));
    const hid = c ? `cl-h-${ci}` : 'cl-h-none';
    let head;
    if (c && renaming === c.id) {
      const input = h('input', {
        id: `cl-rename-${ci}`,
        type: 'text',
        maxlength: '80',
        value: typing ?? c.name,
        autocomplete: 'off',
        dataset: { focusKey: `ren-in:${c.id}` },
      });
      head = h(
        'form',
        {
          class: 'inline-form rename-form',
          novalidate: true,
          on: {
            submit: (ev) => {
              ev.preventDefault();
              const name = input.value.trim();
              if (!name) return input.focus();
              renaming = null;
              if (name !== c.name) send({ type: 'cluster', id: c.id, name });
              render();
              document.querySelector(`[data-focus-key="ren:${CSS.escape(c.id)}"]`)?.focus();
            },
            keydown: (ev) => {
              if (ev.key === 'Escape') {
                renaming = null;
                render();
                document.querySelector(`[data-focus-key="ren:${CSS.escape(c.id)}"]`)?.focus();
              }
            },
          },
        },
        h('h3', { class: 'visually-hidden', id: hid }, c.name),
        h('div', { class: 'field' }, h('label', { for: `cl-rename-${ci}` }, `Rename “${c.name}”`), input),
        h('button', { type: 'submit', class: 'btn btn-primary btn-sm', dataset: { focusKey: `ren-save:${c.id}` } }, 'Save'),
      );
    } else {
      head = h(
        'header',
        { class: 'cl-head' },
        h('h3', { class: 'cl-name', id: hid }, c ? c.name : 'Not in a cluster'),
        h('span', { class: 'muted small' }, plural(members.length, 'idea')),
        c
          ? h(
              'span',
              { class: 'btn-row' },
              h(
                'button',
                {
                  type: 'button',
                  class: 'btn btn-ghost btn-sm',
                  'aria-label': `Rename cluster ${c.name}`,
                  dataset: { focusKey: `ren:${c.id}` },
                  on: {
                    click: () => {
                      renaming = c.id;
                      render();
                      document.getElementById(`cl-rename-${ci}`)?.focus();
                    },
                  },
                },
                'Rename',
              ),
              h(
                'button',
                {
                  type: 'button',
                  class: 'btn btn-ghost btn-sm btn-text-danger',
                  'aria-label': `Delete cluster ${c.name}`,
                  dataset: { focusKey: `del:${c.id}` },
                  on: {
                    click: () => {
                      if (send({ type: 'delete_cluster', cluster: c.id })) {
                        setText('cluster-announce', `Cluster “${c.name}” deleted; its ideas are back in “Not in a cluster”.`);
                        byId('cluster-name').focus();
                      }
                    },
                  },
                },
                'Delete',
              ),
            )
          : null,
      );
    }
    const target = c ? c.id : null;
    return h(
      'section',
      {
        class: c ? 'cl-zone' : 'cl-zone cl-none',
        'aria-labelledby': hid,
        dataset: { cluster: c ? c.id : '' },
        on: {
          dragover: (ev) => {
            ev.preventDefault();
            ev.dataTransfer.dropEffect = 'move';
            ev.currentTarget.classList.add('drop-here');
          },
          dragleave: (ev) => {
            if (!ev.currentTarget.contains(ev.relatedTarget)) ev.currentTarget.classList.remove('drop-here');
          },
          drop: (ev) => {
            ev.preventDefault();
            ev.currentTarget.classList.remove('drop-here');
            const id = ev.dataTransfer.getData('text/plain');
            if (id && index.has(id) && (inCluster.get(id) || null) !== target) assign(id, target);
          },
        },
      },
      head,
      members.length
        ? h('ul', { class: 'cl-cards' }, members.map(card))
        : h('p', { class: 'cl-empty' }, c ? 'Drop ideas here, or choose this cluster in an idea’s “Move to” menu.' : 'Every idea is in a cluster.'),
    );
  };

  byId('cl-merge-note').hidden = !voting;
  replaceKeepingFocus(byId('cluster-board'), [...list.map(zone), zone(null, -1)], '#cluster-name');
}

function renderReveal(room) {
  const sec = byId('f-reveal');
  const reveal = state.reveal;
  sec.hidden = room.phase !== 'finished';
  if (room.phase !== 'finished' || !reveal) return;
  const key = room.presenting ?? '';
  if (revealShown === reveal && presentShown === key) return;
  const first = revealShown === null;
  revealShown = reveal;
  presentShown = key;
  setText('f-reveal-count', `${plural(countIdeas(reveal), 'idea')} on ${plural(reveal.length, 'sheet')}, without names.`);
  replace(byId('reveal-actions'), copyButton('Copy all ideas', () => revealText(room.topic, reveal)));
  replaceKeepingFocus(
    byId('f-reveal-sheets'),
    revealGrid(reveal, {
      badgeFor: (s, i) =>
        s.id === room.presenting
          ? h('span', { class: 'chip chip-accent' }, 'On screen')
          : h(
              'button',
              {
                type: 'button',
                class: 'btn btn-ghost btn-sm',
                dataset: { focusKey: `present:${s.id}` },
                on: { click: () => present(s.id) },
              },
              'Present',
              h('span', { class: 'visually-hidden' }, ` sheet ${i + 1}`),
            ),
    }),
    '#s-all',
  );
  if (first) byId('f-reveal-h').focus({ preventScroll: false });
}
