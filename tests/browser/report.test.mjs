// The printable report (docs/protocol.md, "Report"): a short real session — three people
// driven over WebSocket from a page of the site, two rounds with build-on links, a cluster, a
// merged duplicate and a dot vote — then the facilitator page's "Open the printable report"
// opens it in a new tab from a blob URL (the token never goes into a URL). The report must
// show every idea, its vote chart and (for C-Sketch) every sketch as SVG, fetch nothing, keep
// its style under the policy the blob inherits, pass axe, and print to an A4 PDF in Chromium.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { startServer, launchBrowser, Pages, DESKTOP, OUT, createRoomApi, assertAccessible, shot } from './helpers.mjs';

let server;
let browser;
let pages;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  pages = new Pages(browser);
});

after(async () => {
  await pages?.close();
  await browser?.close();
  await server?.stop();
});

const TOPIC = 'How might we make the first week of a new colleague a good one?';
const GOAL = 'Three things to try with the next person who starts';

// Two ideas each in round 1, two in round 2 (the first building on the sheet's first idea).
const R1 = {
  Ana: ['A buddy for the first month', 'Laptop ready on the first morning'],
  Ben: ['A map of who to ask for what', 'Lunch with the team on day one'],
  Cy: ['<script>alert("not run")</script> & a "welcome" page', 'A list of the acronyms we use'],
};
const R2 = {
  Ana: ['Buddies get an hour a week for it', 'A short video tour of the office'],
  Ben: ['Shared calendar of first-week sessions', 'A glossary anyone can edit'],
  Cy: ['Ask them what helped, after a month', 'Name tags on every desk'],
};

/** A small WebSocket driver inside a page of the site (Node 20 has no WebSocket). */
function installDriver(code) {
  const clients = {};
  window.bw = {
    connect(name, first) {
      return new Promise((resolve, reject) => {
        const ws = new WebSocket(`${location.origin.replace(/^http/, 'ws')}/ws/${code}`);
        const c = { ws, inbox: [], wake: null };
        ws.onmessage = (e) => {
          c.inbox.push(JSON.parse(e.data));
          c.wake?.();
        };
        ws.onopen = () => {
          ws.send(JSON.stringify(first));
          resolve();
        };
        ws.onerror = () => reject(new Error(`socket of ${name} failed`));
        clients[name] = c;
      });
    },
    send(name, msg) {
      clients[name].ws.send(JSON.stringify(msg));
    },
    /** The first unread message matching every field of `match` (taken out of the inbox). */
    async next(name, match, timeout = 10_000) {
      const c = clients[name];
      const ok = (m) => Object.entries(match).every(([k, v]) => JSON.stringify(m[k]) === JSON.stringify(v));
      const until = Date.now() + timeout;
      for (;;) {
        const i = c.inbox.findIndex(ok);
        if (i >= 0) return c.inbox.splice(i, 1)[0];
        if (Date.now() > until) throw new Error(`${name}: no ${JSON.stringify(match)} in ${JSON.stringify(c.inbox.slice(-4))}`);
        await new Promise((r) => {
          c.wake = r;
          setTimeout(r, 100);
        });
      }
    },
  };
}

async function driver(base, code) {
  const page = await pages.open('driver', DESKTOP);
  await page.goto(`${base}/`);
  await page.evaluate(installDriver, code);
  return {
    connect: (name, first) => page.evaluate(([n, f]) => window.bw.connect(n, f), [name, first]),
    send: (name, msg) => page.evaluate(([n, m]) => window.bw.send(n, m), [name, msg]),
    next: (name, match) => page.evaluate(([n, m]) => window.bw.next(n, m), [name, match]),
  };
}

/** Click the report control on the facilitator page; the new tab once the report is in it. */
async function openReport(fac) {
  const [tab] = await Promise.all([fac.context().waitForEvent('page'), fac.getByRole('button', { name: 'Open the printable report', exact: true }).click()]);
  pages.watch(tab, 'report');
  await tab.waitForURL(/^blob:/);
  await tab.waitForLoadState('load');
  await fac.getByText(/The report is open in a new tab/).waitFor();
  return tab;
}

/** Everything a printed report must be: every text visible, nothing fetched, its style kept, A4 pages. */
async function checkReport(tab, texts, name) {
  const shown = await tab.evaluate(() => document.body.innerText);
  for (const t of texts) assert.ok(shown.includes(t), `the report shows "${t}"`);
  assert.equal(await tab.locator('script').count(), 0, 'no script, not even from an idea');
  assert.deepEqual(await tab.evaluate(() => performance.getEntriesByType('resource').map((r) => r.name)), [], 'the report fetched nothing');
  // The stylesheet applied under the policy the blob inherited from the facilitator's page.
  assert.equal(await tab.locator('table.grid').first().evaluate((el) => getComputedStyle(el).borderCollapse), 'collapse');
  await assertAccessible(tab, `the report (${name})`);
  const pdf = await tab.pdf({ format: 'A4', printBackground: false });
  writeFileSync(path.join(OUT, `${name}.pdf`), pdf);
  assert.equal(pdf.subarray(0, 5).toString('latin1'), '%PDF-', 'a PDF');
  assert.ok(pdf.length > 10_000, `a PDF with something in it (${pdf.length} bytes)`);
  const pagesIn = (pdf.toString('latin1').match(/\/Type\s*\/Page(?!s)/g) || []).length;
  assert.ok(pagesIn >= 1, `at least one page (${pagesIn})`);
  return { pdf, pages: pagesIn };
}

