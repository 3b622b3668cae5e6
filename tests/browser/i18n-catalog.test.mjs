// The catalogs of web/i18n/ (docs/i18n.md), checked without a browser: every language has
// every key of English and no other, each key keeps English's {placeholders}, plurals have
// every form their language needs, every key is used somewhere in web/ and every key web/
// uses exists, and every error and close code of src/protocol.rs has words.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from './helpers.mjs';

const WEB = path.join(ROOT, 'web');
const LANGS = ['en', 'de', 'fr', 'es', 'ar'];

async function loadCatalogs() {
  const out = {};
  for (const lang of LANGS) out[lang] = (await import(pathToFileURL(path.join(WEB, 'i18n', `${lang}.js`)).href)).default;
  return out;
}

/** Every source file of web/ but the catalogs, concatenated. */
function webSource() {
  const parts = [];
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (p !== path.join(WEB, 'i18n')) walk(p);
      } else if (/\.(js|html)$/.test(e.name)) parts.push(readFileSync(p, 'utf8'));
    }
  };
  walk(WEB);
  return parts.join('\n');
}

const placeholders = (value) =>
  [...new Set((typeof value === 'object' ? Object.values(value) : [value]).flatMap((v) => [...String(v).matchAll(/\{(\w+)\}/g)].map((m) => m[1])))].sort();

