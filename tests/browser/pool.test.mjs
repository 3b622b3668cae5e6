// The methods at room creation and a whole brainwriting pool in real pages (docs/protocol.md,
// "Methods: 6-3-5, C-Sketch and the brainwriting pool"): the home page offers the three
// methods with a line each and creates a pool room; three phones write on their own sheets and
// swap; nobody ever gets back their own sheet or one they had, never two people one sheet; a
// phone waits while no sheet may come and gets one as soon as another is put back; the
// facilitator's counts (pooled, held, waiting, swaps) follow; the reveal has every idea exactly
// once; a dot vote works as in 6-3-5. Another test creates a C-Sketch room from the home page.
// Every new state is checked with axe-core; no page may log an error.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  PHONE,
  DESKTOP,
  assertAccessible,
  assertNoHorizontalScroll,
  shot,
  eventually,
  bodyText,
  timerSeconds,
  browserSuite,
} from './helpers.mjs';

const suite = browserSuite();

const TOPIC = 'How might we make the office a place people want to come to?';
const NAMES = ['Ana', 'Ben', 'Cy'];
// What each person writes on their own sheet: the first row of a sheet names whose it is.
const OWN = {
  Ana: ['A quiet corner for focus work', 'Name tags with one hobby on them'],
  Ben: ['Breakfast together on Mondays'],
  Cy: ['A wall for sketches and half ideas', 'Plants that teams look after'],
};
const METHODS = [
  ['635', '6-3-5', /sheets move on round by round/],
  ['c_sketch', 'C-Sketch', /Draw one sketch a round/],
  ['pool', 'Brainwriting pool', /put it in the pool, take another/],
];

const SWAP = 'Put in the pool and take another';

/** Whose sheet a phone holds, read from the rows on it ("own" while its own is still empty). */
async function holder(page) {
  const rows = await page.locator('#w-rows').innerText();
  const owners = NAMES.filter((n) => rows.includes(OWN[n][0]));
  assert.ok(owners.length <= 1, `one sheet, one first row: ${rows}`);
  return owners[0] ?? 'own';
}

/** Type ideas into the boxes, one per box. */
async function type(page, ideas) {
  for (let i = 0; i < ideas.length; i++) await page.getByLabel(`Idea ${i + 1}`, { exact: true }).fill(ideas[i]);
}

async function counts(fac) {
  const out = {};
  for (const k of ['pooled', 'held', 'waiting', 'swaps']) out[k] = (await fac.locator(`#f-pool [data-count="${k}"] dd`).textContent()).trim();
  return out;
}

async function expectCounts(fac, want, message) {
  const wanted = Object.fromEntries(Object.entries(want).map(([k, v]) => [k, String(v)]));
  let last;
  await eventually(async () => {
    last = await counts(fac);
    return JSON.stringify(last) === JSON.stringify(wanted);
  }, { message: `${message}: counts ${JSON.stringify(wanted)} (last ${JSON.stringify(last)})` });
}

async function expectWaiting(page) {
  await page.getByRole('heading', { name: 'No sheet for you yet' }).waitFor();
  assert.ok(await page.locator('#w-work').isHidden(), 'no sheet on screen while waiting');
  assert.match(await page.locator('#w-pool-wait').innerText(), /as soon as someone puts one back/);
}

