// Static checks on web/ that need no browser: the rules the pages live by (no markup from
// strings, nothing inline that the Content-Security-Policy would block, every local file a
// page refers to exists, every import resolves).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './helpers.mjs';

const WEB = path.join(ROOT, 'web');

function files(dir, ext) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...files(p, ext));
    else if (p.endsWith(ext)) out.push(p);
  }
  return out;
}

const rel = (p) => path.relative(ROOT, p);

test('no script turns a string into markup', () => {
  for (const f of files(WEB, '.js')) {
    const code = readFileSync(f, 'utf8')
      .split('\n')
      .filter((l) => !/^\s*\/\//.test(l))
      .join('\n');
    for (const bad of ['innerHTML', 'outerHTML', 'insertAdjacentHTML', 'document.write', 'eval(', 'new Function']) {
      assert.ok(!code.includes(bad), `${rel(f)} uses ${bad}`);
    }
    assert.ok(!/setAttribute\(\s*['"](style|on\w+)['"]/.test(code), `${rel(f)} sets a style or event attribute`);
  }
});

test('pages have nothing inline that the CSP blocks, and every local reference exists', () => {
  for (const f of files(WEB, '.html')) {
    const html = readFileSync(f, 'utf8');
    assert.ok(!/<script(?![^>]*\bsrc=)[^>]*>/i.test(html), `${rel(f)} has an inline <script>`);
    assert.ok(!/<style[\s>]/i.test(html), `${rel(f)} has a <style> block`);
    assert.ok(!/\sstyle\s*=/i.test(html), `${rel(f)} has a style="" attribute`);
    assert.ok(!/\son[a-z]+\s*=/i.test(html), `${rel(f)} has an inline event handler`);
    assert.ok(!/(src|href)="(https?:)?\/\/[^"]*"/i.test(html), `${rel(f)} loads something from another site`);
    for (const [, url] of html.matchAll(/(?:src|href)="(\/[^"#?]*)"/g)) {
      if (url === '/') continue;
      assert.ok(existsSync(path.join(WEB, url)), `${rel(f)} refers to ${url}, which is not in web/`);
    }
    assert.match(html, /<html lang="en">/, `${rel(f)} declares its language`);
    assert.match(html, /name="viewport"/, `${rel(f)} has a viewport`);
  }
});

test('every module import resolves to a file in web/', () => {
  for (const f of files(WEB, '.js')) {
    const code = readFileSync(f, 'utf8');
    for (const [, spec] of code.matchAll(/^\s*import\s[^'"]*['"]([^'"]+)['"]/gm)) {
      // Modules resolve against their own URL (/lib/x.js → ./y.js is /lib/y.js); a bare
      // specifier would need an import map, which a no-build site does not have.
      assert.ok(/^(\/|\.\.?\/)/.test(spec), `${rel(f)} imports ${spec}: use a path`);
      const target = spec.startsWith('/') ? path.join(WEB, spec) : path.resolve(path.dirname(f), spec);
      assert.ok(target.startsWith(WEB) && existsSync(target), `${rel(f)} imports ${spec}, which does not exist in web/`);
    }
  }
});
