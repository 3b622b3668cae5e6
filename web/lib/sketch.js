// C-Sketch (docs/protocol.md, "Methods"): sketches as SVG, and <bw-sketch-pad>, the pad a
// participant draws on.
//
// A sketch is a list of strokes; a stroke is a flat array of integer coordinates
// [x0, y0, x1, y1, …] on a 1000 × 750 canvas, 1 to 500 points (one point is a dot). Each round's
// row on a sheet is a layer, drawn in the colour of its round (PALETTE), in round order.
//
//   sketchSvg(layers, { label, draft })  an <svg> of layers [{ round, strokes, faded? }]
//   sheetSketch(sheet)                   a sheet's sketch with its captions under it (reveal)
//   ideaFigure(idea, { sheets, index })  one idea's layer over its sheet's earlier layers, faded,
//                                        with its caption (results, ballot, clusters)
//
//   <bw-sketch-pad></bw-sketch-pad>
// update({ under, round, strokes, locked }) shows the layers already on the sheet (`under`),
// then the person's own strokes in the colour of `round`. Pointer events (mouse, pen, touch)
// draw; when the pointer lifts the pad fires a bubbling `stroke` event with detail
// { strokes: [[…], …] } (one stroke, or a long one split into parts of at most 500 points),
// already simplified and within what the layer has left (LIMITS). It does not keep the strokes:
// the page owns the draft and hands it back through update(). A press while the layer is full
// fires `full` instead.
//
// Simplification is written here (about 30 lines) rather than taken from a library: points
// closer than MIN_STEP units to the last one kept are dropped while drawing, then
// Ramer–Douglas–Peucker with EPSILON units on lift; web/ has no dependencies and no build step.

import { h } from './dom.js';
import { t } from './i18n.js';

export const WIDTH = 1000;
export const HEIGHT = 750;
/** The server's limits per layer (docs/protocol.md). */
export const LIMITS = Object.freeze({ strokes: 100, points: 4096, strokePoints: 500 });
/** Colour of each round's layer: distinct hues, each at least 3:1 against the white paper. */
export const PALETTE = Object.freeze(['#1d4ed8', '#c2410c', '#15803d', '#7e22ce', '#be123c', '#0f766e', '#334155', '#a16207', '#a21caf', '#4d7c0f', '#1e3a8a', '#7c2d12']);
const LINE = 8; // stroke width, in canvas units
const MIN_STEP = 3;
const EPSILON = 1.5;
const NS = 'http://www.w3.org/2000/svg';

export function layerColour(round) {
  const r = Math.max(1, Math.floor(Number(round) || 1));
  return PALETTE[(r - 1) % PALETTE.length];
}

/** An SVG element (attributes only: no markup from strings). */
function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined && v !== false) el.setAttribute(k, String(v));
  for (const c of children.flat()) if (c) el.append(c);
  return el;
}

/** A stroke's points, validated: an even number of finite coordinates on the canvas. */
export function cleanStroke(points) {
  if (!Array.isArray(points) || points.length < 2 || points.length % 2) return null;
  const out = new Array(points.length);
  for (let i = 0; i < points.length; i++) {
    const v = Number(points[i]);
    if (!Number.isFinite(v)) return null;
    out[i] = clamp(Math.round(v), 0, i % 2 ? HEIGHT : WIDTH);
  }
  return out;
}

/** The strokes of a sketch as the wire has them, without anything malformed. */
export function cleanSketch(strokes) {
  return Array.isArray(strokes) ? strokes.map(cleanStroke).filter(Boolean) : [];
}

function strokeNode(points) {
  if (points.length === 2) return s('circle', { cx: points[0], cy: points[1], r: LINE * 0.75, stroke: 'none', fill: 'currentColor' });
  const pairs = [];
  for (let i = 0; i < points.length; i += 2) pairs.push(`${points[i]},${points[i + 1]}`);
  return s('polyline', { points: pairs.join(' ') });
}

