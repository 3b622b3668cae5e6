// The printable report (docs/protocol.md, "Report"): a short real session — three people
// driven over WebSocket from a page of the site, two rounds with build-on links, a cluster, a
// merged duplicate and a dot vote — then the facilitator page's "Open the printable report"
// opens it in a new tab from a blob URL (the token never goes into a URL). The report must
// show every idea, its vote chart and (for C-Sketch) every sketch as SVG, fetch nothing, keep
// its style under the policy the blob inherits, pass axe, and print to an A4 PDF in Chromium.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { DESKTOP, OUT, createRoomApi, assertAccessible, shot, browserSuite } from './helpers.mjs';

const suite = browserSuite();

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
  const page = await suite.pages.open('driver', DESKTOP);
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
  suite.pages.watch(tab, 'report');
  await tab.waitForURL(/^blob:/);
  await tab.waitForLoadState('load');
  await fac.getByText(/The report is open in a new tab/).waitFor();
  return tab;
}

/** The size of every page of a PDF Chromium made, as [width, height] in points. */
function pdfPageSizes(pdf) {
  const boxes = pdf.toString('latin1').matchAll(/\/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]/g);
  return [...boxes].map((m) => [Number(m[1]), Number(m[2])]);
}

const A4 = [595.28, 841.89]; // 210 × 297 mm in points

/** Every text visible, on screen and in print; nothing fetched; its style kept; A4 suite.pages. */
async function checkReport(tab, texts, name) {
  const shows = async (media) => {
    await tab.emulateMedia({ media });
    const shown = await tab.evaluate(() => document.body.innerText);
    for (const t of texts) assert.ok(shown.includes(t), `the report shows "${t}" (${media})`);
    const unseen = await tab.locator('svg[role=img]').evaluateAll((svgs) => svgs.filter((s) => !s.checkVisibility() || !s.getBoundingClientRect().width).length);
    assert.equal(unseen, 0, `every drawing is visible (${media})`);
  };
  await shows('print');
  await shows('screen');
  assert.equal(await tab.locator('script').count(), 0, 'no script, not even from an idea');
  assert.deepEqual(await tab.evaluate(() => performance.getEntriesByType('resource').map((r) => r.name)), [], 'the report fetched nothing');
  // The stylesheet applied under the policy the blob inherited from the facilitator's page.
  assert.equal(await tab.locator('table.grid').first().evaluate((el) => getComputedStyle(el).borderCollapse), 'collapse');
  await assertAccessible(tab, `the report (${name})`);
  // Printed as the browser's Print does it: the report's own @page rule makes the paper A4,
  // whatever the default paper (Letter, asked for here) would have been.
  const pdf = await tab.pdf({ format: 'Letter', preferCSSPageSize: true, printBackground: false });
  writeFileSync(path.join(OUT, `${name}.pdf`), pdf);
  assert.equal(pdf.subarray(0, 5).toString('latin1'), '%PDF-', 'a PDF');
  assert.ok(pdf.length > 10_000, `a PDF with something in it (${pdf.length} bytes)`);
  const sizes = pdfPageSizes(pdf);
  const pagesIn = (pdf.toString('latin1').match(/\/Type\s*\/Page(?!s)/g) || []).length;
  assert.ok(pagesIn >= 1 && sizes.length === pagesIn, `every page has its size (${sizes.length} of ${pagesIn})`);
  for (const [w, h] of sizes) assert.ok(Math.abs(w - A4[0]) < 2 && Math.abs(h - A4[1]) < 2, `an A4 page, not ${w} × ${h} pt`);
  return { pdf, pages: pagesIn };
}

