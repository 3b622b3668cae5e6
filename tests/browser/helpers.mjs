// Shared helpers for the browser tests: start the real server, drive Debian's Chromium
// through playwright-core, collect console errors, run axe-core, save screenshots.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { before, after } from 'node:test';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, '../..');
export const OUT = path.join(ROOT, 'tests/browser/out');
mkdirSync(OUT, { recursive: true });

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

export const PHONE = { viewport: { width: 360, height: 740 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
export const DESKTOP = { viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 };

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

// ---------- server ----------

/**
 * Start target/debug/brainwrite on an ephemeral port with no journal.
 * Builds it first with `cargo build` unless BRAINWRITE_BIN points at a binary or
 * BRAINWRITE_NO_BUILD is set (and the binary exists).
 */
export async function startServer({ args = ['--memory'], env = {}, bind = '127.0.0.1:0' } = {}) {
  let bin = process.env.BRAINWRITE_BIN;
  if (!bin) {
    // Cargo's own target directory, wherever CARGO_TARGET_DIR puts it.
    bin = path.join(process.env.CARGO_TARGET_DIR || path.join(ROOT, 'target'), 'debug/brainwrite');
    if (!process.env.BRAINWRITE_NO_BUILD || !existsSync(bin)) {
      const r = spawnSync('cargo', ['build', '--quiet', '--bin', 'brainwrite'], { cwd: ROOT, stdio: 'inherit' });
      if (r.status !== 0) throw new Error(`cargo build failed (${r.status})`);
    }
  }
  const child = spawn(bin, args, {
    cwd: ROOT,
    env: { ...process.env, BRAINWRITE_BIND: bind, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs = [];
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not say "listening on" in 30 s:\n${logs.join('')}`)), 30_000);
    const onData = (chunk) => {
      const text = chunk.toString();
      logs.push(text);
      // eslint-disable-next-line no-control-regex
      const m = /listening on (http:\/\/[^\s"',]+)/.exec(logs.join('').replace(/\x1b\[[0-9;]*m/g, ''));
      if (m) {
        clearTimeout(timer);
        resolve(m[1].replace(/\/$/, ''));
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (c) => logs.push(c.toString()));
    child.on('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code ?? sig}) before listening:\n${logs.join('')}`));
    });
  });
  child.removeAllListeners('exit');
  return {
    url,
    logs,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timedOut = await Promise.race([exited.then(() => false), sleep(5000).then(() => true)]);
      if (timedOut) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

/** POST /api/rooms from the test (for tests that are not about the home page). */
export async function createRoomApi(base, body) {
  const res = await fetch(`${base}/api/rooms`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const data = await res.json();
  if (res.status !== 201) throw new Error(`POST /api/rooms → ${res.status} ${JSON.stringify(data)}`);
  return data;
}

// ---------- browser ----------

export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
    timeout: 60_000,
  });
}

/**
 * Keeps every page of a test, with its console errors and page errors.
 * `open(name, contextOptions)` makes a fresh context (its own localStorage) and page.
 */
export class Pages {
  constructor(browser) {
    this.browser = browser;
    this.errors = [];
    this.contexts = [];
  }

  async open(name, options = DESKTOP) {
    const context = await this.browser.newContext(options);
    this.contexts.push(context);
    const page = await context.newPage();
    this.watch(page, name);
    return page;
  }

  watch(page, name) {
    page.on('console', (m) => {
      if (m.type() === 'error') this.errors.push(`${name}: console error: ${m.text()} (${m.location()?.url ?? ''})`);
    });
    page.on('pageerror', (e) => this.errors.push(`${name}: uncaught: ${e.message}`));
    page.on('requestfailed', (r) => {
      // A navigation away aborts in-flight requests: that is not an error of the page.
      if (r.failure()?.errorText !== 'net::ERR_ABORTED') this.errors.push(`${name}: request failed: ${r.url()} ${r.failure()?.errorText}`);
    });
  }

  async close() {
    for (const c of this.contexts) await c.close().catch(() => {});
  }
}

// ---------- checks ----------

/** Run axe-core in the page; returns the serious and critical violations. */
export async function axe(page, { exclude = [] } = {}) {
  // CSP forbids inline scripts, so axe goes in through the devtools protocol (evaluate),
  // which CSP does not govern. The page itself is not changed for the check.
  // Finish entrance animations first: a half-faded element is not the contrast people read.
  await page.evaluate(() =>
    Promise.all(
      document
        .getAnimations()
        .filter((a) => a.effect?.getComputedTiming().iterations !== Infinity)
        .map((a) => a.finished.catch(() => {})),
    ),
  );
  const loaded = await page.evaluate(() => typeof window.axe !== 'undefined');
  if (!loaded) await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async (exclude) => {
    const ctx = exclude.length ? { include: [document], exclude } : document;
    const r = await window.axe.run(ctx, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => `${n.target.join(' ')} — ${n.failureSummary?.split('\n').slice(0, 2).join(' ')}`),
    }));
  }, exclude);
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/** Fails with a readable list when axe finds anything serious or critical. */
export async function assertAccessible(page, label) {
  const bad = await axe(page);
  if (bad.length) {
    const lines = bad.map((v) => `  [${v.impact}] ${v.id}: ${v.help}\n${v.nodes.map((n) => `      ${n}`).join('\n')}`);
    throw new Error(`axe found ${bad.length} serious/critical violation(s) on ${label}:\n${lines.join('\n')}`);
  }
}

/** The page must not scroll sideways (phones at 360 px). */
export async function assertNoHorizontalScroll(page, label) {
  const { sw, cw } = await page.evaluate(() => ({
    sw: document.documentElement.scrollWidth,
    cw: document.documentElement.clientWidth,
  }));
  if (sw > cw + 1) throw new Error(`${label} scrolls sideways: scrollWidth ${sw} > ${cw}`);
}

export async function shot(page, name, { fullPage = true } = {}) {
  // Let transitions and the countdown settle so the picture is stable.
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.waitForTimeout(350);
  await page.screenshot({ path: path.join(OUT, `${name}.png`), fullPage, animations: 'disabled' });
}

/** Poll `fn` until it returns a truthy value (returned) or time runs out (throws). */
export async function eventually(fn, { timeout = 10_000, interval = 100, message = 'condition' } = {}) {
  const until = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > until) throw new Error(`timed out waiting for ${message}${last instanceof Error ? `: ${last.message}` : ''}`);
    await sleep(interval);
  }
}

/** Visible text of the page body. */
export function bodyText(page) {
  return page.evaluate(() => document.body.innerText);
}

/** The seconds shown by the role="timer" element (m:ss), or null. */
export async function timerSeconds(page) {
  const t = (await page.getByRole('timer').first().textContent())?.trim() ?? '';
  const m = /^(\d+):(\d\d)$/.exec(t);
  return m ? Number(m[1]) * 60 + Number(m[2]) : null;
}

/**
 * The usual setup of a test file, registered as its `before` and `after` hooks: a server
 * (`startServer(options)`), a browser and the `Pages` opened in it, all closed at the end.
 * The returned object holds them while the tests run: `suite.server.url`, `suite.pages`.
 */
export function browserSuite(options) {
  const suite = { server: null, browser: null, pages: null };
  before(async () => {
    suite.server = await startServer(options);
    suite.browser = await launchBrowser();
    suite.pages = new Pages(suite.browser);
  });
  after(async () => {
    await suite.pages?.close();
    await suite.browser?.close();
    await suite.server?.stop();
  });
  return suite;
}