/** One layer: a <g> in its round's colour. */
export function layerNode(round, strokes, { faded = false, className = 'layer' } = {}) {
  const colour = layerColour(round);
  return s(
    'g',
    {
      class: faded ? `${className} layer-faded` : className,
      'data-round': round,
      stroke: colour,
      color: colour,
      fill: 'none',
      'stroke-width': LINE,
      'stroke-linecap': 'round',
      'stroke-linejoin': 'round',
      opacity: faded ? 0.3 : null,
    },
    cleanSketch(strokes).map(strokeNode),
  );
}

/** The <svg> of some layers ([{ round, strokes, faded }]), in the order given. */
export function sketchSvg(layers, { label = null, className = 'sketch' } = {}) {
  return s(
    'svg',
    { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: className, role: 'img', 'aria-label': label, focusable: 'false' },
    s('rect', { class: 'sketch-paper', width: WIDTH, height: HEIGHT, fill: '#ffffff' }),
    (layers || []).map((l) => layerNode(l.round, l.strokes, { faded: l.faded })),
  );
}

/** An idea with a sketch (the wire's `sketch` beside `text`). */
export function hasSketch(idea) {
  return Array.isArray(idea?.sketch);
}

/** A sheet of C-Sketch: one of its ideas has a sketch. */
export function isSketchSheet(sheet) {
  return (sheet?.rows || []).some((r) => (r.ideas || []).some(hasSketch));
}

/** The layers of a sheet's rows, in round order: [{ round, strokes, caption, id }]. */
export function sheetLayers(rows) {
  const out = [];
  (rows || []).forEach((r, i) => {
    for (const idea of r.ideas || []) {
      if (hasSketch(idea)) out.push({ round: r.round ?? i + 1, strokes: idea.sketch, caption: idea.text ?? '', id: idea.id });
    }
  });
  return out.sort((a, b) => a.round - b.round);
}

/** A colour swatch for a round, as a small SVG (the legend's key). */
export function swatch(round) {
  return s('svg', { class: 'swatch', viewBox: '0 0 16 16', width: 16, height: 16, 'aria-hidden': 'true', focusable: 'false' }, s('circle', { cx: 8, cy: 8, r: 7, fill: layerColour(round) }));
}

/** The captions of some layers, each with its round's colour. */
export function legend(layers) {
  return h(
    'ol',
    { class: 'sketch-legend' },
    layers.map((l) =>
      h(
        'li',
        { class: 'sketch-layer', dataset: { idea: l.id ?? '', round: String(l.round) } },
        swatch(l.round),
        h('span', { class: 'sketch-layer-name' }, t('sketch.layer', { round: l.round })),
        l.caption?.trim() ? h('span', { class: 'sketch-caption' }, l.caption) : h('span', { class: 'sketch-caption muted' }, t('sketch.noCaption')),
      ),
    ),
  );
}

/** A sheet's sketch for the reveal: every layer, then the captions under it. */
export function sheetSketch(sheet) {
  const layers = sheetLayers(sheet.rows);
  return h(
    'figure',
    { class: 'sketch-sheet' },
    sketchSvg(layers, { label: t('sketch.img', { n: layers.length }) }),
    h('figcaption', null, legend(layers)),
  );
}

/** What names an idea in a list or a menu: its text, or for a sketch without a caption, its round. */
export function ideaName(idea, round = null) {
  if (!hasSketch(idea) || idea.text?.trim()) return idea?.text ?? '';
  return t('sketch.untitled', { round: round ?? (idea.row ?? 0) + 1 });
}

/**
 * One idea's sketch: its layer in its colour over the earlier layers of its sheet, faded (when
 * `sheets` and `index` – ideaIndex() of them – say where it is), and its caption. Null if the
 * idea has no sketch.
 */