test('a brainwriting pool from the home page to the vote', { timeout: 180_000 }, async (t) => {
  const base = suite.server.url;
  let code;
  let fac;
  let board;
  const p = {}; // name → page
  const held = { Ana: [], Ben: [], Cy: [] }; // name → owners of the sheets held so far, in order
  const written = []; // every idea typed, in order
  // name → owner of the sheet held now; null from a swap until the next sheet comes.
  const current = { Ana: 'Ana', Ben: 'Ben', Cy: 'Cy' };

  /** `name` holds a new sheet: it is `want`'s, never its own, never one it had, held by nobody else. */
  async function expectSheet(name, want) {
    const page = p[name];
    await eventually(async () => (await page.locator('#w-work').isVisible()) && (await holder(page)) === want, {
      message: `${name} holds ${want}'s sheet`,
    });
    assert.notEqual(want, name, `${name} never gets its own sheet back`);
    assert.ok(!held[name].includes(want), `${name} never gets a sheet it had (${want}; had ${held[name].join(', ')})`);
    held[name].push(want);
    current[name] = want;
    const now = NAMES.map((n) => current[n]).filter((o) => o !== null);
    assert.equal(new Set(now).size, now.length, `no sheet is held by two people: ${now.join(', ')}`);
    // A new sheet is announced, politely, and the idea boxes are empty for this turn.
    await eventually(async () => /New sheet from the pool/.test(await page.locator('#w-pool-announce').textContent()), {
      message: `${name}'s new sheet is announced`,
    });
    assert.equal(await page.getByLabel('Idea 1', { exact: true }).inputValue(), '');
  }

  async function swap(name, ideas, { waitSaved = true } = {}) {
    const page = p[name];
    await type(page, ideas);
    written.push(...ideas);
    if (waitSaved) await page.locator('#w-save[data-state="saved"]').waitFor();
    await page.getByRole('button', { name: SWAP, exact: true }).click();
    current[name] = null;
  }

  await t.test('the home page offers three methods, a line each, and creates a pool room', async () => {
    fac = await suite.pages.open('facilitator', DESKTOP);
    await fac.goto(`${base}/`);
    const group = fac.getByRole('group', { name: 'Method' });
    for (const [value, name, line] of METHODS) {
      await group.getByRole('radio', { name: new RegExp(`^${name}`) }).waitFor({ state: 'attached' });
      const label = group.locator('label.preset', { has: fac.locator(`input[value="${value}"]`) });
      assert.equal(await label.locator('.preset-name').textContent(), name);
      assert.match(await label.locator('.preset-desc').textContent(), line);
    }
    assert.ok(await group.getByRole('radio', { name: /^6-3-5/ }).isChecked(), '6-3-5 is the default');
    assert.equal(await fac.getByLabel('Minutes per round').inputValue(), '5');

    await group.getByRole('radio', { name: /^Brainwriting pool/ }).check();
    // The round's length reads as the session's; the pool's presets are 30, 15 and 20 minutes.
    assert.equal(await fac.getByLabel('Session length in minutes').inputValue(), '30');
    assert.ok(await fac.getByLabel('Group size').isHidden(), 'a pool has no groups');
    assert.match(await fac.locator('#create-summary').textContent(), /One session of 30 minutes/);
    await fac.getByRole('radio', { name: /^Quick pool/ }).check();
    assert.equal(await fac.getByLabel('Session length in minutes').inputValue(), '15');
    await fac.getByRole('radio', { name: /^Large group/ }).check();
    assert.equal(await fac.getByLabel('Session length in minutes').inputValue(), '20');
    await fac.getByRole('radio', { name: /^Classic pool/ }).check();
    assert.equal(await fac.getByLabel('Session length in minutes').inputValue(), '30');
    await fac.getByLabel('Problem statement').fill(TOPIC);
    await fac.getByLabel('Ideas each time you hold a sheet').fill('2');
    await assertAccessible(fac, 'home with the pool chosen');
    await shot(fac, 'home-methods-desktop');

    let sent = null;
    fac.on('request', (r) => {
      if (r.method() === 'POST' && new URL(r.url()).pathname === '/api/rooms') sent = r.postDataJSON();
    });
    await fac.getByRole('button', { name: 'Create session', exact: true }).click();
    await fac.waitForURL(/\/f\/[0-9A-Z]{8}$/);
    code = /\/f\/([0-9A-Z]{8})$/.exec(fac.url())[1];
    assert.equal(sent?.method, 'pool');
    assert.equal(sent.round_seconds, 1800);
    assert.equal(sent.ideas_per_round, 2);
    assert.ok(!('group_size' in sent), 'no group size for a pool');
    const info = await (await fetch(`${base}/api/rooms/${code}`)).json();
    assert.equal(info.method, 'pool');

    await fac.getByRole('button', { name: 'Start', exact: true }).waitFor();
    await fac.locator('#f-method').getByText('Brainwriting pool', { exact: true }).waitFor();
    assert.match(await fac.locator('#f-settings').textContent(), /2 ideas a sheet · a session of 30 minutes/);

    board = await suite.pages.open('board', DESKTOP);
    await board.goto(`${base}/b/${code}`);
    await board.locator('#bl-topic').getByText(TOPIC).waitFor();
  });

  await t.test('three phones join; the lobby explains the pool', async () => {
    for (const name of NAMES) {
      p[name] = await suite.pages.open(name, PHONE);
      await p[name].goto(`${base}/r/${code}`);
      await p[name].getByLabel('Your name (optional)').fill(name);
      await p[name].getByRole('button', { name: 'Join', exact: true }).click();
      await p[name].getByRole('heading', { name: /You're in/ }).waitFor();
    }
    const how = await p.Ana.locator('.how').innerText();
    assert.match(how, /put it in the pool and take another/);
    assert.match(how, /30 minutes/);
    assert.match(how, /never gives you your own sheet/);
    await eventually(async () => /3 people ready/.test(await fac.locator('#f-hint').textContent()), { message: 'facilitator hint' });
    assert.match(await fac.locator('#f-hint').textContent(), /sheet of their own/);
  });

  await t.test('the start: everyone holds their own sheet on one session clock', async () => {
    await fac.getByRole('button', { name: 'Start', exact: true }).click();
    for (const name of NAMES) {
      const page = p[name];
      await page.getByLabel('Idea 1', { exact: true }).waitFor();
      assert.equal(await page.locator('#w-round').textContent(), 'Session clock');
      const secs = await timerSeconds(page);
      assert.ok(secs > 1700 && secs <= 1800, `${name}'s clock shows ${secs}s of a 30-minute session`);
      assert.equal(await holder(page), 'own');
      await page.getByText('this sheet starts with you').waitFor();
      assert.ok(await page.getByRole('button', { name: SWAP, exact: true }).isVisible());
    }
    await expectCounts(fac, { pooled: 0, held: 3, waiting: 0, swaps: 0 }, 'after the start');
    assert.equal(await fac.locator('#f-phase').textContent(), 'Brainwriting pool');
    assert.ok(await fac.locator('#f-bars').isHidden(), 'no round bars in a pool');
    assert.ok(await fac.getByRole('button', { name: 'Next round', exact: true }).isHidden(), 'no rounds to advance');
    await assertAccessible(p.Ana, 'participant writing in a pool');
    await assertNoHorizontalScroll(p.Ana, 'participant writing in a pool');
    await type(p.Ana, OWN.Ana);
    written.push(...OWN.Ana);
    await p.Ana.locator('#w-save[data-state="saved"]').waitFor();
    await shot(p.Ana, 'participant-pool-writing-phone');
  });

  await t.test('swaps: nobody gets their own sheet or one they had; a phone waits until one may come', async () => {
    // Ana puts hers in; the only sheet in the pool is her own, so she waits.
    await p.Ana.getByRole('button', { name: SWAP, exact: true }).click();
    current.Ana = null;
    await expectWaiting(p.Ana);
    held.Ana.push('Ana');
    await expectCounts(fac, { pooled: 1, held: 2, waiting: 1, swaps: 1 }, 'Ana waits');
    await assertAccessible(p.Ana, 'participant waiting for a sheet');
    await assertNoHorizontalScroll(p.Ana, 'participant waiting for a sheet');
    await shot(p.Ana, 'participant-pool-waiting-phone');

    // Ben swaps the moment he has typed: the swap waits for his write to be acknowledged, so
    // his idea is on the sheet Ana now gets. Ben gets Ana's.
    await swap('Ben', OWN.Ben, { waitSaved: false });
    held.Ben.push('Ben');
    await expectSheet('Ana', 'Ben');
    await expectSheet('Ben', 'Ana');
    assert.match(await p.Ana.locator('#w-rows').innerText(), new RegExp(OWN.Ben[0]));
    await expectCounts(fac, { pooled: 0, held: 3, waiting: 0, swaps: 2 }, 'Ana and Ben hold sheets again');
    await assertAccessible(p.Ana, 'participant with a sheet from the pool');

    // Cy puts his in: it is his own, so he waits…
    await swap('Cy', OWN.Cy);
    held.Cy.push('Cy');
    await expectWaiting(p.Cy);
    await expectCounts(fac, { pooled: 1, held: 2, waiting: 1, swaps: 3 }, 'Cy waits');
    const facText = await bodyText(fac);
    const boardText = await bodyText(board);
    for (const idea of written) {
      assert.ok(!facText.includes(idea), 'the facilitator sees counts, never text');
      assert.ok(!boardText.includes(idea), 'the board sees counts, never text');
    }
    await assertAccessible(fac, 'facilitator with the pool counts');
    await shot(fac, 'facilitator-pool-desktop');
    await board.locator('#bw-pool [data-count="waiting"] dd').getByText('1', { exact: true }).waitFor();
    assert.equal(await board.locator('#bw-round').textContent(), 'Brainwriting pool');
    assert.ok(await board.locator('#bw-bars').isHidden());
    const boardSecs = await timerSeconds(board);
    assert.ok(boardSecs > 1600 && boardSecs <= 1800, `the board shows the session clock (${boardSecs}s)`);
    await assertAccessible(board, 'board during a pool');
    await shot(board, 'board-pool-desktop', { fullPage: false });

    // …until Ana puts Ben's sheet back: Cy, waiting first, gets it; Ana gets Cy's.
    await swap('Ana', ['Ana on Ben: a breakfast rota']);
    await expectSheet('Cy', 'Ben');
    await expectSheet('Ana', 'Cy');
    // Rows on a pool sheet are numbered by their place on it.
    const labels = await p.Cy.locator('#w-rows .row-label').allTextContents();
    assert.deepEqual(labels, ['Row 1', 'Row 2']);
    await expectCounts(fac, { pooled: 0, held: 3, waiting: 0, swaps: 4 }, 'everyone holds a sheet');

    // Ben has had Ana's and his own; the only other is Cy's, which Ana holds: he waits.
    await swap('Ben', ['Ben on Ana: a quiet room with a door']);
    await expectWaiting(p.Ben);
    await expectCounts(fac, { pooled: 1, held: 2, waiting: 1, swaps: 5 }, 'Ben waits');

    // Ana puts Cy's back: Ben gets it. Ana has had every sheet now, so she waits for good.
    await swap('Ana', ['Ana on Cy: a plant swap shelf']);
    await expectSheet('Ben', 'Cy');
    await expectWaiting(p.Ana);
    await expectCounts(fac, { pooled: 1, held: 2, waiting: 1, swaps: 6 }, 'Ana waits for good');

    // A reload keeps the waiting state (the server says so in `me`).
    await p.Ana.reload();
    await expectWaiting(p.Ana);
  });

  await t.test('finish: the drafts still held become rows; the reveal has every idea exactly once', async () => {
    await type(p.Cy, ['Cy on Ben: a standing table for breakfast']);
    await type(p.Ben, ['Ben on Cy: a sketch of the plant wall']);
    written.push('Cy on Ben: a standing table for breakfast', 'Ben on Cy: a sketch of the plant wall');
    for (const name of ['Cy', 'Ben']) await p[name].locator('#w-save[data-state="saved"]').waitFor();

    // Finishing a pool early is asked first: it is the whole session, not a round.
    await fac.getByRole('button', { name: 'Finish', exact: true }).click();
    await fac.getByRole('button', { name: 'Yes, finish now', exact: true }).click();
    for (const name of NAMES) {
      const page = p[name];
      await page.locator('#r-sheets .sheet').first().waitFor();
      const texts = await page.locator('#r-sheets .idea-text').allTextContents();
      assert.deepEqual([...texts].sort(), [...written].sort(), `${name}'s reveal has every idea exactly once`);
      assert.equal(await page.locator('#r-sheets .sheet').count(), 3);
    }
    const facTexts = await fac.locator('#f-reveal-sheets .idea-text').allTextContents();
    assert.deepEqual([...facTexts].sort(), [...written].sort(), 'the facilitator reveals the same ideas');
    await assertAccessible(p.Ana, 'participant reveal after a pool');
  });

  await t.test('dot voting works as in 6-3-5', async () => {
    await fac.getByRole('button', { name: 'Open voting', exact: true }).click();
    await fac.getByRole('button', { name: 'Close voting', exact: true }).waitFor();
    const ana = p.Ana;
    await ana.getByText('3 votes left').waitFor();
    const card = ana.locator('.vote-card').filter({ has: ana.locator('.vote-text', { hasText: OWN.Ben[0] }) });
    await card.getByRole('button', { name: 'Vote', exact: true }).click();
    await ana.getByText('2 votes left').waitFor();
    await assertAccessible(ana, 'participant voting after a pool');
    await fac.locator('#f-votes-cast').getByText('1', { exact: true }).waitFor();
    await fac.getByRole('button', { name: 'Close voting', exact: true }).click();
    for (const page of [fac, board, ana]) await page.locator('.results .result').first().waitFor();
    assert.match(await ana.locator('.results .result').first().innerText(), new RegExp(`1[\\s\\S]*${OWN.Ben[0]}[\\s\\S]*1 vote`));
    await assertAccessible(ana, 'participant results after a pool');
  });

  await t.test('no page logged an error', () => {
    assert.deepEqual(suite.pages.errors, []);
  });
});

test('the home page creates a C-Sketch room', { timeout: 60_000 }, async () => {
  const base = suite.server.url;
  const fac = await suite.pages.open('facilitator-sketch', DESKTOP);
  const before = suite.pages.errors.length;
  await fac.goto(`${base}/`);
  await fac.getByRole('radio', { name: /^C-Sketch/ }).check();
  // One sketch a round: there is no number of ideas to choose.
  assert.ok(await fac.getByLabel('Ideas per round').isHidden());
  assert.equal(await fac.getByLabel('Minutes per round').inputValue(), '5');
  assert.match(await fac.locator('#create-summary').textContent(), /one sketch in 5 minutes a round/);
  await fac.getByLabel('Problem statement').fill('Sketch the perfect meeting room');
  await assertAccessible(fac, 'home with C-Sketch chosen');
  let sent = null;
  fac.on('request', (r) => {
    if (r.method() === 'POST' && new URL(r.url()).pathname === '/api/rooms') sent = r.postDataJSON();
  });
  await fac.getByRole('button', { name: 'Create session', exact: true }).click();
  await fac.waitForURL(/\/f\/[0-9A-Z]{8}$/);
  const code = /\/f\/([0-9A-Z]{8})$/.exec(fac.url())[1];
  assert.equal(sent?.method, 'c_sketch');
  assert.ok(!('ideas_per_round' in sent), 'C-Sketch has one sketch a round: no ideas_per_round is sent');
  // The room state says so: on the facilitator's page (from `room`) and over HTTP.
  await fac.locator('#f-method').getByText('C-Sketch', { exact: true }).waitFor();
  const info = await (await fetch(`${base}/api/rooms/${code}`)).json();
  assert.equal(info.method, 'c_sketch');
  assert.deepEqual(suite.pages.errors.slice(before), []);
});