test('the printable report: every idea, chains, a cluster, the vote chart; opened from the facilitator page; prints to A4', { timeout: 120_000 }, async (t) => {
  const base = suite.server.url;
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

  const fac = await suite.pages.open('facilitator', DESKTOP);
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
    // Every idea on its sheet, once: the texts of the grids are the texts written.
    const onSheets = await tab.locator('.sheet .idea .text').allInnerTexts();
    assert.deepEqual([...onSheets].sort(), [...all].sort());
    // The chart: ranked bars with the numbers as text.
    const chart = tab.locator('ol.chart li');
    assert.equal(await chart.count(), 3);
    assert.match(await chart.first().innerText(), /1[\s\S]*not run[\s\S]*2 votes/);
    assert.equal(await tab.locator('ol.chart svg.bar rect').count(), 6);
    assert.equal(await tab.locator('.cluster h3').innerText(), 'People <first>');
    assert.equal(await tab.locator('ol.chain').count(), 3, 'one chain a sheet');
    assert.match(await tab.locator('.facts').innerText(), /Participants\s*3/);
    await shot(tab, 'report-desktop');
    // Printed, the report takes the paper's width (its margins are the @page rule's).
    await tab.emulateMedia({ media: 'print' });
    assert.equal(await tab.evaluate(() => getComputedStyle(document.querySelector('main')).maxWidth), 'none');
    await tab.emulateMedia({ media: 'screen' });
    await tab.close();
  });

  await t.test('the Arabic report reads right to left', async () => {
    const html = await fac.evaluate(
      async ([c, tok]) => (await fetch(`/api/rooms/${c}/export.html?lang=ar`, { headers: { authorization: `Bearer ${tok}` } })).text(),
      [code, token],
    );
    const ar = await suite.pages.open('report (ar)', DESKTOP);
    await ar.setContent(html);
    assert.equal(await ar.evaluate(() => document.documentElement.dir), 'rtl');
    assert.equal(await ar.locator('h2').nth(1).innerText(), 'الترتيب حسب الأصوات');
    // The bars grow from the right, like the text.
    const row = ar.locator('ol.chart li').nth(1);
    const bar = await row.locator('svg.bar').boundingBox();
    const filled = await row.locator('svg.bar rect').nth(1).boundingBox();
    assert.ok(Math.abs(filled.x + filled.width - (bar.x + bar.width)) < 1 && filled.width < bar.width * 0.6, 'a half bar starts at the right');
    const shown = await ar.evaluate(() => document.body.innerText);
    for (const text of Object.values(R1).flat()) assert.ok(shown.includes(text), text);
    await assertAccessible(ar, 'the Arabic report');
    await shot(ar, 'report-ar-desktop');
  });
});

// Strokes of a few simple shapes on the 1000 × 750 canvas, one sketch a person and round.
const SHAPES = {
  roof: [[150, 300, 500, 120, 850, 300]],
  box: [[200, 300, 800, 300, 800, 650, 200, 650, 200, 300]],
  bench: [[260, 560, 740, 560], [300, 560, 300, 640], [700, 560, 700, 640]],
  sun: [[880, 110], [860, 60, 900, 60, 930, 100, 900, 150, 860, 150, 830, 100, 860, 60]],
  bike: [[330, 520, 380, 470, 430, 520, 380, 570, 330, 520], [570, 520, 620, 470, 670, 520, 620, 570, 570, 520], [380, 520, 500, 430, 620, 520]],
  sign: [[120, 650, 120, 250], [90, 250, 150, 250, 150, 310, 90, 310, 90, 250]],
};
/** `x0,y0 x1,y1 …` as in a polyline's points, or `dot:x,y` for a stroke of one point. */
const strokeKey = (p) => (p.length === 2 ? `dot:${p[0]},${p[1]}` : p.reduce((a, v, i) => a + (i === 0 ? '' : i % 2 ? ',' : ' ') + v, ''));
/** A layer read from the report's SVG (readLayers) as the same kind of key. */
const layerKey = (l) => `${l.round}|${l.strokes.join(';')}`;

/** In the page: the layers of each SVG — one <g> each — with their strokes as strokeKey says. */
function readLayers(svgs) {
  const stroke = (el) => (el.tagName === 'circle' ? `dot:${el.getAttribute('cx')},${el.getAttribute('cy')}` : el.getAttribute('points'));
  return svgs.map((svg) => [...svg.querySelectorAll('g')].map((g) => ({ round: g.dataset.round, faded: g.hasAttribute('opacity'), strokes: [...g.children].map(stroke) })));
}
const SKETCHES = {
  1: { Ana: ['box', 'A shelter with glass walls'], Ben: ['bench', 'A bench that folds up'], Cy: ['sign', ''] },
  2: { Ana: ['roof', 'A green roof on top'], Ben: ['bike', 'Bike stands beside it'], Cy: ['sun', 'A solar panel for the lights'] },
};

