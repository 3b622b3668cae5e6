// The whole workshop in real pages (docs/protocol.md, "The whole workshop"): a room made from
// a preset with a goal and outcomes, two people joining late and one leaving mid-way, a lock,
// a removal, build-on chains, presenting one sheet and all, clusters by keyboard and by drag
// and drop, a merged duplicate, a dot vote in which a self-vote is refused, the ranked
// results, and the three server exports. Every new state is checked with axe-core; no page
// may log an error.

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
  browserSuite,
} from './helpers.mjs';

const suite = browserSuite();

const TOPIC = 'How might we cut the time it takes a new team member to ship?';
const GOAL = 'Leave with three experiments we can start on Monday';
const OUTCOMES = ['A shortlist of ideas everyone can see', 'One owner per experiment'];

const R3_DEE = 'A glossary of our acronyms';

// Round 1: one idea each on one's own sheet.
const R1 = {
  Ana: 'A starter issue labelled for every newcomer',
  Ben: 'Record the deploy walkthrough once',
  Cy: 'Pair on the first pull request',
};

async function readDownload(download) {
  const stream = await download.createReadStream();
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

async function join(page, base, code, name) {
  await page.goto(`${base}/r/${code}`);
  await page.getByLabel('Your name (optional)').fill(name);
  await page.getByRole('button', { name: 'Join', exact: true }).click();
}

/** Type one idea into the first box and wait until the server has it. */
async function writeIdea(page, text) {
  await page.getByLabel('Idea 1', { exact: true }).fill(text);
  await page.locator('#w-save[data-state="saved"]').waitFor({ timeout: 10_000 });
}

/** Get past the "Sheet passed" moment, if it shows, to the idea box. */
async function toWriting(page) {
  const idea = page.getByLabel('Idea 1', { exact: true });
  const cont = page.getByRole('button', { name: 'Continue', exact: true });
  await eventually(async () => (await idea.isVisible()) || (await cont.isVisible()), { message: 'writing or sheet passed' });
  if (await cont.isVisible()) await cont.click();
  await idea.waitFor();
}

test('the whole workshop: presets, people coming and going, build-on, share, clusters, vote, export', { timeout: 150_000 }, async (t) => {
  const base = suite.server.url;
  let code;
  let fac;
  let board;
  const p = {}; // name → page
  const r2 = {}; // round 2 ideas by name
  let cySheetHolder;

  await t.test('a preset fills the form; goal and outcomes show on the facilitator lobby and the board', async () => {
    fac = await suite.pages.open('facilitator', DESKTOP);
    await fac.goto(`${base}/`);
    await fac.getByRole('radio', { name: /Quick 3-3/ }).check();
    assert.equal(await fac.getByLabel('Ideas per round').inputValue(), '3');
    assert.equal(await fac.getByLabel('Minutes per round').inputValue(), '3');
    assert.equal(await fac.getByLabel('Group size').inputValue(), '6');
    assert.match(await fac.locator('#create-summary').textContent(), /3 rounds/);
    await fac.getByRole('radio', { name: /Large group/ }).check();
    assert.equal(await fac.getByLabel('Minutes per round').inputValue(), '4');
    assert.equal(await fac.getByLabel('Group size').inputValue(), '5');
    await fac.getByRole('radio', { name: /Quick 3-3/ }).check();
    await fac.getByText('Goal and expected outcomes (optional)').click();
    await fac.getByLabel('Goal', { exact: true }).fill(GOAL);
    await fac.getByLabel('Expected outcomes').fill(`${OUTCOMES[0]}\n\n  ${OUTCOMES[1]}  \n`);
    await assertAccessible(fac, 'home with presets and the goal open');
    await shot(fac, 'home-presets-desktop');
    await fac.getByLabel('Problem statement').fill(TOPIC);
    // A field changed by hand overrides the preset: one idea a round keeps this test short.
    await fac.getByLabel('Ideas per round').fill('1');
    await fac.getByRole('button', { name: 'Create session', exact: true }).click();
    await fac.waitForURL(/\/f\/[0-9A-Z]{8}$/);
    code = /\/f\/([0-9A-Z]{8})$/.exec(fac.url())[1];

    await fac.getByRole('button', { name: 'Start', exact: true }).waitFor();
    const goal = fac.locator('#f-goal');
    await goal.getByText(GOAL).waitFor();
    for (const o of OUTCOMES) await goal.getByText(o, { exact: true }).waitFor();
    assert.match(await fac.locator('#f-settings').textContent(), /1 idea · 3 minutes a round · Quick 3-3/);

    board = await suite.pages.open('board', DESKTOP);
    await board.goto(`${base}/b/${code}`);
    await board.locator('#bl-goal').getByText(GOAL).waitFor();
    assert.deepEqual(await board.locator('#bl-goal li').allTextContents(), OUTCOMES);
    await assertAccessible(board, 'board lobby with goal and outcomes');
    await shot(board, 'board-lobby-goal-desktop', { fullPage: false });
  });

  await t.test('three start; two join late and wait; joining can be locked; one leaves mid-round', async () => {
    for (const name of ['Ana', 'Ben', 'Cy']) {
      p[name] = await suite.pages.open(name, PHONE);
      await join(p[name], base, code, name);
      await p[name].getByRole('heading', { name: /You're in/ }).waitFor();
    }
    await p.Ana.locator('#lobby-goal').getByText(GOAL).waitFor();
    await fac.getByRole('button', { name: 'Start', exact: true }).click();
    for (const name of ['Ana', 'Ben', 'Cy']) {
      await p[name].getByLabel('Idea 1', { exact: true }).waitFor();
      assert.match(await p[name].locator('#w-round').textContent(), /Round 1 of 3/);
      // Round 1 is on one's own empty sheet: nothing to build on yet.
      assert.equal(await p[name].locator('#link-0').count(), 0);
      await writeIdea(p[name], R1[name]);
    }

    for (const name of ['Dee', 'Eli']) {
      p[name] = await suite.pages.open(name, PHONE);
      await join(p[name], base, code, name);
      await p[name].getByRole('heading', { name: "You'll be seated at the next round" }).waitFor();
    }
    await assertAccessible(p.Dee, 'participant waiting to be seated');
    await assertNoHorizontalScroll(p.Dee, 'participant waiting to be seated');
    await shot(p.Dee, 'participant-late-phone');
    await eventually(async () => /2 waiting for the next round/.test(await fac.locator('#f-people-count').textContent()), {
      message: 'facilitator counts 2 waiting',
    });
    assert.equal(await fac.locator('#f-people').getByText('Waiting for next round').count(), 2);

    // Locked: a newcomer is told so on the join page; unlocking lets people in again.
    await fac.getByRole('button', { name: 'Lock joining', exact: true }).click();
    await fac.getByText('Locked: nobody new can join').waitFor();
    const fay = await suite.pages.open('Fay', PHONE);
    await join(fay, base, code, 'Fay');
    const err = fay.locator('#join-error');
    await err.waitFor();
    assert.match(await err.textContent(), /locked/i);
    assert.ok(await fay.getByRole('button', { name: 'Join', exact: true }).isEnabled(), 'Join can be tried again');
    await assertAccessible(fay, 'join page refused because locked');
    await shot(fay, 'participant-locked-phone');
    await fay.close();
    await fac.getByRole('button', { name: 'Unlock joining', exact: true }).click();
    await fac.getByText('Open: anyone with the link can join').waitFor();

    // Cy leaves mid-round: asked to confirm; the row already written stays.
    const cy = p.Cy;
    await cy.getByRole('button', { name: 'Leave session', exact: true }).click();
    await cy.getByRole('button', { name: 'Stay', exact: true }).click();
    await cy.getByLabel('Idea 1', { exact: true }).waitFor();
    await cy.getByRole('button', { name: 'Leave session', exact: true }).click();
    await cy.getByRole('button', { name: 'Yes, leave', exact: true }).click();
    await cy.getByRole('heading', { name: 'You left the session' }).waitFor();
    await assertAccessible(cy, 'participant who left');
    await eventually(async () => /Left/.test(await fac.locator('#f-people li', { hasText: 'Cy' }).innerText()), {
      message: 'roster says Cy left',
    });
  });

  await t.test('round 2: the late joiners are seated with fresh sheets; the leaver’s sheet moves; ideas build on others', async () => {
    await fac.getByRole('button', { name: 'Next round', exact: true }).click();
    for (const name of ['Dee', 'Eli']) {
      const page = p[name];
      await page.getByLabel('Idea 1', { exact: true }).waitFor();
      assert.match(await page.locator('#w-round').textContent(), /Round 2 of 3/);
      await page.getByText('this sheet starts with you').waitFor();
      r2[name] = name === 'Dee' ? 'A buddy rota in the team calendar' : 'A weekly open hour for questions';
      await writeIdea(page, r2[name]);
    }
    // Ana and Ben hold one of the three round-1 sheets each; one of them holds Cy's.
    const holders = {};
    for (const name of ['Ana', 'Ben']) {
      await toWriting(p[name]);
      const rows = await p[name].locator('#w-rows').innerText();
      assert.ok(!rows.includes(R1[name]), `${name} does not get its own sheet back`);
      holders[name] = Object.keys(R1).find((k) => rows.includes(R1[k]));
      assert.ok(holders[name], `${name} holds a sheet with a round-1 idea`);
    }
    cySheetHolder = Object.keys(holders).find((k) => holders[k] === 'Cy');
    assert.ok(cySheetHolder, `Cy's sheet keeps moving after Cy left (holders: ${JSON.stringify(holders)})`);
    assert.equal(await p.Cy.getByRole('heading', { name: 'You left the session' }).count(), 1);

    // Ana builds on the idea on her sheet with its "Build on this" button; Ben with the menu.
    const ana = p.Ana;
    await ana.getByRole('button', { name: /Build on this/ }).first().click();
    const anaLink = await ana.locator('#link-0').inputValue();
    assert.ok(anaLink, 'the button linked the empty idea box');
    assert.ok(await ana.getByLabel('Idea 1', { exact: true }).evaluate((el) => el === document.activeElement), 'focus moves to the box');
    r2.Ana = 'Build on it: keep a list of starter issues per repo';
    await writeIdea(ana, r2.Ana);
    await assertAccessible(ana, 'participant writing with build-on');
    await assertNoHorizontalScroll(ana, 'participant writing with build-on');
    await shot(ana, 'participant-build-on-phone');

    const ben = p.Ben;
    r2.Ben = 'Build on it: a checklist at the end of the walkthrough';
    await ben.getByLabel('Idea 1', { exact: true }).fill(r2.Ben);
    const option = await ben.locator('#link-0 option').nth(1).getAttribute('value');
    await ben.getByLabel('Idea 1 builds on').selectOption(option);
    await ben.locator('#w-save[data-state="saved"]').waitFor();
    // The link survives a reload: it comes back from the server's `links`.
    await ben.reload();
    await toWriting(ben);
    assert.equal(await ben.getByLabel('Idea 1 builds on').inputValue(), option);
    assert.equal(await ben.getByLabel('Idea 1', { exact: true }).inputValue(), r2.Ben);
  });

  await t.test('round 3: a late joiner writes on someone else’s sheet; the facilitator removes one person', async () => {
    await fac.getByRole('button', { name: 'Next round', exact: true }).click();
    const dee = p.Dee;
    await toWriting(dee);
    assert.match(await dee.locator('#w-round').textContent(), /Round 3 of 3/);
    assert.ok(!(await dee.locator('#w-rows').innerText()).includes(r2.Dee), 'Dee holds another sheet now');
    await writeIdea(dee, R3_DEE);

    // Remove Eli: asked first, then Eli's page says so and stops connecting.
    const row = fac.locator('#f-people li', { hasText: 'Eli' });
    await row.getByRole('button', { name: 'Remove Eli', exact: true }).click();
    await row.getByRole('button', { name: 'Cancel', exact: true }).click();
    await row.getByRole('button', { name: 'Remove Eli', exact: true }).click();
    await row.getByRole('button', { name: 'Yes, remove', exact: true }).click();
    await p.Eli.getByRole('heading', { name: 'You were removed from this session' }).waitFor();
    assert.equal(await p.Eli.evaluate((c) => localStorage.getItem(`brainwrite:seat:${c}`), code), null, 'the seat is forgotten');
    await assertAccessible(p.Eli, 'participant removed');
    await p.Eli.waitForTimeout(1500);
    assert.equal(await p.Eli.locator('#conn').isVisible(), false, 'no reconnecting banner after a removal');
    await eventually(async () => (await fac.locator('#f-people li', { hasText: 'Eli' }).count()) === 0, { message: 'Eli gone from the roster' });

    await fac.getByRole('button', { name: 'Finish', exact: true }).click();
    await fac.getByRole('heading', { name: 'Every idea' }).waitFor();
  });

  await t.test('the reveal shows build-on chains everywhere', async () => {
    for (const [label, page] of [['facilitator', fac], ['board', board], ['Ana', p.Ana], ['Cy (who left)', p.Cy]]) {
      await page.locator('.sheets .sheet').first().waitFor();
      const text = await page.locator('.sheets').innerText();
      for (const idea of [...Object.values(R1), r2.Ana, r2.Ben, r2.Dee, r2.Eli, R3_DEE]) assert.ok(text.includes(idea), `${label} shows "${idea}"`);
      const chain = page.locator('.idea', { hasText: r2.Ana }).locator('.builds-on');
      assert.match(await chain.innerText(), /builds on:/);
      assert.ok(Object.values(R1).some((t) => text.includes(t)), 'the chain names an earlier idea');
      assert.ok(!/Ana|Ben|Cy|Dee|Eli/.test(text), `${label}: no names`);
    }
    // Cy's sheet got a row from whoever held it in round 2.
    const cySheet = fac.locator('#f-reveal-sheets .sheet', { hasText: R1.Cy });
    assert.ok((await cySheet.locator('.row').count()) >= 2, "Cy's sheet has more rows than Cy's own");
    await assertAccessible(fac, 'facilitator after the rounds');
  });

  await t.test('share: present one sheet on every screen, then all', async () => {
    await fac.getByRole('button', { name: 'Next →', exact: true }).click();
    await board.getByText('Presenting · Sheet 1 of').waitFor();
    assert.equal(await board.locator('#br-sheets .sheet').count(), 1);
    await p.Ana.getByText(/The facilitator is showing sheet 1 of/).waitFor();
    assert.equal(await p.Ana.locator('#r-sheets .sheet').count(), 1);
    await fac.getByRole('button', { name: 'Next →', exact: true }).click();
    await board.getByText('Presenting · Sheet 2 of').waitFor();
    await fac.getByText(/On screen: sheet 2 of/).waitFor();
    await assertAccessible(board, 'board presenting one sheet');
    await assertAccessible(p.Ana, 'participant following the presented sheet');
    await shot(board, 'board-presenting-desktop', { fullPage: false });
    await fac.getByRole('button', { name: 'All sheets', exact: true }).click();
    await board.getByText('All ideas', { exact: true }).waitFor();
    await eventually(async () => (await board.locator('#br-sheets .sheet').count()) > 1, { message: 'board shows all sheets' });
    await eventually(async () => (await p.Ana.locator('#r-sheets .sheet').count()) > 1, { message: 'phone shows all sheets' });
  });

  await t.test('clusters: create, move by keyboard and by drag and drop, rename, delete, merge and undo', async () => {
    const name = fac.getByLabel('New cluster');
    await name.fill('First week');
    await name.press('Enter');
    const zone = (name) => fac.locator('.cl-zone', { has: fac.getByRole('heading', { name, exact: true }) });
    await zone('First week').waitFor();
    await name.fill('Docs');
    await fac.getByRole('button', { name: 'Add cluster', exact: true }).press('Enter');
    await name.fill('Scratch');
    await name.press('Enter');
    await zone('Scratch').waitFor();
    await fac.getByRole('button', { name: 'Delete cluster Scratch', exact: true }).click();
    await zone('Scratch').waitFor({ state: 'detached' });

    // By keyboard: the card's "Move to" menu; focus stays on the moved card's menu.
    // A card by its own text (another card may quote it in its "builds on" line).
    // (hasText alone would also match the option texts of every card's "Merge into" menu.)
    const card = (text, within = fac) => within.locator('.cl-card').filter({ has: fac.locator('.cl-text', { hasText: text }) });
    const move = card(R1.Ana).getByLabel('Move to');
    await move.focus();
    assert.equal(await move.inputValue(), '');
    await fac.keyboard.press('ArrowDown'); // "No cluster" → "First week", the first cluster
    const firstWeek = zone('First week');
    await card(R1.Ana, firstWeek).waitFor();
    assert.equal(await fac.evaluate(() => document.activeElement?.dataset?.focusKey?.startsWith('mv:')), true, 'focus follows the card');
    await card(r2.Ana).getByLabel('Move to').selectOption({ label: 'First week' });
    await card(r2.Ana, firstWeek).waitFor();

    // By drag and drop.
    const docs = zone('Docs');
    // Grab the card by its text (its middle may be a menu, which a press would open).
    await card(R1.Ben).dragTo(docs, { sourcePosition: { x: 12, y: 12 } });
    await card(R1.Ben, docs).waitFor();

    // Rename with the keyboard.
    await fac.getByRole('button', { name: 'Rename cluster Docs', exact: true }).press('Enter');
    const rename = fac.getByLabel('Rename “Docs”');
    await rename.fill('Docs and videos');
    await rename.press('Enter');
    await fac.getByRole('heading', { name: 'Docs and videos', exact: true }).waitFor();

    // Merge Ben's round-2 idea into Ben's round-1 idea, undo it, do it again.
    const target = `Sheet ${await sheetNumber(fac, R1.Ben)}: ${R1.Ben}`;
    await card(r2.Ben).getByLabel('Merge into').selectOption({ label: target });
    await card(R1.Ben).locator('.dupe', { hasText: r2.Ben }).waitFor();
    assert.equal(await card(r2.Ben).count(), 0, 'the repeat shows only under the idea it joined');
    await card(R1.Ben).getByRole('button', { name: /Undo merge/ }).click();
    await card(r2.Ben).waitFor();
    assert.equal(await card(R1.Ben).locator('.dupe').count(), 0, 'no repeat after the undo');
    await card(r2.Ben).getByLabel('Merge into').selectOption({ label: target });
    await card(R1.Ben).locator('.dupe', { hasText: r2.Ben }).waitFor();

    // The board shows the clusters with their ideas.
    await board.locator('.cluster', { hasText: 'First week' }).getByText(R1.Ana).waitFor();
    await board.locator('.cluster', { hasText: 'Docs and videos' }).getByText(R1.Ben).waitFor();
    await assertAccessible(fac, 'facilitator with clusters');
    await assertAccessible(board, 'board with clusters');
    await fac.locator('#f-clusters').scrollIntoViewIfNeeded();
    await shot(fac, 'facilitator-clusters-desktop');
    await fac.emulateMedia({ colorScheme: 'dark' });
    await assertAccessible(fac, 'facilitator with clusters in dark mode');
    await fac.emulateMedia({ colorScheme: 'light' });
    await shot(board, 'board-clusters-desktop');
  });

  await t.test('dot voting: a self-vote is refused politely, tallies stay hidden, results are ranked', async () => {
    await fac.getByLabel('Votes per person').fill('2');
    await fac.getByRole('button', { name: 'Open voting', exact: true }).click();
    await fac.getByRole('button', { name: 'Close voting', exact: true }).waitFor();

    const ana = p.Ana;
    const voteCard = (page, text) => page.locator('.vote-card').filter({ has: page.locator('.vote-text', { hasText: text }) });
    await ana.getByText('2 votes left').waitFor();
    // The merged repeat is hidden; its text shows under the idea it joined.
    assert.equal(await ana.locator('.vote-card .vote-text', { hasText: r2.Ben }).count(), 0, 'a merged repeat gets no card of its own');
    const own = voteCard(ana, R1.Ana);
    await own.getByRole('button', { name: 'Vote', exact: true }).click();
    await own.getByText("That's one of your own ideas").waitFor();
    assert.match(await ana.locator('#v-announce').textContent(), /own ideas/);
    await ana.getByText('2 votes left').waitFor();
    await assertAccessible(ana, 'participant voting with a refused vote');
    await assertNoHorizontalScroll(ana, 'participant voting');
    await shot(ana, 'participant-vote-phone');
    await ana.emulateMedia({ colorScheme: 'dark' });
    await assertAccessible(ana, 'participant voting in dark mode');
    await shot(ana, 'participant-vote-dark-phone', { fullPage: false });
    await ana.emulateMedia({ colorScheme: 'light' });

    // Two good votes: on Ben's idea (with its merged repeat) and on Dee's.
    await voteCard(ana, R1.Ben).getByRole('button', { name: 'Vote', exact: true }).click();
    await ana.getByText('1 vote left').waitFor();
    await voteCard(ana, r2.Dee).getByRole('button', { name: 'Vote', exact: true }).click();
    await ana.getByText('0 votes left').waitFor();
    // No votes left: said next to the idea.
    const third = voteCard(ana, R1.Cy);
    await third.getByRole('button', { name: 'Vote', exact: true }).click();
    await third.getByText(/used all your votes/).waitFor();
    // Take one back and give it elsewhere.
    await voteCard(ana, r2.Dee).getByRole('button', { name: 'Take back', exact: true }).click();
    await ana.getByText('1 vote left').waitFor();
    await third.getByRole('button', { name: 'Vote', exact: true }).click();
    await ana.getByText('0 votes left').waitFor();

    // Dee votes for Ben's idea too, and gets the ballot back after a reload.
    const dee = p.Dee;
    await voteCard(dee, R1.Ben).getByRole('button', { name: 'Vote', exact: true }).click();
    await dee.getByText('1 vote left').waitFor();
    await dee.reload();
    await dee.getByText('1 vote left').waitFor();
    await voteCard(dee, R1.Ben).getByText('✓ Your vote').waitFor();

    // The board shows only how many votes are in.
    await board.locator('#bv-cast').getByText('3', { exact: true }).waitFor();
    const boardText = await bodyText(board);
    for (const idea of Object.values(R1)) assert.ok(!boardText.includes(idea), 'no ideas on the board while voting');
    await assertAccessible(board, 'board while voting');
    await shot(board, 'board-voting-desktop', { fullPage: false });
    await fac.locator('#f-votes-cast').getByText('3', { exact: true }).waitFor();
    await shot(fac, 'facilitator-voting-desktop');

    await fac.getByRole('button', { name: 'Close voting', exact: true }).click();
    for (const page of [fac, board, ana, dee, p.Cy]) await page.locator('.results .result').first().waitFor();
    const first = board.locator('.results .result').first();
    assert.match(await first.innerText(), new RegExp(`1[\\s\\S]*${R1.Ben}[\\s\\S]*2 votes`));
    const ranks = await board.locator('.results .rank').allInnerTexts();
    const votes = await board.locator('.results .result-votes').allInnerTexts();
    const n = votes.map((v) => Number(/\d+/.exec(v)[0]));
    assert.deepEqual([...n].sort((a, b) => b - a), n, 'ranked by votes');
    assert.equal(ranks[1].replace(/\D/g, ''), '2');
    assert.equal(ranks[2].replace(/\D/g, ''), '3', 'ties share a rank, the next rank skips');
    assert.equal(await board.locator('.results', { hasText: r2.Ben }).count(), 0, 'a merged repeat is counted with its idea, not ranked');
    await assertAccessible(board, 'board results');
    await assertAccessible(ana, 'participant results');
    await assertAccessible(fac, 'facilitator results');
    await shot(board, 'board-results-desktop');
    await shot(ana, 'participant-results-phone');

    // The facilitator's page after the rounds also works on a phone.
    const facPhone = await suite.pages.open('facilitator-phone', PHONE);
    const token = JSON.parse(await fac.evaluate((c) => localStorage.getItem(`brainwrite:facilitator:${c}`), code));
    await facPhone.goto(`${base}/f/${code}#${token}`);
    await facPhone.getByRole('heading', { name: 'Results', exact: true }).waitFor();
    await facPhone.locator('.cl-card').first().waitFor();
    await assertNoHorizontalScroll(facPhone, 'facilitator after the vote on a phone');
    await shot(facPhone, 'facilitator-results-phone');
  });

  await t.test('exports: Markdown, CSV and JSON from the server, with every idea and no names', async () => {
    const all = [...Object.values(R1), r2.Ana, r2.Ben, r2.Dee, r2.Eli, R3_DEE];
    const files = {};
    for (const [label, ext] of [['Download Markdown', 'md'], ['Download CSV', 'csv'], ['Download JSON', 'json']]) {
      const [download] = await Promise.all([fac.waitForEvent('download'), fac.getByRole('button', { name: label, exact: true }).click()]);
      assert.match(download.suggestedFilename(), new RegExp(`\\.${ext}$`));
      files[ext] = await readDownload(download);
    }
    await fac.getByText(/Downloaded .*\.json/).waitFor();
    for (const idea of all) {
      assert.ok(files.csv.includes(idea.replace(/"/g, '""')), `CSV has "${idea}"`);
      assert.ok(files.md.includes(idea), `Markdown has "${idea}"`);
    }
    for (const [ext, text] of Object.entries(files)) {
      for (const name of ['Ana', 'Ben', 'Cy', 'Dee', 'Eli', 'Fay']) {
        assert.ok(!new RegExp(`\\b${name}\\b`).test(text), `${ext} names nobody (${name})`);
      }
    }
    const json = JSON.parse(files.json);
    assert.equal(json.topic, TOPIC);
    assert.equal(json.goal, GOAL);
    assert.ok(files.md.includes(GOAL));
  });

  await t.test('no page logged an error', () => {
    assert.deepEqual(suite.pages.errors, []);
  });
});

/** The 1-based number of the sheet an idea is on, as the facilitator's reveal shows it. */
async function sheetNumber(page, text) {
  const sheets = await page.locator('#f-reveal-sheets .sheet').all();
  for (let i = 0; i < sheets.length; i++) if ((await sheets[i].innerText()).includes(text)) return i + 1;
  throw new Error(`no sheet has "${text}"`);
}