export function ideaFigure(idea, { sheets = null, index = null } = {}) {
  if (!hasSketch(idea)) return null;
  const at = index?.get(idea.id) ?? idea;
  const sheet = sheets && Number.isInteger(at.sheetIndex) ? sheets[at.sheetIndex] : null;
  const rows = sheet?.rows || [];
  const round = rows[at.row]?.round ?? (Number.isInteger(at.row) ? at.row + 1 : 1);
  const below = sheetLayers(rows.slice(0, Number.isInteger(at.row) ? at.row : 0)).map((l) => ({ ...l, faded: true }));
  return h(
    'figure',
    { class: 'sketch-idea' },
    sketchSvg([...below, { round, strokes: idea.sketch }], { label: t('sketch.untitled', { round }), className: 'sketch sketch-thumb' }),
    idea.text?.trim() ? h('figcaption', { class: 'sketch-caption' }, idea.text) : null,
  );
}

// ---------- simplification and limits ----------

function clamp(v, lo, hi) {
  return v < lo ? lo : v > hi ? hi : v;
}

/** Ramer–Douglas–Peucker over a flat [x, y, …] array, iteratively; keeps the ends. */
export function simplify(points, epsilon = EPSILON) {
  const n = points.length / 2;
  if (n <= 2) return points.slice();
  const keep = new Uint8Array(n);
  keep[0] = keep[n - 1] = 1;
  const stack = [[0, n - 1]];
  while (stack.length) {
    const [a, b] = stack.pop();
    const ax = points[2 * a], ay = points[2 * a + 1];
    const dx = points[2 * b] - ax, dy = points[2 * b + 1] - ay;
    const len = Math.hypot(dx, dy);
    let far = -1;
    let best = epsilon;
    for (let i = a + 1; i < b; i++) {
      const px = points[2 * i] - ax, py = points[2 * i + 1] - ay;
      const d = len ? Math.abs(dx * py - dy * px) / len : Math.hypot(px, py);
      if (d > best) {
        best = d;
        far = i;
      }
    }
    if (far >= 0) {
      keep[far] = 1;
      stack.push([a, far], [far, b]);
    }
  }
  const out = [];
  for (let i = 0; i < n; i++) if (keep[i]) out.push(points[2 * i], points[2 * i + 1]);
  return out;
}

/** A stroke longer than `max` points as consecutive parts that share their joints. */
export function splitStroke(points, max = LIMITS.strokePoints) {
  if (points.length / 2 <= max) return [points];
  const parts = [];
  for (let start = 0; start < points.length / 2 - 1; start += max - 1) parts.push(points.slice(2 * start, 2 * Math.min(start + max, points.length / 2)));
  return parts;
}

/** What a layer of `strokes` has left: { strokes, points, full }. */
export function budget(strokes) {
  const used = (strokes || []).reduce((n, st) => n + st.length / 2, 0);
  const left = { strokes: LIMITS.strokes - (strokes || []).length, points: LIMITS.points - used };
  return { ...left, full: left.strokes <= 0 || left.points <= 0 };
}

/** The stroke just drawn, fitted into what the layer has left: a list of strokes (maybe empty). */
export function fitStroke(points, strokes) {
  const room = budget(strokes);
  if (room.full) return [];
  const out = [];
  let left = room.points;
  for (const part of splitStroke(simplify(points)).slice(0, room.strokes)) {
    if (left <= 0) break;
    const take = part.slice(0, 2 * left);
    out.push(take);
    left -= take.length / 2;
  }
  return out;
}

// ---------- the pad ----------

export class SketchPad extends HTMLElement {
  #svg = null;
  #under = null; // <g> of the layers already on the sheet
  #mine = null; // <g> of the person's strokes
  #liveLayer = null; // <g> of the stroke being drawn, apart from #mine, which redraws
  #live = null; // the stroke being drawn
  #keys = { under: null, round: null, strokes: null };
  #strokes = [];
  #locked = false;
  #pointer = null; // the pointer drawing: { id, matrix, points }