test('a C-Sketch report: every sheet as its drawing, every layer in SVG, captions visible; prints to A4', { timeout: 120_000 }, async () => {
  const base = suite.server.url;
  const { code, facilitator_token: token } = await createRoomApi(base, {
    topic: 'Draw a better bus stop',
    method: 'c_sketch',
    rounds: 2,
    round_seconds: 600,
  });
  const ws = await driver(base, code);
  const names = ['Ana', 'Ben', 'Cy'];
  for (const n of names) {
    await ws.connect(n, { type: 'join', name: n });
    await ws.next(n, { type: 'welcome' });
  }
  await ws.connect('F', { type: 'facilitate', token });
  await ws.next('F', { type: 'welcome' });
  const fac = await suite.pages.open('facilitator (C-Sketch)', DESKTOP);
  await fac.goto(`${base}/f/${code}#${token}`);
  await fac.getByRole('button', { name: 'Start', exact: true }).waitFor();
  await ws.send('F', { type: 'start' });
  let seq = 0;
  for (const round of [1, 2]) {
    for (const n of names) {
      await ws.next(n, { type: 'sheet', round });
      const [shape, caption] = SKETCHES[round][n];
      for (const points of SHAPES[shape]) {
        seq += 1;
        await ws.send(n, { type: 'draw', points, round, seq });
        await ws.next(n, { type: 'ack', seq });
      }
      if (caption) {
        seq += 1;
        await ws.send(n, { type: 'write', slot: 0, text: caption, round, seq });
        await ws.next(n, { type: 'ack', seq });
      }
    }
    await ws.send('F', { type: round === 1 ? 'advance' : 'finish' });
  }
  const reveal = await ws.next('Ana', { type: 'reveal' });
  const roof = reveal.sheets.flatMap((s) => s.rows.flatMap((r) => r.ideas)).find((i) => i.text === 'A green roof on top');
  await ws.send('F', { type: 'open_voting', votes: 1 });
  await ws.send('Ben', { type: 'vote', idea: roof.id });
  await ws.next('Ben', { type: 'ballot', votes_left: 0 });
  await ws.send('F', { type: 'close_voting' });
  await ws.next('F', { type: 'results' });

  const tab = await openReport(fac);
  const captions = Object.values(SKETCHES).flatMap((r) => Object.values(r).map(([, c]) => c)).filter(Boolean);
  await checkReport(tab, ['Draw a better bus stop', 'C-Sketch', ...captions], 'report-sketch');
  const drawings = tab.locator('svg.sheet-drawing');
  assert.equal(await drawings.count(), 3, 'one drawing a sheet');
  for (let i = 0; i < 3; i++) {
    const rounds = await drawings.nth(i).locator('g').evaluateAll((gs) => gs.map((g) => g.dataset.round));
    assert.deepEqual(rounds, ['1', '2'], 'one <g> per layer, in round order');
    const box = await drawings.nth(i).boundingBox();
    assert.ok(box.width > 300 && Math.abs(box.width / box.height - 4 / 3) < 0.05, `a 4:3 drawing (${box.width}×${box.height})`);
  }
  assert.equal(await tab.locator('.idea svg.thumb').count(), 6, 'each layer on its row');
  // Every sketch as it was drawn: each stroke a polyline (a dot a circle) at its coordinates.
  const expected = (round) => names.map((n) => `${round}|${SHAPES[SKETCHES[round][n][0]].map(strokeKey).join(';')}`);
  const all = [...expected(1), ...expected(2)].sort();
  const onSheets = (await drawings.evaluateAll(readLayers)).flat();
  assert.deepEqual(onSheets.map(layerKey).sort(), all, "every layer on its sheet's drawing, stroke by stroke");
  assert.ok(onSheets.every((l) => !l.faded), 'no layer of a sheet faded on its drawing');
  // Each row's small drawing: its own layer on top, unfaded (the earlier ones faded under it).
  const onRows = await tab.locator('.idea svg.thumb').evaluateAll(readLayers);
  assert.deepEqual(onRows.map((ls) => layerKey(ls.at(-1))).sort(), all, 'every layer on its row');
  for (const ls of onRows) {
    assert.deepEqual(ls.map((l) => l.faded), [...ls.slice(1).map(() => true), false], 'the earlier layers faded, its own not');
  }
  // A sketch without a caption is still an idea on its sheet.
  const uncaptioned = await tab.locator('.sheet .idea.sketched').evaluateAll((els) => els.filter((e) => !e.querySelector('.text')).length);
  assert.equal(uncaptioned, 1, "Cy's sign has no caption and is on its sheet");
  assert.ok((await tab.locator('svg.sheet-drawing circle').count()) >= 1, 'a dot is drawn');
  assert.match(await tab.locator('ol.chart li').first().innerText(), /A green roof on top[\s\S]*1 vote/);
  assert.equal(await tab.locator('ol.chart svg.thumb').count(), 1, 'the chart shows the sketch voted for');
  await shot(tab, 'report-sketch-desktop');
  await tab.close();
});

test('no page logged an error', () => {
  assert.deepEqual(suite.pages.errors, []);
});
