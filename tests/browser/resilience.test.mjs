// The parts of the client that protect people from their devices: a countdown that follows
// the server's deadline on a phone whose clock is wrong, rounds that end by the clock alone,
// a visible offline/reconnecting state that keeps typing safe, keyboard-only use, dark mode,
// and clear pages for wrong codes and links.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer,
  launchBrowser,
  createRoomApi,
  Pages,
  PHONE,
  DESKTOP,
  assertAccessible,
  assertNoHorizontalScroll,
  shot,
  eventually,
  timerSeconds,
} from './helpers.mjs';

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function join(page, base, code, name) {
  await page.goto(`${base}/r/${code}`);
  if (name) await page.getByLabel('Your name (optional)').fill(name);
  await page.getByRole('button', { name: 'Join', exact: true }).click();
  await page.getByRole('heading', { name: /You're in/ }).waitFor();
}

test('the countdown follows the server deadline on a phone with a wrong clock; rounds end by the clock', { timeout: 90_000 }, async () => {
  const pages = new Pages(browser);
  try {
    const base = server.url;
    const room = await createRoomApi(base, { topic: 'Quick rounds', ideas_per_round: 1, round_seconds: 10, group_size: 6 });
    const fac = await pages.open('facilitator', DESKTOP);
    await fac.goto(new URL(room.facilitate_url, base).href);
    // Start needs two people.
    const start = fac.getByRole('button', { name: 'Start', exact: true });
    await start.waitFor();
    assert.ok(await start.isDisabled(), 'Start is disabled with nobody in the room');

    // This phone's clock runs 7 minutes fast; the other's is right.
    const skewed = await pages.open('skewed phone', PHONE);
    await skewed.addInitScript(() => {
      const real = Date.now.bind(Date);
      Date.now = () => real() + 7 * 60 * 1000;
    });
    const normal = await pages.open('phone', PHONE);
    await join(skewed, base, room.code, 'Skew');
    assert.ok(await start.isDisabled(), 'Start is still disabled with one person');
    await join(normal, base, room.code, 'Norm');
    await eventually(() => start.isEnabled(), { message: 'Start enabled with two people' });
    await start.click();

    for (const p of [skewed, normal]) {
      await p.getByLabel('Idea 1', { exact: true }).waitFor();
      const s = await timerSeconds(p);
      assert.ok(s !== null && s >= 5 && s <= 10, `timer shows ${s}s of a 10-second round`);
    }
    await normal.getByLabel('Idea 1', { exact: true }).fill('Written against the clock');
    await normal.locator('#w-save[data-state="saved"]').waitFor();

    // The two phones agree within a second, and the clock goes down, not by a local counter
    // that could drift, but from the same deadline.
    const [a, b] = [await timerSeconds(skewed), await timerSeconds(normal)];
    assert.ok(Math.abs(a - b) <= 1, `skewed ${a}s vs normal ${b}s`);

    // Nobody presses anything: the server ends the round at the deadline and passes the sheets.
    for (const p of [skewed, normal]) await p.getByRole('heading', { name: 'Sheet passed' }).waitFor({ timeout: 15_000 });
    await skewed.getByRole('button', { name: 'Continue', exact: true }).click();
    // The skewed phone now holds the other sheet, with the idea from round 1.
    await skewed.locator('#w-rows').getByText('Written against the clock').waitFor();
    // And the last round also ends by itself: the session finishes and reveals.
    for (const p of [skewed, normal, fac]) await p.getByText('Written against the clock').first().waitFor({ timeout: 15_000 });
    await fac.getByRole('heading', { name: 'Every idea' }).waitFor();
    assert.deepEqual(pages.errors, []);
  } finally {
    await pages.close();
  }
});

test('offline: the page says so, keeps what is typed and saves it when the network is back', { timeout: 60_000 }, async () => {
  const pages = new Pages(browser);
  try {
    const base = server.url;
    const room = await createRoomApi(base, { topic: 'Offline', ideas_per_round: 2, round_seconds: 300 });
    const fac = await pages.open('facilitator', DESKTOP);
    await fac.goto(new URL(room.facilitate_url, base).href);
    const p1 = await pages.open('phone 1', PHONE);
    const p2 = await pages.open('phone 2', PHONE);
    await join(p1, base, room.code, 'One');
    await join(p2, base, room.code, 'Two');
    await fac.getByRole('button', { name: 'Start', exact: true }).click();
    await p1.getByLabel('Idea 1', { exact: true }).waitFor();

    await p1.context().setOffline(true);
    const banner = p1.getByRole('status').filter({ hasText: /offline/i });
    await banner.waitFor();
    await p1.getByLabel('Idea 1', { exact: true }).fill('Typed on a train in a tunnel');
    assert.equal(await p1.evaluate(() => JSON.parse(localStorage.getItem(Object.keys(localStorage).find((k) => k.includes('draft')))).texts[0]), 'Typed on a train in a tunnel');
    await shot(p1, 'participant-offline-phone', { fullPage: false });

    await p1.context().setOffline(false);
    await banner.waitFor({ state: 'hidden' });
    await p1.locator('#w-save[data-state="saved"]').waitFor();
    // The facilitator counts the drafted idea (counts only, never the text).
    await eventually(async () => /1 being written/.test(await fac.locator('#f-ideas').textContent()), { message: 'drafted idea counted' });
    assert.deepEqual(pages.errors, []);
  } finally {
    await pages.close();
  }
});

test('keyboard only: join by code, name, write, move between ideas and finish the row', { timeout: 60_000 }, async () => {
  const pages = new Pages(browser);
  try {
    const base = server.url;
    const room = await createRoomApi(base, { topic: 'Keyboard', ideas_per_round: 2, round_seconds: 300 });
    const other = await pages.open('other phone', PHONE);
    await join(other, base, room.code, 'Other');

    const p = await pages.open('keyboard', DESKTOP);
    await p.goto(`${base}/`);
    // Tab from the top of the page to the code field: every stop on the way is visible.
    let found = false;
    // The create form comes first (its method group is one stop, as every radio group).
    for (let i = 0; i < 16 && !found; i++) {
      await p.keyboard.press('Tab');
      const info = await p.evaluate(() => {
        const el = document.activeElement;
        const cs = getComputedStyle(el);
        return { id: el.id, outline: cs.outlineStyle !== 'none' || cs.boxShadow !== 'none' };
      });
      assert.ok(info.outline, `focus is visible on #${info.id || '?'}`);
      found = info.id === 'code';
    }
    assert.ok(found, 'the code field is reachable with Tab');
    await p.keyboard.type(room.code.toLowerCase());
    await p.keyboard.press('Enter');
    await p.waitForURL(`${base}/r/${room.code}`);
    await p.getByLabel('Your name (optional)').focus();
    await p.keyboard.type('Keys');
    await p.keyboard.press('Enter');
    await p.getByRole('heading', { name: /You're in, Keys/ }).waitFor();

    const fac = await pages.open('facilitator', DESKTOP);
    await fac.goto(new URL(room.facilitate_url, base).href);
    await fac.getByRole('button', { name: 'Start', exact: true }).focus();
    await fac.keyboard.press('Enter');

    const idea1 = p.getByLabel('Idea 1', { exact: true });
    await idea1.waitFor();
    await idea1.focus();
    await p.keyboard.type('First by keyboard');
    await p.keyboard.press('Enter'); // Enter moves on: ideas are one line each
    assert.equal(await p.evaluate(() => document.activeElement.id), 'idea-1');
    await p.keyboard.type('Second by keyboard');
    await p.keyboard.press('Enter');
    assert.equal(await p.evaluate(() => document.activeElement.textContent), 'Done');
    await p.keyboard.press('Enter');
    await p.getByText('Your row is in.').waitFor();
    assert.equal(await idea1.inputValue(), 'First by keyboard');
    await eventually(async () => /1 of 2 done/.test(await fac.locator('#f-done').textContent()), { message: '1 of 2 done' });
    assert.deepEqual(pages.errors, []);
  } finally {
    await pages.close();
  }
});

test('dark mode passes axe and looks right', { timeout: 60_000 }, async () => {
  const pages = new Pages(browser);
  try {
    const base = server.url;
    const room = await createRoomApi(base, { topic: 'What would make our team retros worth the hour?', ideas_per_round: 3, round_seconds: 300 });
    const dark = { colorScheme: 'dark' };
    const home = await pages.open('home dark', { ...DESKTOP, ...dark });
    await home.goto(`${base}/`);
    await assertAccessible(home, 'home (dark)');
    await shot(home, 'home-dark-desktop');

    const fac = await pages.open('facilitator dark', { ...DESKTOP, ...dark });
    await fac.goto(new URL(room.facilitate_url, base).href);
    const phones = [];
    for (const name of ['Kim', 'Lee', 'Sam']) {
      const p = await pages.open(`phone ${name}`, { ...PHONE, ...dark });
      await join(p, base, room.code, name);
      phones.push(p);
    }
    await assertAccessible(phones[0], 'participant lobby (dark)');
    await fac.getByRole('button', { name: 'Start', exact: true }).click();
    await phones[0].getByLabel('Idea 1', { exact: true }).waitFor();
    await phones[0].getByLabel('Idea 1', { exact: true }).fill('Start with one thing that went well, from each person');
    await phones[0].getByLabel('Idea 2', { exact: true }).fill('Timebox the discussion to three topics');
    await phones[0].locator('#w-save[data-state="saved"]').waitFor();
    await phones[1].getByLabel('Idea 1', { exact: true }).fill('Rotate who runs the retro');
    await phones[1].getByRole('button', { name: 'Done', exact: true }).click();
    await phones[1].getByText('Your row is in.').waitFor();
    await assertAccessible(phones[0], 'participant writing (dark)');
    await assertAccessible(phones[1], 'participant done (dark)');
    await assertNoHorizontalScroll(phones[0], 'participant writing (dark)');
    await shot(phones[0], 'participant-write-dark-phone');
    await eventually(async () => /1 of 3 done/.test(await fac.locator('#f-done').textContent()), { message: '1 of 3 done' });
    await assertAccessible(fac, 'facilitator writing (dark)');
    await shot(fac, 'facilitator-writing-dark-desktop');

    const board = await pages.open('board dark', { ...DESKTOP, ...dark });
    await board.goto(`${base}/b/${room.code}`);
    await board.getByRole('timer').waitFor();
    await assertAccessible(board, 'board writing (dark)');
    await shot(board, 'board-writing-dark-desktop', { fullPage: false });
    assert.deepEqual(pages.errors, []);
  } finally {
    await pages.close();
  }
});

test('wrong codes and links get a clear page, not a broken one', { timeout: 60_000 }, async () => {
  const pages = new Pages(browser);
  try {
    const base = server.url;
    const room = await createRoomApi(base, { topic: 'Links' });

    const home = await pages.open('home', PHONE);
    await home.goto(`${base}/`);
    await home.getByLabel('Session code').fill('nope');
    await home.getByRole('button', { name: 'Join', exact: true }).click();
    await home.getByRole('alert').filter({ hasText: '8 letters and digits' }).waitFor();
    assert.equal(await home.getByLabel('Session code').getAttribute('aria-invalid'), 'true');

    // A well-formed code that is not a room: the page asks the API first (a 404 there is
    // the expected answer, which Chromium also logs to the console).
    const missing = await pages.open('missing', PHONE);
    await missing.goto(`${base}/r/ZZZZZZZZ`);
    await missing.getByRole('heading', { name: 'No session here' }).waitFor();
    await assertAccessible(missing, 'participant (no such room)');

    // The facilitator page without its token, and with a wrong one.
    const noToken = await pages.open('no token', DESKTOP);
    await noToken.goto(`${base}/f/${room.code}`);
    await noToken.getByRole('heading', { name: "This is the facilitator's page" }).waitFor();
    await noToken.getByRole('link', { name: 'Join as a participant' }).waitFor();
    await assertAccessible(noToken, 'facilitator (no token)');
    const wrong = await pages.open('wrong token', DESKTOP);
    await wrong.goto(`${base}/f/${room.code}#not-the-token`);
    await wrong.getByText('This facilitator link is not valid for this session.').waitFor();
    assert.equal(await wrong.evaluate((c) => localStorage.getItem(`brainwrite:facilitator:${c}`), room.code), null);

    const expected = (e) => /ZZZZZZZZ/.test(e) && /404/.test(e);
    assert.deepEqual(pages.errors.filter((e) => !expected(e)), []);
  } finally {
    await pages.close();
  }
});