/** Everything wrong with a set of catalogs against English and the source that uses them. */
export function problems(catalogs, source) {
  const out = [];
  const en = catalogs.en;
  for (const [lang, cat] of Object.entries(catalogs)) {
    // The forms whole counts up to a thousand take (French and Spanish "many" is for millions).
    const rules = new Intl.PluralRules(lang);
    const forms = new Set(Array.from({ length: 1001 }, (_, n) => rules.select(n)));
    for (const key of Object.keys(en)) {
      if (!Object.hasOwn(cat, key)) {
        out.push(`${lang}: missing key ${key}`);
        continue;
      }
      const a = placeholders(en[key]);
      const b = placeholders(cat[key]);
      if (a.join() !== b.join()) out.push(`${lang}: ${key} has placeholders {${b.join('}{')}}, English has {${a.join('}{')}}`);
      if ((typeof en[key] === 'object') !== (typeof cat[key] === 'object')) out.push(`${lang}: ${key} is ${typeof en[key] === 'object' ? '' : 'not '}a plural in English`);
      else if (typeof cat[key] === 'object') {
        for (const f of forms) if (typeof cat[key][f] !== 'string') out.push(`${lang}: plural ${key} lacks the form "${f}"`);
      } else if (typeof cat[key] !== 'string' || !cat[key].trim()) out.push(`${lang}: ${key} is empty`);
    }
    for (const key of Object.keys(cat)) if (!Object.hasOwn(en, key)) out.push(`${lang}: key ${key} is not in English`);
  }
  for (const key of Object.keys(en)) {
    const quoted = new RegExp(`['"\`:]${key.replace(/\./g, '\\.')}['"\`;]`);
    if (!quoted.test(source)) out.push(`unused key ${key}`);
  }
  const used = [
    ...[...source.matchAll(/\bt\(\s*'([\w.]+)'/g)].map((m) => m[1]),
    ...[...source.matchAll(/data-i18n="([\w.]+)"/g)].map((m) => m[1]),
    ...[...source.matchAll(/data-i18n-attr="([^"]+)"/g)].flatMap((m) => m[1].split(';').map((p) => p.split(':')[1]?.trim())),
  ];
  for (const key of new Set(used)) if (key && !Object.hasOwn(en, key)) out.push(`web/ uses ${key}, which no catalog has`);
  return out;
}

test('every catalog has every key, the same placeholders and every plural form; every key is used', async () => {
  const found = problems(await loadCatalogs(), webSource());
  assert.deepEqual(found, [], found.join('\n'));
});

test('the check itself catches a missing key, an unused key and a changed placeholder', () => {
  const en = { 'a.b': 'Hello {name}', 'a.c': { one: '{n} idea', other: '{n} ideas' }, 'a.d': 'unused' };
  const de = { 'a.b': 'Hallo {nom}', 'a.c': { one: '{n} Idee' } };
  const found = problems({ en, de }, "t('a.b'); t('a.c'); t('a.x')");
  assert.ok(found.includes('de: missing key a.d'), found.join('\n'));
  assert.ok(found.some((p) => p.startsWith('de: a.b has placeholders {nom}')), found.join('\n'));
  assert.ok(found.includes('de: plural a.c lacks the form "other"'), found.join('\n'));
  assert.ok(found.includes('unused key a.d'), found.join('\n'));
  assert.ok(found.includes('web/ uses a.x, which no catalog has'), found.join('\n'));
});

test('every ErrorCode and close code of src/protocol.rs has words, and state.js maps it', async () => {
  const { en } = await loadCatalogs();
  const rust = readFileSync(path.join(ROOT, 'src/protocol.rs'), 'utf8');
  const state = readFileSync(path.join(WEB, 'lib/state.js'), 'utf8');
  const body = /pub enum ErrorCode \{([\s\S]*?)\n\}/.exec(rust)[1];
  const codes = [...body.matchAll(/^\s{4}([A-Z]\w*),?$/gm)].map((m) => m[1].replace(/(?<=[a-z])([A-Z])/g, '_$1').toLowerCase());
  assert.ok(codes.length >= 23 && codes.includes('rate_limited') && codes.includes('unavailable'), codes.join());
  for (const code of codes) {
    assert.ok(Object.hasOwn(en, `error.${code}`), `no words for error code ${code}`);
    assert.match(state, new RegExp(`\\b${code}: 'error\\.${code}'`), `state.js errorText() does not map ${code}`);
  }
  const close = /pub mod close \{([\s\S]*?)\n\}/.exec(rust)[1];
  const numbers = [...close.matchAll(/pub const [A-Z_]+: u16 = (\d+);/g)].map((m) => m[1]);
  assert.ok(numbers.length >= 12, numbers.join());
  for (const n of numbers) {
    assert.ok(Object.hasOwn(en, `close.${n}`), `no words for close code ${n}`);
    assert.match(state, new RegExp(`\\b${n}: 'close\\.${n}'`), `state.js closeText() does not map ${n}`);
  }
});

test('every piece of text in the static pages comes from the catalog', () => {
  for (const name of readdirSync(WEB).filter((n) => n.endsWith('.html'))) {
    const html = readFileSync(path.join(WEB, name), 'utf8').replace(/<(script|style)[\s\S]*?<\/\1>/g, '');
    // Text between tags, on an element without data-i18n: only the brand, symbols and digits may be there.
    for (const m of html.matchAll(/<([a-z0-9-]+)((?:\s[^>]*)?)>([^<]+)</g)) {
      const [, tag, attrs, text] = m;
      if (!/\p{L}{2,}/u.test(text) || /data-i18n=/.test(attrs) || tag === 'option' || text.trim() === 'brainwrite') continue;
      assert.fail(`web/${name}: <${tag}> says "${text.trim()}" without data-i18n`);
    }
    for (const m of html.matchAll(/\s(placeholder|aria-label|alt|title|content)="([^"]*\p{L}{2,}[^"]*)"/gu)) {
      const around = html.slice(html.lastIndexOf('<', m.index), html.indexOf('>', m.index));
      if ((m[1] === 'content' && !/name="description"/.test(around)) || /^[0-9A-Z-]+$/.test(m[2]) || m[2] === 'brainwrite') continue; // a room code, the brand
      assert.match(around, new RegExp(`data-i18n-attr="[^"]*${m[1]}:`), `web/${name}: ${m[1]}="${m[2]}" without data-i18n-attr`);
    }
  }
});