test('the printable report: every idea, chains, a cluster, the vote chart; opened from the facilitator page; prints to A4', { timeout: 120_000 }, async (t) => {
  const base = server.url;
  const { code, facilitator_token: token } = await createRoomApi(base, {
    topic: TOPIC,
    goal: GOAL,
    outcomes: ['A shortlist', 'One owner each'],
    ideas_per_round: 2,
    rounds: 2,
    round_seconds: 600,
  });
  const ws = await driver(base, code);
  const names = Object.keys(R1);
  for (const n of names) {
    await ws.connect(n, { type: 'join', name: n });
    await ws.next(n, { type: 'welcome' });
  }
  await ws.connect('F', { type: 'facilitate', token });
  await ws.next('F', { type: 'welcome' });

  const fac = await pages.open('facilitator', DESKTOP);
  await fac.goto(`${base}/f/${code}#${token}`);
  await fac.getByRole('button', { name: 'Start', exact: true }).waitFor();

  await t.test('two rounds, with ideas that build on others', async () => {
    ws.send('F', { type: 'start' });
    for (const n of names) {
      await ws.next(n, { type: 'sheet', round: 1 });
      for (const [slot, text] of R1[n].entries()) {
        await ws.send(n, { type: 'write', slot, text, round: 1, seq: slot });
        await ws.next(n, { type: 'ack', seq: slot });
      }
    }
    await ws.send('F', { type: 'advance' });
    for (const n of names) {
      const s = await ws.next(n, { type: 'sheet', round: 2 });
      const on = s.sheet.rows[0].ideas[0].id;
      for (const [slot, text] of R2[n].entries()) {
        await ws.send(n, { type: 'write', slot, text, round: 2, seq: 10 + slot, builds_on: slot === 0 ? on : null });
        await ws.next(n, { type: 'ack', seq: 10 + slot });
      }
    }
    await ws.send('F', { type: 'finish' });
    await ws.next('F', { type: 'reveal' });
  });

  await t.test('a cluster, a merged duplicate and a dot vote', async () => {
    // The ids by text, from the reveal a participant gets.
    const reveal = await ws.next('Ana', { type: 'reveal' });
    const id = Object.fromEntries(reveal.sheets.flatMap((s) => s.rows.flatMap((r) => r.ideas.map((i) => [i.text, i.id]))));
    await ws.send('F', { type: 'cluster', name: 'People <first>' });
    let made = await ws.next('F', { type: 'clusters' });
    while (!made.clusters.length) made = await ws.next('F', { type: 'clusters' });
    const cid = made.clusters[0].id;
    await ws.send('F', { type: 'assign', idea: id[R1.Ana[0]], cluster: cid });
    await ws.send('F', { type: 'assign', idea: id[R1.Ben[0]], cluster: cid });
    await ws.send('F', { type: 'merge', idea: id[R2.Ben[1]], into: id[R1.Cy[1]] });
    await ws.next('F', { type: 'clusters', merged: [{ idea: id[R2.Ben[1]], into: id[R1.Cy[1]] }] });
    await ws.send('F', { type: 'open_voting', votes: 2 });
    // Ana and Ben vote for Cy's first idea; Cy for Ana's buddy idea.
    for (const [n, idea] of [['Ana', R1.Cy[0]], ['Ben', R1.Cy[0]], ['Cy', R1.Ana[0]], ['Ana', R1.Ben[1]]]) {
      await ws.send(n, { type: 'vote', idea: id[idea] });
    }
    await ws.next('Ana', { type: 'ballot', votes_left: 0 });
    await ws.next('Cy', { type: 'ballot', votes_left: 1 });
    await ws.send('F', { type: 'close_voting' });
    const results = await ws.next('F', { type: 'results' });
    assert.equal(results.ideas[0].text, R1.Cy[0]);
    assert.equal(results.ideas[0].votes, 2);
  });

  await t.test('the facilitator opens the report: every idea, the chains, the cluster, the chart; it prints to A4', async () => {
    await fac.getByRole('button', { name: 'Open the printable report', exact: true }).waitFor();
    await assertAccessible(fac, 'facilitator with the report control');
    const tab = await openReport(fac);
    assert.equal(await tab.title(), `${TOPIC} · brainwrite`);
    const all = [...Object.values(R1).flat(), ...Object.values(R2).flat()];
    await checkReport(tab, [TOPIC, GOAL, ...all], 'report');
    assert.equal(await tab.locator('.sheet').count(), 3);
    assert.equal(await tab.locator('.idea').count(), all.length);
    // The chart: ranked bars with the numbers as text.
    const chart = tab.locator('ol.chart li');
    assert.equal(await chart.count(), 3);
    assert.match(await chart.first().innerText(), /1[\s\S]*not run[\s\S]*2 votes/);
    assert.equal(await tab.locator('ol.chart svg.bar rect').count(), 6);
    assert.equal(await tab.locator('.cluster h3').innerText(), 'People <first>');
    assert.equal(await tab.locator('ol.chain').count(), 3, 'one chain a sheet');
    assert.match(await tab.locator('.facts').innerText(), /Participants\s*3/);
    await shot(tab, 'report-desktop');
    // Printed: the same words, on A4.
    await tab.emulateMedia({ media: 'print' });
    assert.equal(await tab.evaluate(() => getComputedStyle(document.querySelector('main')).maxWidth), 'none');
    await tab.emulateMedia({ media: 'screen' });
    await tab.close();
  });

  await t.test('no page logged an error', () => {
    assert.deepEqual(pages.errors, []);
  });
});
