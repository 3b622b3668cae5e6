// A whole 6-3-5 session in real pages: the facilitator creates it from `/`, three phones join
// (two by link, one by typing the code), write, pass sheets, one reloads mid-round and gets
// its draft back, the facilitator pauses, extends, advances and finishes, a fourth person who
// came late is seated at the last round, and the board shows every idea. Every page is checked with axe-core and for console errors, and
// screenshotted on a phone and a desktop viewport.

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

const TOPIC = 'How might we make a newcomer\'s first week at <Acme> feel welcoming & useful?';

// What the three phones write, round by round. Some of it looks like markup on purpose:
// it must show as typed and never become elements.
const IDEAS = {
  1: [
    ['Pair each newcomer with a buddy for the first month', 'Laptop and accounts ready before day one'],
    ['A "who to ask for what" map of the team', 'Ship one tiny change to production in week one'],
    ['Lunch with a different team each day', 'Write down the <i>unwritten</i> rules'],
  ],
  2: [
    ['Buddies get an hour a week set aside for it', 'A checklist newcomers tick off themselves'],
    ['Short videos of how we deploy and review', 'Rotate the buddy after two weeks'],
    ['The newcomer demos their change at Friday review', 'A welcome note from the whole team'],
  ],
  3: [
    ['Ask after 30 days what confused them'],
    ['Keep the map in the wiki; newcomers edit it'],
    ['Celebrate the first merged change in chat'],
  ],
};

const LATE_IDEA = 'Ask the newest person to run the next retro';

/** Fill the idea boxes of a participant page and wait until the page says it saved. */
async function writeIdeas(page, ideas) {
  for (let i = 0; i < ideas.length; i++) {
    await page.getByLabel(`Idea ${i + 1}`, { exact: true }).fill(ideas[i]);
  }
  await page.locator('#w-save[data-state="saved"]').waitFor({ timeout: 10_000 });
}

async function sheetRowsText(page) {
  return page.locator('#w-rows').innerText();
}

