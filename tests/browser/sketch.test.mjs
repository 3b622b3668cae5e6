// C-Sketch in real pages (issue #16): two phones of 360 px draw with the mouse, a pen and a
// finger (pointer events from Chromium's own input, through the devtools protocol), undo a
// stroke, write a caption, reload and find the draft; at the round boundary the sketch goes to
// the other phone, which draws on top of it in its own layer; at the reveal the board shows the
// sheets as SVG, layer by layer, in two colours. axe and the console are checked throughout.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Pages,
  PHONE,
  DESKTOP,
  createRoomApi,
  assertAccessible,
  assertNoHorizontalScroll,
  shot,
  eventually,
  bodyText,
  browserSuite,
} from './helpers.mjs';

const suite = browserSuite();

const TOPIC = 'How might a visitor find the right entrance of the hospital?';
const CAPTIONS = ['Coloured lines on the floor, one per clinic', 'A big map at the car park'];
const ON_TOP = 'Arrows at every crossing, in the clinic’s colour';

/** Points round a circle (a hand-drawn ring when drawn point by point). */
const arc = (cx, cy, r, from, to, n = 28) =>
  Array.from({ length: n + 1 }, (_, i) => from + ((to - from) * i) / n).map((a) => [Math.round(cx + r * Math.cos(a)), Math.round(cy + r * Math.sin(a))]);
const ring = (cx, cy, r, n = 28) => arc(cx, cy, r, 0, 2 * Math.PI, n);
/** A wavy line from (x0, y0) to (x1, y1). */
const wave = (x0, y0, x1, y1, amp = 20, n = 24) =>
  Array.from({ length: n + 1 }, (_, i) => [Math.round(x0 + ((x1 - x0) * i) / n), Math.round(y0 + ((y1 - y0) * i) / n + amp * Math.sin((i / n) * Math.PI * 3))]);

/** The pad's box on the page, and a function from canvas units (1000 × 750) to page pixels. */
async function padGeometry(page) {
  const box = await page.locator('#sk-pad svg').boundingBox();
  assert.ok(box, 'the pad is on the page');
  return { box, at: (x, y) => ({ x: box.x + (x / 1000) * box.width, y: box.y + (y / 750) * box.height }) };
}

/** A stroke with the mouse through the canvas points given. */
async function mouseStroke(page, points) {
  const { at } = await padGeometry(page);
  const [first, ...rest] = points.map(([x, y]) => at(x, y));
  await page.mouse.move(first.x, first.y);
  await page.mouse.down();
  for (const p of rest) await page.mouse.move(p.x, p.y, { steps: 4 });
  await page.mouse.up();
}

/** A stroke with a pen: Chromium's own mouse input with pointerType "pen" (CDP). */
async function penStroke(page, cdp, points) {
  const { at } = await padGeometry(page);
  const pts = points.map(([x, y]) => at(x, y));
  const ev = (type, p, extra = {}) => cdp.send('Input.dispatchMouseEvent', { type, x: p.x, y: p.y, pointerType: 'pen', button: 'left', buttons: 1, force: 0.5, ...extra });
  await ev('mousePressed', pts[0], { clickCount: 1 });
  for (const p of pts.slice(1)) await ev('mouseMoved', p);
  await ev('mouseReleased', pts.at(-1), { buttons: 0, clickCount: 1 });
}

/** A stroke with a finger: touchStart, touchMoves, touchEnd (CDP), as a phone's screen sends them. */
async function touchStroke(page, cdp, points) {
  const { at } = await padGeometry(page);
  const pts = points.map(([x, y]) => at(x, y));
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: [{ x: pts[0].x, y: pts[0].y, id: 1 }] });
  for (const p of pts.slice(1)) {
    for (let k = 1; k <= 3; k++) {
      await cdp.send('Input.dispatchTouchEvent', { type: 'touchMove', touchPoints: [{ x: p.x, y: p.y, id: 1 }] });
    }
  }
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
}

