// Copy the screenshots worth showing from tests/browser/out/ (written by the browser tests)
// into docs/screenshots/. Run after `npm run test:browser`: `npm run screenshots`.

import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const from = path.join(root, 'tests/browser/out');
const to = path.join(root, 'docs/screenshots');

const PICKS = [
  'home-desktop.png', // create a session or join one
  'participant-round2-writing-phone.png', // a phone in round 2: the row on its sheet, its own ideas
  'participant-write-dark-phone.png', // the same in dark mode
  'facilitator-writing-desktop.png', // controls, countdown, counts only
  'board-lobby-desktop.png', // the projector: code and QR
  'board-reveal-desktop.png', // the projector: every idea
  'participant-build-on-phone.png', // round 2: an idea linked to the one it builds on
  'participant-vote-phone.png', // dot voting on a phone, a self-vote politely refused
  'facilitator-clusters-desktop.png', // clusters, merged repeat, exports, share and voting controls
  'board-clusters-desktop.png', // the projector after clustering: clusters, then every sheet
  'board-results-desktop.png', // the projector after the vote: ranked ideas
  'participant-writing-de-phone.png', // a phone in German: round 1, writing (tests/browser/i18n.test.mjs)
  'participant-writing-ar-phone.png', // the same phone in Arabic, right to left
  'participant-reveal-ar-phone.png', // every idea, in Arabic
  'participant-build-on-ar-phone.png', // round 2 in Arabic: building on a row, the arrow mirrored
  'participant-sketch-phone.png', // C-Sketch on a phone, round 2: the first layer, drawing on top in the next colour (sketch.test.mjs)
  'board-sketch-reveal.png', // C-Sketch on the projector: every sheet as SVG, layer by layer, with captions
  'report-desktop.png', // the printable report (tests/browser/report.test.mjs): chart, clusters, chains, sheets
  'report-sketch-desktop.png', // the report of a C-Sketch session: every sheet's drawing, layer by layer
  'home-methods-desktop.png', // the three methods at creation, the pool's presets (pool.test.mjs)
  'participant-pool-writing-phone.png', // a phone in a brainwriting pool: the session clock, swap
  'facilitator-pool-desktop.png', // the facilitator during a pool: the pool's counts, never text
];

mkdirSync(to, { recursive: true });
let missing = 0;
for (const name of PICKS) {
  const src = path.join(from, name);
  if (!existsSync(src)) {
    console.error(`missing ${src}: run npm run test:browser first`);
    missing += 1;
    continue;
  }
  copyFileSync(src, path.join(to, name));
  console.log(`docs/screenshots/${name}`);
}
process.exit(missing ? 1 : 0);