  connectedCallback() {
    if (this.#svg) return;
    this.#svg = s('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: 'sketch sketch-pad', role: 'img', focusable: 'false', 'aria-label': t('sketch.pad') });
    this.#svg.append(s('rect', { class: 'sketch-paper', width: WIDTH, height: HEIGHT, fill: '#ffffff' }));
    this.#under = s('g', { class: 'under' });
    this.#mine = s('g', { class: 'mine' });
    this.#liveLayer = s('g', { class: 'live' });
    this.#svg.append(this.#under, this.#mine, this.#liveLayer);
    this.append(this.#svg);
    const svg = this.#svg;
    svg.addEventListener('pointerdown', this.#down);
    svg.addEventListener('pointermove', this.#move);
    svg.addEventListener('pointerup', this.#up);
    svg.addEventListener('pointercancel', this.#up);
    svg.addEventListener('lostpointercapture', this.#up);
    svg.addEventListener('contextmenu', (ev) => ev.preventDefault());
  }

  /** The strokes being shown as the person's own (as last handed in). */
  get strokes() {
    return this.#strokes;
  }

  get drawing() {
    return !!this.#pointer;
  }

  update({ under = [], round = 1, strokes = [], locked = false }) {
    this.connectedCallback();
    let drew = false;
    if (under !== this.#keys.under) {
      this.#keys.under = under;
      this.#under.replaceChildren(...under.map((l) => layerNode(l.round, l.strokes)));
      drew = true;
    }
    if (strokes !== this.#keys.strokes || round !== this.#keys.round) {
      this.#keys.strokes = strokes;
      this.#keys.round = round;
      this.#strokes = strokes;
      this.#mine.replaceChildren(layerNode(round, strokes, { className: 'layer layer-mine' }));
      drew = true;
    }
    this.#locked = !!locked;
    this.classList.toggle('locked', this.#locked);
    if (this.#locked && this.#pointer) this.#finish(false);
    return drew;
  }

  #point(ev) {
    const { matrix, points } = this.#pointer;
    const x = clamp(Math.round(matrix.a * ev.clientX + matrix.c * ev.clientY + matrix.e), 0, WIDTH);
    const y = clamp(Math.round(matrix.b * ev.clientX + matrix.d * ev.clientY + matrix.f), 0, HEIGHT);
    const n = points.length;
    if (n && Math.hypot(x - points[n - 2], y - points[n - 1]) < MIN_STEP) return false;
    points.push(x, y);
    return true;
  }

  #drawLive() {
    const { points } = this.#pointer;
    if (!this.#live) {
      this.#live = layerNode(this.#keys.round, [], { className: 'layer-live' });
      this.#liveLayer.append(this.#live);
    }
    this.#live.replaceChildren(strokeNode(points));
  }

  #down = (ev) => {
    if (this.#locked || this.#pointer || (ev.pointerType === 'mouse' && ev.button !== 0)) return;
    ev.preventDefault();
    if (budget(this.#strokes).full) {
      this.dispatchEvent(new CustomEvent('full', { bubbles: true }));
      return;
    }
    const ctm = this.#svg.getScreenCTM();
    if (!ctm) return;
    try {
      this.#svg.setPointerCapture(ev.pointerId);
    } catch {
      /* a pointer that is already gone */
    }
    this.#pointer = { id: ev.pointerId, matrix: ctm.inverse(), points: [] };
    this.#point(ev);
    this.#drawLive();
  };

  #move = (ev) => {
    if (ev.pointerId !== this.#pointer?.id) return;
    ev.preventDefault();
    let changed = false;
    // The points the browser coalesced into this event (none for a synthetic one).
    const all = ev.getCoalescedEvents?.();
    for (const e of all?.length ? all : [ev]) changed = this.#point(e) || changed;
    if (changed) this.#drawLive();
  };

  #up = (ev) => {
    if (ev.pointerId !== this.#pointer?.id) return;
    if (ev.type === 'pointerup') this.#point(ev);
    this.#finish(true);
  };

  #finish(keep) {
    const { id, points } = this.#pointer;
    this.#pointer = null;
    if (this.#svg.hasPointerCapture?.(id)) this.#svg.releasePointerCapture(id);
    this.#live?.remove();
    this.#live = null;
    if (!keep || !points.length) return;
    const strokes = fitStroke(points, this.#strokes);
    if (strokes.length) this.dispatchEvent(new CustomEvent('stroke', { bubbles: true, detail: { strokes } }));
  }
}

customElements.define('bw-sketch-pad', SketchPad);
