// How web/ is put together (docs/architecture-web.md), checked without a browser: page
// scripts stay small because the parts they share live in components, and the reveal is
// drawn by one component on every page.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './helpers.mjs';

const WEB = path.join(ROOT, 'web');
const MAX_PAGE_LINES = 400;

test(`no page script (web/*.js) is over ${MAX_PAGE_LINES} lines`, () => {
  const pages = readdirSync(WEB).filter((n) => n.endsWith('.js'));
  assert.ok(pages.length >= 4, `found the page scripts: ${pages.join(', ')}`);
  for (const name of pages) {
    const lines = readFileSync(path.join(WEB, name), 'utf8').replace(/\n$/, '').split('\n').length;
    assert.ok(lines <= MAX_PAGE_LINES, `web/${name} has ${lines} lines (at most ${MAX_PAGE_LINES}): move a part into a module under web/lib/ or web/<page>/`);
  }
});

test('participant, facilitator and board show the reveal with the one <bw-reveal> component', () => {
  for (const page of ['participant', 'facilitator', 'board']) {
    const html = readFileSync(path.join(WEB, `${page}.html`), 'utf8');
    const js = readFileSync(path.join(WEB, `${page}.js`), 'utf8');
    assert.match(html, /<bw-reveal[\s>]/, `web/${page}.html has a <bw-reveal>`);
    assert.match(js, /^import '\/lib\/reveal\.js';$/m, `web/${page}.js imports /lib/reveal.js`);
  }
  // The sheets of a reveal are drawn in one place: the component.
  const drawers = [];
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (p.endsWith('.js') && !p.endsWith(path.join('lib', 'ui.js')) && /\b(revealGrid|presentedSheets)\(/.test(readFileSync(p, 'utf8'))) {
        drawers.push(path.relative(ROOT, p));
      }
    }
  };
  walk(WEB);
  assert.deepEqual(drawers, ['web/lib/reveal.js']);
});

test('every component file defines one custom element', () => {
  const dirs = ['lib', 'facilitator', 'participant'].map((d) => path.join(WEB, d));
  for (const dir of dirs) {
    for (const name of readdirSync(dir).filter((n) => n.endsWith('.js'))) {
      const code = readFileSync(path.join(dir, name), 'utf8');
      const defines = [...code.matchAll(/customElements\.define\('([a-z]+-[a-z-]+)'/g)].map((m) => m[1]);
      assert.ok(defines.length <= 1, `${path.relative(ROOT, path.join(dir, name))} defines ${defines.join(', ')}: one element per file`);
    }
  }
});