test('a full session, from creating it to the reveal', { timeout: 180_000 }, async (t) => {
  const base = suite.server.url;
  let code;
  let joinHref;
  let fac;
  let board;
  const phones = [];
  let late;
  const names = ['Ana', '<img src=x>Ben', ''];
  const written = {}; // round → [[ideas of phone 0], …]

  await t.test('the facilitator creates a session from the home page', async () => {
    // The home page on a phone, for the screenshot and the phone checks.
    const home = await suite.pages.open('home-phone', PHONE);
    await home.goto(`${base}/`);
    await home.getByRole('button', { name: 'Create session', exact: true }).waitFor();
    await assertNoHorizontalScroll(home, 'home on a phone');
    await shot(home, 'home-phone');
    await home.close();

    fac = await suite.pages.open('facilitator', DESKTOP);
    await fac.goto(`${base}/`);
    assert.equal(await fac.getByLabel('Ideas per round').inputValue(), '3');
    assert.equal(await fac.getByLabel('Minutes per round').inputValue(), '5');
    assert.equal(await fac.getByLabel('Group size').inputValue(), '6');
    await assertAccessible(fac, 'home');
    await shot(fac, 'home-desktop');

    await fac.getByLabel('Problem statement').fill(TOPIC);
    await fac.getByLabel('Ideas per round').fill('2');
    await fac.getByRole('button', { name: 'Create session', exact: true }).click();
    await fac.waitForURL(/\/f\/[0-9A-Z]{8}$/);
    code = /\/f\/([0-9A-Z]{8})$/.exec(fac.url())[1];
    // The token was in the fragment; it is kept on the device and gone from the address bar.
    assert.equal(new URL(fac.url()).hash, '');
    const stored = await fac.evaluate((c) => localStorage.getItem(`brainwrite:facilitator:${c}`), code);
    assert.ok(stored && stored.length > 8, 'facilitator token kept in localStorage');

    await fac.getByRole('button', { name: 'Start', exact: true }).waitFor();
    // User text is text: the topic's markup shows literally and makes no element.
    assert.equal(await fac.locator('#f-topic').textContent(), TOPIC);
    assert.equal(await fac.locator('#f-topic *').count(), 0);
    assert.equal(await fac.locator('#join-code').textContent(), `${code.slice(0, 4)}-${code.slice(4)}`);
    const qr = fac.locator('#qr');
    assert.equal(await qr.getAttribute('src'), `/api/rooms/${code}/qr.svg`);
    await eventually(() => qr.evaluate((img) => img.complete && img.naturalWidth > 0), { message: 'QR image loaded' });
    joinHref = await fac.locator('#join-link').getAttribute('href');
    assert.equal(joinHref, `${base}/r/${code}`);
    await assertAccessible(fac, 'facilitator (lobby)');
  });

  await t.test('the board shows how to join', async () => {
    board = await suite.pages.open('board', DESKTOP);
    await board.goto(`${base}/b/${code}`);
    await board.locator('#bl-code').getByText(`${code.slice(0, 4)}-${code.slice(4)}`).waitFor();
    assert.equal(await board.locator('#bl-topic').textContent(), TOPIC);
    await assertAccessible(board, 'board (lobby)');
  });

  await t.test('three phones join, two by link and one by typing the code', async () => {
    for (let i = 0; i < 3; i++) {
      const p = await suite.pages.open(`phone${i + 1}`, PHONE);
      phones.push(p);
      if (i === 1) {
        // By code, typed the sloppy way people type: lower case, a space, O for 0, I for 1.
        await p.goto(`${base}/`);
        const typed = code.toLowerCase().replace(/0/g, 'o').replace(/1/g, 'i');
        await p.getByLabel('Session code').fill(`${typed.slice(0, 4)} ${typed.slice(4)}`);
        await p.getByRole('button', { name: 'Join', exact: true }).click();
        await p.waitForURL(`${base}/r/${code}`);
      } else {
        await p.goto(joinHref);
      }
      await p.getByRole('button', { name: 'Join', exact: true }).waitFor();
      assert.equal(await p.locator('#join-topic').textContent(), TOPIC);
      if (i === 0) {
        await assertAccessible(p, 'participant (join)');
        await assertNoHorizontalScroll(p, 'participant join');
        await shot(p, 'participant-join-phone');
      }
      if (names[i]) await p.getByLabel('Your name (optional)').fill(names[i]);
      await p.getByRole('button', { name: 'Join', exact: true }).click();
      await p.getByRole('heading', { name: /You're in/ }).waitFor();
    }
    await eventually(async () => (await phones[0].locator('#lobby-count').textContent()) === '3', { message: 'lobby count 3' });
    await assertAccessible(phones[0], 'participant (lobby)');
    await assertNoHorizontalScroll(phones[0], 'participant lobby');
    await shot(phones[0], 'participant-lobby-phone');

    // The facilitator sees everyone, by name (or as a guest), and can start.
    await eventually(async () => (await fac.locator('#f-people li').count()) === 3, { message: 'roster of 3' });
    const roster = await fac.locator('#f-people').innerText();
    assert.match(roster, /Ana/);
    assert.match(roster, /<img src=x>Ben/, 'a name is shown as typed');
    assert.equal(await fac.locator('#f-people img').count(), 0, 'a name never becomes markup');
    assert.match(roster, /Guest 3/);
    await eventually(async () => (await board.locator('#bl-count').textContent()) === '3', { message: 'board count 3' });
    await shot(fac, 'facilitator-lobby-desktop');
    await shot(board, 'board-lobby-desktop', { fullPage: false });
  });

  await t.test('round 1: everyone writes; the facilitator and board see counts, never text', async () => {
    await fac.getByRole('button', { name: 'Start', exact: true }).click();
    written[1] = [];
    for (let i = 0; i < 3; i++) {
      const p = phones[i];
      await p.getByLabel('Idea 1', { exact: true }).waitFor();
      assert.equal(await p.locator('#w-topic').textContent(), TOPIC);
      assert.match(await p.locator('#w-round').textContent(), /Round 1 of 3/);
      const secs = await timerSeconds(p);
      assert.ok(secs > 240 && secs <= 300, `phone ${i + 1} timer shows ${secs}s of a 5-minute round`);
      const ideas = IDEAS[1][i];
      written[1].push(ideas);
      await writeIdeas(p, ideas);
    }
    await assertAccessible(phones[0], 'participant (writing)');
    await assertNoHorizontalScroll(phones[0], 'participant writing');
    await shot(phones[0], 'participant-write-phone');

    await eventually(async () => /6 ideas? on the sheets|6 being written/.test(await fac.locator('#f-ideas').textContent()), {
      message: 'facilitator counts the drafts',
    });
    const facText = await bodyText(fac);
    const boardText = await bodyText(board);
    for (const idea of written[1].flat()) {
      assert.ok(!facText.includes(idea), 'the facilitator never sees text while writing');
      assert.ok(!boardText.includes(idea), 'the board never sees text while writing');
    }
    assert.match(await fac.locator('#f-done').textContent(), /0 of 3 done/);
    await assertAccessible(fac, 'facilitator (writing)');
    await assertAccessible(board, 'board (writing)');
    await shot(fac, 'facilitator-writing-desktop');
    await shot(board, 'board-writing-desktop', { fullPage: false });
  });

  await t.test('everyone is done, the sheet passes and shows the earlier row', async () => {
    for (let i = 0; i < 2; i++) {
      await phones[i].getByRole('button', { name: 'Done', exact: true }).click();
      await phones[i].getByText('Your row is in.').waitFor();
    }
    await eventually(async () => /2 of 3 done/.test(await fac.locator('#f-done').textContent()), { message: '2 of 3 done' });
    await shot(phones[0], 'participant-done-phone');
    await phones[2].getByRole('button', { name: 'Done', exact: true }).click();

    // The round ends because everyone connected is done: a clear "sheet passed" moment.
    for (const p of phones) await p.getByRole('heading', { name: 'Sheet passed' }).waitFor();
    await assertAccessible(phones[0], 'participant (sheet passed)');
    await shot(phones[0], 'participant-passed-phone');
    await phones[0].getByRole('button', { name: 'Continue', exact: true }).click();

    const seen = [];
    for (let i = 0; i < 3; i++) {
      const p = phones[i];
      await p.getByLabel('Idea 1', { exact: true }).waitFor();
      assert.match(await p.locator('#w-round').textContent(), /Round 2 of 3/);
      const rows = await sheetRowsText(p);
      // Someone else's row is on the sheet, never one's own, and no name is shown.
      assert.ok(!written[1][i].some((idea) => rows.includes(idea)), `phone ${i + 1} holds another person's sheet`);
      const owner = written[1].findIndex((ideas) => ideas.every((idea) => rows.includes(idea)));
      assert.ok(owner >= 0, `phone ${i + 1} sees a full earlier row: ${rows}`);
      seen.push(owner);
      assert.ok(!/Ana|Ben|Guest/.test(rows), 'no author names on a sheet');
      // The idea text containing markup is shown as text.
      assert.equal(await p.locator('#w-rows i').count(), 0);
      assert.equal(await p.getByLabel('Idea 1', { exact: true }).inputValue(), '', 'a new round starts with an empty row');
    }
    assert.deepEqual([...seen].sort(), [0, 1, 2], 'each earlier row is on exactly one sheet');
    await assertNoHorizontalScroll(phones[0], 'participant round 2');
    await shot(phones[0], 'participant-round2-phone');
  });

  await t.test('a phone reloaded mid-round gets its draft back', async () => {
    const p = phones[0];
    written[2] = [[], [], []];
    const [saved, typed] = IDEAS[2][0];
    // An idea the server acknowledged…
    await writeIdeas(p, [saved]);
    // …and one typed just before the reload, maybe not yet sent.
    await p.getByLabel('Idea 2', { exact: true }).fill(typed);
    await p.reload();
    await p.getByLabel('Idea 1', { exact: true }).waitFor();
    assert.equal(await p.getByLabel('Idea 1', { exact: true }).inputValue(), saved);
    assert.equal(await p.getByLabel('Idea 2', { exact: true }).inputValue(), typed);
    assert.match(await p.locator('#w-round').textContent(), /Round 2 of 3/);
    // No "sheet passed" moment for a reload within the same round, and it still holds a sheet.
    assert.ok(await p.locator('[data-view="passed"]').isHidden());
    await p.locator('#w-save[data-state="saved"]').waitFor();
    written[2][0] = [saved, typed];

    // A fresh socket with the same seat: the facilitator still counts 3 people, not 4.
    await eventually(async () => (await fac.locator('#f-people li').count()) === 3, { message: 'still 3 in the roster' });
  });

  await t.test('pause, resume and +1 min drive every countdown', async () => {
    for (let i = 1; i < 3; i++) {
      written[2][i] = IDEAS[2][i];
      await writeIdeas(phones[i], written[2][i]);
    }
    await phones[1].locator('#w-rows').scrollIntoViewIfNeeded();
    await shot(phones[1], 'participant-round2-writing-phone');
    await fac.getByRole('button', { name: 'Pause', exact: true }).click();
    await fac.getByRole('button', { name: 'Resume', exact: true }).waitFor();
    for (const p of phones) {
      await p.locator('#w-paused').waitFor();
      assert.equal(await p.getByLabel('Idea 1', { exact: true }).getAttribute('readonly'), '');
    }
    const frozen = await timerSeconds(phones[1]);
    await phones[1].waitForTimeout(1500);
    assert.equal(await timerSeconds(phones[1]), frozen, 'a paused clock does not move');
    await shot(fac, 'facilitator-paused-desktop');

    await fac.getByRole('button', { name: 'Resume', exact: true }).click();
    await fac.getByRole('button', { name: 'Pause', exact: true }).waitFor();
    await phones[1].locator('#w-paused').waitFor({ state: 'hidden' });
    const before = await timerSeconds(phones[1]);
    await fac.getByRole('button', { name: '+1 min', exact: true }).click();
    await eventually(async () => (await timerSeconds(phones[1])) >= before + 55, { message: 'a minute more on the phone' });
    await eventually(async () => (await timerSeconds(board)) >= before + 55, { message: 'a minute more on the board' });
    assert.equal(await phones[1].getByLabel('Idea 1', { exact: true }).getAttribute('readonly'), null);
  });

  await t.test('someone who arrives after the start waits to be seated at the next round', async () => {
    late = await suite.pages.open('late phone', PHONE);
    await late.goto(joinHref);
    await late.getByText('This session has already started').waitFor();
    await late.getByLabel('Your name (optional)').fill('Lou');
    await late.getByRole('button', { name: 'Join', exact: true }).click();
    await late.getByRole('heading', { name: "You'll be seated at the next round" }).waitFor();
    assert.equal(await late.getByLabel('Idea 1', { exact: true }).count(), 0, 'no sheet to write on yet');
    await assertAccessible(late, 'participant (joined late)');
    await eventually(async () => /Waiting for next round/.test(await fac.locator('#f-people').innerText()), { message: 'roster says waiting' });
    assert.match(await fac.locator('#f-done').textContent(), /of 3 done/, 'the late person is not counted in the round');
  });

  await t.test('the facilitator moves on, the last round is written and the session finishes', async () => {
    await fac.getByRole('button', { name: 'Next round', exact: true }).click();
    written[3] = [];
    for (let i = 0; i < 3; i++) {
      const p = phones[i];
      await p.getByRole('heading', { name: 'Sheet passed' }).waitFor();
      await p.getByRole('button', { name: 'Continue', exact: true }).click();
      await p.getByLabel('Idea 1', { exact: true }).waitFor();
      assert.match(await p.locator('#w-round').textContent(), /Round 3 of 3/);
      // Two earlier rows now: round 1 and round 2.
      assert.equal(await p.locator('#w-rows .row').count(), 2);
      const ideas = IDEAS[3][i];
      written[3].push(ideas);
      await writeIdeas(p, ideas);
    }
    // The late joiner is seated now, with a fresh sheet of its own.
    await late.getByLabel('Idea 1', { exact: true }).waitFor();
    assert.match(await late.locator('#w-round').textContent(), /Round 3 of 3/);
    await late.getByText('this sheet starts with you').waitFor();
    written[3].push([LATE_IDEA]);
    await writeIdeas(late, [LATE_IDEA]);
    // The last round has no "Next round"; finishing does what the clock would do.
    assert.equal(await fac.getByRole('button', { name: 'Next round', exact: true }).count(), 0);
    await fac.getByRole('button', { name: 'Finish', exact: true }).click();
    await fac.getByRole('heading', { name: 'Every idea' }).waitFor();
  });

  await t.test('the reveal shows every idea on every page', async () => {
    const all = [...written[1].flat(), ...written[2].flat(), ...written[3].flat()];
    assert.equal(all.length, 6 + 6 + 3 + 1);
    await board.locator('#br-sheets .sheet').nth(3).waitFor();
    for (const [label, page] of [['board', board], ['facilitator', fac], ['phone 1', phones[0]], ['phone 3', phones[2]], ['late phone', late]]) {
      await page.locator('.sheets .sheet').nth(2).waitFor();
      const text = await bodyText(page);
      for (const idea of all) assert.ok(text.includes(idea), `${label} shows "${idea}"`);
      assert.ok(!/Ana|Ben|Guest|Lou/.test(await page.locator('.sheets').innerText()), `${label}: no names on the sheets`);
      assert.equal(await page.locator('.sheets i, .sheets img').count(), 0, `${label}: ideas are text, not markup`);
    }
    // The facilitator takes the results away as CSV, exported by the server: every idea, no names.
    const [download] = await Promise.all([
      fac.waitForEvent('download'),
      fac.getByRole('button', { name: 'Download CSV', exact: true }).click(),
    ]);
    assert.equal(download.suggestedFilename(), `brainwrite-${code}.csv`);
    const csv = (await new Promise((resolve, reject) => {
      download.createReadStream().then((stream) => {
        const chunks = [];
        stream.on('data', (c) => chunks.push(c));
        stream.on('end', () => resolve(Buffer.concat(chunks)));
        stream.on('error', reject);
      }, reject);
    })).toString('utf8');
    assert.equal(csv.trim().split(/\r?\n/).length, 1 + all.length);
    for (const idea of all) assert.ok(csv.includes(idea.replace(/"/g, '""')), `CSV has "${idea}"`);
    assert.ok(!/Ana|Ben|Lou/.test(csv), 'no names in the CSV');

    assert.equal(await board.locator('#br-sheets .sheet').count(), 4);
    assert.equal(await board.locator('#br-sheets .idea').count(), all.length);
    await assertAccessible(board, 'board (reveal)');
    await assertAccessible(fac, 'facilitator (reveal)');
    await assertAccessible(phones[0], 'participant (reveal)');
    await assertNoHorizontalScroll(phones[0], 'participant reveal');
    await shot(board, 'board-reveal-desktop');
    await shot(fac, 'facilitator-reveal-desktop');
    await shot(phones[0], 'participant-reveal-phone');
  });

  await t.test('one reveal component draws the sheets on all three pages', async () => {
    for (const [label, page] of [['participant', phones[0]], ['facilitator', fac], ['board', board]]) {
      const info = await page.evaluate(() => {
        const el = document.querySelector('bw-reveal');
        return {
          defined: !!el && el.matches(':defined') && el.constructor === customElements.get('bw-reveal'),
          sheets: el ? el.querySelectorAll('.sheet').length : 0,
          outside: [...document.querySelectorAll('.sheet')].filter((s) => !s.closest('bw-reveal')).length,
        };
      });
      assert.ok(info.defined, `${label}: the reveal is a <bw-reveal> element`);
      assert.equal(info.sheets, 4, `${label}: <bw-reveal> holds every sheet`);
      assert.equal(info.outside, 0, `${label}: no sheet is drawn outside <bw-reveal>`);
    }
  });

  await t.test('the other pages on the other viewport', async () => {
    // Facilitator and board on a phone, participant on a desktop: all reveal, all usable.
    const facPhone = await suite.pages.open('facilitator-phone', PHONE);
    const token = await fac.evaluate((c) => localStorage.getItem(`brainwrite:facilitator:${c}`), code);
    await facPhone.goto(`${base}/f/${code}#${JSON.parse(token)}`);
    await facPhone.getByRole('heading', { name: 'Every idea' }).waitFor();
    await assertNoHorizontalScroll(facPhone, 'facilitator on a phone');
    await shot(facPhone, 'facilitator-reveal-phone');

    const boardPhone = await suite.pages.open('board-phone', PHONE);
    await boardPhone.goto(`${base}/b/${code}`);
    await boardPhone.locator('#br-sheets .sheet').first().waitFor();
    await assertNoHorizontalScroll(boardPhone, 'board on a phone');
    await shot(boardPhone, 'board-reveal-phone');

    const partDesk = await suite.pages.open('participant-desktop', DESKTOP);
    await partDesk.goto(`${base}/r/${code}`);
    await partDesk.getByRole('button', { name: 'Join', exact: true }).waitFor();
    await shot(partDesk, 'participant-join-desktop');
  });

  await t.test('no page logged an error', () => {
    assert.deepEqual(suite.pages.errors, []);
  });
});