/** Strokes of each layer drawn in an <svg>: [{ round, colour, strokes }]. */
function layersIn(page, selector) {
  return page.locator(selector).first().evaluate((svg) =>
    [...svg.querySelectorAll('g.layer')].map((g) => ({
      round: Number(g.dataset.round),
      colour: g.getAttribute('stroke'),
      strokes: g.querySelectorAll('polyline, circle').length,
      mine: g.classList.contains('layer-mine'),
    })),
  );
}

const mine = async (page) => (await layersIn(page, '#sk-pad svg')).find((l) => l.mine)?.strokes ?? 0;

async function saved(page) {
  await page.locator('#sk-save[data-state="saved"]').waitFor({ timeout: 10_000 });
}

test('C-Sketch: draw, undo, caption, reload, pass the sheet, draw on top, reveal as SVG', { timeout: 180_000 }, async (t) => {
  const base = suite.server.url;
  const room = await createRoomApi(base, { topic: TOPIC, method: 'c_sketch', round_seconds: 600 });
  const { code } = room;
  const fac = await suite.pages.open('facilitator', DESKTOP);
  const board = await suite.pages.open('board', DESKTOP);
  const phones = [await suite.pages.open('phone A', PHONE), await suite.pages.open('phone B', PHONE)];
  const cdp = await Promise.all(phones.map((p) => p.context().newCDPSession(p)));
  let drawnA = 0; // strokes on phone A's own sheet after round 1

  await t.test('two phones join a C-Sketch room; the lobby says what to do', async () => {
    await fac.goto(room.facilitate_url);
    await board.goto(`${base}/b/${code}`);
    for (const p of phones) {
      await p.goto(`${base}/r/${code}`);
      await p.getByRole('button', { name: 'Join', exact: true }).click();
      await p.getByRole('heading', { name: /You're in/ }).waitFor();
    }
    assert.match(await phones[0].locator('#how-write').textContent(), /Draw one idea in 10 minutes/);
    await eventually(async () => (await fac.locator('#f-people li').count()) === 2, { message: 'roster of 2' });
    await fac.getByRole('button', { name: 'Start', exact: true }).click();
  });

  await t.test('round 1: the pad fits the phone; mouse, pen and finger draw; undo takes one back', async () => {
    const p = phones[0];
    await p.locator('#sk-pad svg').waitFor();
    assert.equal(await p.locator('#w-fields textarea').count(), 0, 'no text boxes in a C-Sketch room');
    assert.ok(await p.locator('#w-text').isHidden());
    const { box } = await padGeometry(p);
    assert.ok(box.width >= 300 && box.x >= 0 && box.x + box.width <= 360, `the pad fits a 360 px phone: ${JSON.stringify(box)}`);
    assert.ok(Math.abs(box.width / box.height - 4 / 3) < 0.02, 'the pad is 4:3');
    assert.equal(await p.locator('#sk-pad svg').evaluate((s) => getComputedStyle(s).touchAction), 'none');
    assert.match(await p.locator('#sk-left').textContent(), /100 strokes left/);
    assert.ok(await p.getByRole('button', { name: 'Undo' }).isDisabled(), 'nothing to undo yet');
    await assertNoHorizontalScroll(p, 'C-Sketch on a phone');

    // The mouse: the hospital.
    await mouseStroke(p, [[330, 640], [330, 300], [670, 300], [670, 640], [330, 640]]);
    await eventually(async () => (await mine(p)) === 1, { message: 'a mouse stroke' });
    // A pen: the sign on its roof, drawn point by point (and simplified on the way).
    await penStroke(p, cdp[0], ring(500, 190, 70));
    await eventually(async () => (await mine(p)) === 2, { message: 'a pen stroke' });
    // A finger: a tap is a dot, a drag a line.
    const lamp = (await padGeometry(p)).at(250, 560);
    await p.touchscreen.tap(lamp.x, lamp.y);
    await eventually(async () => (await mine(p)) === 3, { message: 'a finger tap' });
    assert.equal(await p.locator('#sk-pad g.layer-mine circle').count(), 1, 'a tap is drawn as a dot');
    await touchStroke(p, cdp[0], [[850, 300], [950, 300], [950, 400]]);
    await eventually(async () => (await mine(p)) === 4, { message: 'a finger stroke' });
    assert.match(await p.locator('#sk-left').textContent(), /96 strokes left/);

    // Undo takes the finger's line back (only that one).
    await p.getByRole('button', { name: 'Undo' }).click();
    await eventually(async () => (await mine(p)) === 3, { message: 'undo' });
    assert.match(await p.locator('#sk-left').textContent(), /97 strokes left/);
    // The cross on the sign and the door.
    await mouseStroke(p, [[500, 150], [500, 230]]);
    await mouseStroke(p, [[460, 190], [540, 190]]);
    await mouseStroke(p, [[450, 640], [450, 520], [550, 520], [550, 640]]);
    await eventually(async () => (await mine(p)) === 6, { message: 'cross and door' });
    // Every stroke is integers on the canvas.
    const points = await p.locator('#sk-pad g.layer-mine polyline').evaluateAll((ls) => ls.map((l) => l.getAttribute('points')));
    for (const pts of points) {
      for (const xy of pts.split(' ')) {
        const [x, y] = xy.split(',').map(Number);
        assert.ok(Number.isInteger(x) && Number.isInteger(y) && x >= 0 && x <= 1000 && y >= 0 && y <= 750, `point ${xy}`);
      }
    }

    await p.getByLabel('Caption').fill(CAPTIONS[0]);
    await saved(p);
    drawnA = 6;
    await assertAccessible(p, 'participant (C-Sketch, round 1)');
    await shot(p, 'participant-sketch-round1-phone');
  });

  await t.test('a reload finds the draft, from this device and from the server', async () => {
    const p = phones[0];
    await p.reload();
    await p.locator('#sk-pad svg').waitFor();
    await eventually(async () => (await mine(p)) === drawnA, { message: 'the strokes after a reload' });
    assert.equal(await p.getByLabel('Caption').inputValue(), CAPTIONS[0]);
    await saved(p);
    // Without this device's copy, the server's (the `sheet` message's `sketch`) is the draft.
    await p.evaluate((c) => localStorage.removeItem(`brainwrite:sketch:${c}`), code);
    await p.reload();
    await p.locator('#sk-pad svg').waitFor();
    await eventually(async () => (await mine(p)) === drawnA, { message: 'the strokes from the server' });
    assert.equal(await p.getByLabel('Caption').inputValue(), CAPTIONS[0]);
    assert.ok(await p.locator('[data-view="passed"]').isHidden(), 'no "sheet passed" for a reload');
    // The facilitator and the board count it; they never see it.
    await eventually(async () => /1 being written|1 idea/.test(await fac.locator('#f-ideas').textContent()), { message: 'facilitator counts the sketch' });
    assert.equal(await fac.locator('svg.sketch').count(), 0, 'the facilitator sees no sketch while drawing');
    assert.equal(await board.locator('svg.sketch').count(), 0, 'the board sees no sketch while drawing');
  });

  await t.test('the client knows the limits before the server does', async () => {
    const p = phones[0];
    const r = await p.evaluate(async () => {
      const { fitStroke, budget, LIMITS } = await import('/lib/sketch.js');
      const { errorText } = await import('/lib/state.js');
      // A scribble of 1,400 points: simplified, then split into strokes of at most 500.
      const long = [];
      for (let i = 0; i < 1400; i++) long.push(i % 1000, i % 2 ? 700 : 50 + (i % 600));
      const parts = fitStroke(long, []);
      // A full layer takes nothing more; an almost full one only what fits.
      const full = Array.from({ length: LIMITS.strokes }, () => [1, 1]);
      const almost = Array.from({ length: 8 }, () => Array(1000).fill(3));
      const fitted = fitStroke(long, almost);
      // A press on a full pad says so instead of drawing.
      const pad = document.createElement('bw-sketch-pad');
      document.body.append(pad);
      pad.update({ strokes: full, round: 1 });
      let said = 0;
      let drew = 0;
      pad.addEventListener('full', () => said++);
      pad.addEventListener('stroke', () => drew++);
      const svg = pad.querySelector('svg');
      const b = svg.getBoundingClientRect();
      const at = { clientX: b.left + 20, clientY: b.top + 20, pointerId: 9, pointerType: 'mouse', button: 0, buttons: 1, bubbles: true };
      svg.dispatchEvent(new PointerEvent('pointerdown', at));
      svg.dispatchEvent(new PointerEvent('pointerup', at));
      pad.remove();
      return {
        parts: parts.map((s) => s.length / 2),
        full: budget(full).full,
        fullFits: fitStroke(long, full).length,
        fitted: fitted.reduce((n, s) => n + s.length / 2, 0),
        said,
        drew,
        tooBig: errorText({ code: 'sketch_too_big', message: 'x' }),
        wrong: errorText({ code: 'wrong_method', message: 'x' }),
      };
    });
    assert.ok(r.parts.length >= 2 && r.parts.every((n) => n >= 1 && n <= 500), `split into strokes of at most 500 points: ${r.parts}`);
    assert.equal(r.full, true);
    assert.equal(r.fullFits, 0);
    assert.equal(r.fitted, 4096 - 8 * 500, 'an almost full layer takes what is left of 4,096 points');
    assert.deepEqual([r.said, r.drew], [1, 0], 'a full pad says so and draws nothing');
    assert.match(r.tooBig, /sketch is full/);
    assert.match(r.wrong, /different method/);
  });

  await t.test('phone B draws its own sheet; everyone is done; the sheets pass', async () => {
    const p = phones[1];
    await p.locator('#sk-pad svg').waitFor();
    // A map of the car park: its edge, the "P", the rows of spaces.
    await mouseStroke(p, [[120, 120], [880, 120], [880, 630], [120, 630], [120, 120]]);
    await mouseStroke(p, [[200, 420], [200, 200], ...arc(250, 255, 55, -Math.PI / 2, Math.PI / 2, 12), [200, 310]]);
    await touchStroke(p, cdp[1], [[380, 250], [820, 250]]);
    await touchStroke(p, cdp[1], [[380, 420], [820, 420]]);
    await eventually(async () => (await mine(p)) === 4, { message: 'B drew' });
    await p.getByLabel('Caption').fill(CAPTIONS[1]);
    await saved(p);
    // A is done first and waits; B's Done ends the round.
    await phones[0].getByRole('button', { name: 'Done', exact: true }).click();
    await phones[0].getByText('Your sketch is in.').waitFor();
    assert.match(await phones[0].locator('#sk-mine').textContent(), new RegExp(CAPTIONS[0]));
    assert.ok(await phones[0].locator('#sk-form').isHidden());
    await phones[1].getByRole('button', { name: 'Done', exact: true }).click();
    for (const ph of phones) {
      await ph.getByRole('heading', { name: 'Sheet passed' }).waitFor();
      await ph.getByRole('button', { name: 'Continue', exact: true }).click();
    }
  });

  await t.test('round 2: the sketch arrives on the next phone, which draws on top in its own colour', async () => {
    const p = phones[1]; // holds A's sheet now (a ring of two)
    await p.locator('#sk-pad svg').waitFor();
    assert.match(await p.locator('#w-round').textContent(), /Round 2 of 2/);
    const under = (await layersIn(p, '#sk-pad svg')).filter((l) => !l.mine);
    assert.equal(under.length, 1, 'one layer already on the sheet');
    assert.deepEqual([under[0].round, under[0].strokes], [1, drawnA], "A's first layer, every stroke of it");
    assert.match(await p.locator('#sk-legend').innerText(), new RegExp(CAPTIONS[0]));
    assert.equal(await mine(p), 0, 'a new round starts with an empty layer');
    assert.equal(await p.getByLabel('Caption').inputValue(), '');

    // A path of arrows to the door, on top of A's drawing.
    await mouseStroke(p, wave(60, 720, 430, 590, 18));
    await touchStroke(p, cdp[1], [[395, 560], [435, 588], [400, 625]]);
    await eventually(async () => (await mine(p)) === 2, { message: 'B drew on top' });
    await p.getByLabel('Caption').fill(ON_TOP);
    await saved(p);
    const layers = await layersIn(p, '#sk-pad svg');
    assert.deepEqual(layers.map((l) => l.round), [1, 2]);
    assert.notEqual(layers[0].colour, layers[1].colour, 'each round has its own colour');
    await assertAccessible(p, 'participant (C-Sketch, drawing on top)');
    await assertNoHorizontalScroll(p, 'C-Sketch round 2 on a phone');
    await p.locator('#sk-pad').scrollIntoViewIfNeeded();
    await shot(p, 'participant-sketch-phone');

    // A draws on B's sheet too, then the session ends with the last round.
    const a = phones[0];
    await a.locator('#sk-pad svg').waitFor();
    assert.equal((await layersIn(a, '#sk-pad svg')).find((l) => !l.mine)?.strokes, 4, "B's layer on A's phone");
    // "You are here", beside the map.
    await mouseStroke(a, [...ring(300, 530, 40, 20)]);
    await eventually(async () => (await mine(a)) === 1, { message: 'A drew on top' });
    await saved(a);
    for (const ph of phones) await ph.getByRole('button', { name: 'Done', exact: true }).click();
  });

  await t.test('the reveal: every page shows the sheets as SVG, layer by layer, with captions', async () => {
    await board.locator('#br-sheets svg.sketch').nth(1).waitFor();
    const sheets = await board.locator('#br-sheets .sheet').count();
    assert.equal(sheets, 2);
    for (let i = 0; i < sheets; i++) {
      const layers = await layersIn(board, `#br-sheets .sheet >> nth=${i} >> svg.sketch`);
      assert.deepEqual(layers.map((l) => l.round), [1, 2], `sheet ${i + 1} has both layers, in round order`);
      assert.equal(new Set(layers.map((l) => l.colour)).size, 2, `sheet ${i + 1}: two colours`);
      assert.ok(layers.every((l) => l.strokes > 0));
    }
    const text = await bodyText(board);
    for (const c of [...CAPTIONS, ON_TOP]) assert.ok(text.includes(c), `the board shows the caption "${c}"`);
    // A's sheet: A's three strokes, then B's two on top.
    const a = await board.locator('#br-sheets .sheet', { hasText: CAPTIONS[0] });
    assert.deepEqual((await layersIn(a, 'svg.sketch')).map((l) => l.strokes), [drawnA, 2]);
    await shot(board, 'board-sketch-reveal-full');
    assert.ok(!/Guest/.test(await board.locator('#br-sheets').innerText()), 'no names on the sheets');
    await assertAccessible(board, 'board (C-Sketch reveal)');
    await shot(board, 'board-sketch-reveal', { fullPage: false });

    for (const [label, page] of [['facilitator', fac], ['phone A', phones[0]]]) {
      await page.locator('bw-reveal svg.sketch').nth(1).waitFor();
      assert.equal(await page.locator('bw-reveal svg.sketch g.layer').count(), 4, `${label}: 2 sheets × 2 layers`);
    }
    await assertAccessible(fac, 'facilitator (C-Sketch reveal)');
    await assertAccessible(phones[0], 'participant (C-Sketch reveal)');
    await assertNoHorizontalScroll(phones[0], 'C-Sketch reveal on a phone');
    assert.equal(await phones[0].evaluate((c) => localStorage.getItem(`brainwrite:sketch:${c}`), code), null, 'the draft is forgotten at the reveal');
  });

  await t.test('dot voting and results show each sketch over its sheet', async () => {
    await fac.getByRole('button', { name: 'Open voting', exact: true }).click();
    const p = phones[0];
    await p.locator('bw-ballot svg.sketch').first().waitFor();
    assert.equal(await p.locator('bw-ballot svg.sketch').count(), 4, 'every sketch on the ballot');
    await assertAccessible(p, 'participant (C-Sketch ballot)');
    await shot(p, 'participant-sketch-vote-phone');
    await fac.getByRole('button', { name: 'Close voting', exact: true }).click();
    await board.locator('#bres-list svg.sketch').first().waitFor();
    assert.equal(await board.locator('#bres-list svg.sketch').count(), 4);
    await assertAccessible(board, 'board (C-Sketch results)');
    await shot(board, 'board-sketch-results-desktop');
    await fac.locator('bw-cluster-board svg.sketch').first().waitFor();
    await assertAccessible(fac, 'facilitator (C-Sketch results and clusters)');
    await shot(fac, 'facilitator-sketch-results-desktop');
  });

  await t.test('no page logged an error', () => {
    assert.deepEqual(suite.pages.errors, []);
  });

});

test('a stroke whose ack was lost is resent once and not kept twice: the ack count reconciles', { timeout: 90_000 }, async () => {
  const base = suite.server.url;
  const local = new Pages(suite.browser);
  try {
    const room = await createRoomApi(base, { topic: 'Lost acks', method: 'c_sketch', round_seconds: 600 });
    const fac = await local.open('facilitator', DESKTOP);
    await fac.goto(room.facilitate_url);
    const a = await local.open('phone A', PHONE);
    const b = await local.open('phone B', PHONE);
    // Phone A's socket goes through the test: it can lose one ack and then the connection.
    const sent = [];
    let loseNextStrokeAck = false;
    await a.routeWebSocket(/\/ws\//, (ws) => {
      const srv = ws.connectToServer();
      ws.onMessage((m) => {
        sent.push(JSON.parse(m));
        srv.send(m);
      });
      srv.onMessage((m) => {
        const msg = JSON.parse(m);
        if (loseNextStrokeAck && msg.type === 'ack' && typeof msg.strokes === 'number') {
          loseNextStrokeAck = false;
          // The stroke landed, its ack never arrives, and the connection drops.
          ws.close({ code: 1012, reason: 'restart' });
          srv.close();
          return;
        }
        ws.send(m);
      });
    });
    for (const p of [a, b]) {
      await p.goto(`${base}/r/${room.code}`);
      await p.getByRole('button', { name: 'Join', exact: true }).click();
      await p.getByRole('heading', { name: /You're in/ }).waitFor();
    }
    await fac.getByRole('button', { name: 'Start', exact: true }).click();
    await a.locator('#sk-pad svg').waitFor();
    await mouseStroke(a, [[100, 100], [300, 300]]);
    await saved(a);
    loseNextStrokeAck = true;
    await mouseStroke(a, [[600, 100], [800, 300]]);
    // Reconnected, resumed, resent; the server then held the stroke twice and the page takes one back.
    await eventually(() => sent.filter((m) => m.type === 'join').length === 2, { message: 'a second join (resume)' });
    await eventually(() => sent.some((m, i) => m.type === 'undo' && i > sent.findLastIndex((x) => x.type === 'join')), { message: 'an undo for the duplicate' });
    await saved(a);
    const draws = sent.filter((m) => m.type === 'draw');
    assert.equal(draws.length, 3, 'two strokes, the second sent twice');
    assert.equal(draws[1].seq, draws[2].seq, 'the resend is the same message');
    assert.equal(await mine(a), 2);
    // What the server holds: without this device's copy, a reload shows the server's layer.
    await a.evaluate((c) => localStorage.removeItem(`brainwrite:sketch:${c}`), room.code);
    await a.reload();
    await a.locator('#sk-pad svg').waitFor();
    await eventually(async () => (await mine(a)) === 2, { message: 'the server holds two strokes, not three' });
    assert.deepEqual(local.errors, []);
  } finally {
    await local.close();
  }
});
