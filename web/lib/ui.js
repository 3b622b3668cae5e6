// Small pieces of UI shared by the pages: the connection banner, toasts, sheet rendering,
// copy-to-clipboard. All user text goes in through h() as Text nodes.

import { h, replace } from './dom.js';
import { t } from './i18n.js';
import { closeText } from './state.js';
import { hasSketch, isSketchSheet, sheetSketch, ideaFigure, ideaName } from './sketch.js';

const CONN_TEXT = {
  connecting: 'conn.connecting',
  reconnecting: 'conn.reconnecting',
  offline: 'conn.offline',
};

/**
 * Reflect a Connection's status in the banner #conn (role=status) and on <body data-conn>.
 * 'connecting' is shown only if it takes longer than a moment, so a fast page never flickers.
 */
export function connectionBanner(el) {
  let timer = null;
  return (status, info = {}) => {
    document.body.dataset.conn = status;
    clearTimeout(timer);
    const why = status === 'reconnecting' ? closeText(info.closeCode) : '';
    const text = CONN_TEXT[status] ? [t(CONN_TEXT[status]), why].filter(Boolean).join(' ') : null;
    const show = () => {
      el.dataset.state = status;
      replace(el, h('span', { class: 'conn-dot', 'aria-hidden': 'true' }), h('span', null, text));
      el.hidden = false;
    };
    if (!text) {
      el.hidden = true;
      el.replaceChildren();
    } else if (status === 'connecting') {
      timer = setTimeout(show, 700);
    } else {
      show();
    }
  };
}

/**
 * Keep --topbar-h on <html> equal to the sticky header's height (it grows while the
 * connection banner shows), so things that stick below it never slide under it.
 */
export function trackTopbarHeight() {
  const bar = document.querySelector('.topbar');
  if (!bar || typeof ResizeObserver === 'undefined') return;
  const set = () => document.documentElement.style.setProperty('--topbar-h', `${bar.offsetHeight}px`);
  new ResizeObserver(set).observe(bar);
  set();
}

/** A transient message in #toasts (an aria-live region). kind: 'info' | 'error' | 'ok'. */
export function toast(text, kind = 'info', ms = 6000) {
  const host = document.getElementById('toasts');
  if (!host) return;
  const item = h(
    'div',
    { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : 'status' },
    h('span', null, text),
    h('button', { class: 'toast-close', type: 'button', 'aria-label': t('ui.dismiss'), on: { click: () => item.remove() } }, '×'),
  );
  host.append(item);
  setTimeout(() => item.remove(), ms);
}

/**
 * "↳ builds on: <text of the earlier idea>" under an idea that builds on another, or null.
 * `index` maps idea ids to ideas ({ text }); an unknown id (not on this page) says so plainly.
 */
export function buildsOnLine(idea, index) {
  if (!idea?.builds_on) return null;
  const target = index?.get(idea.builds_on);
  return h(
    'p',
    { class: 'builds-on' },
    h('span', { class: 'builds-on-arrow', 'aria-hidden': 'true' }, '↳'),
    h('span', { class: 'builds-on-label' }, t('ui.buildsOn')),
    target ? h('q', null, target.text) : t('ui.earlierIdea'),
  );
}

/** idea id → idea for the rows of one sheet. */
export function rowsIndex(rows) {
  const m = new Map();
  for (const r of rows || []) for (const i of r.ideas || []) m.set(i.id, i);
  return m;
}

/**
 * The rows of a sheet as a read-only list (no authors: rows are labelled by round).
 * Options: `index` (idea id → idea, for build-on chains; defaults to this sheet's ideas),
 * `action(idea, textId)` (an extra control after each idea, e.g. "Build on this"; `textId` is
 * the id of the element holding the idea's text, to name or describe the control by).
 */
let rowsListCount = 0;
export function rowsList(rows, { index = null, action = null } = {}) {
  const idx = index || rowsIndex(rows);
  const list = ++rowsListCount;
  let n = 0;
  return h(
    'ol',
    { class: 'rows' },
    (rows || []).map((row, i) =>
      h(
        'li',
        { class: 'row' },
        h('p', { class: 'row-label' }, t('ui.row', { i: i + 1 })),
        h(
          'ul',
          { class: 'ideas' },
          (row.ideas || []).map((idea) => {
            const textId = action ? `it-${list}-${n++}` : null;
            return h(
              'li',
              { class: idea.builds_on ? 'idea idea-linked' : 'idea', dataset: { idea: idea.id } },
              h('span', { class: 'idea-text', id: textId }, idea.text),
              buildsOnLine(idea, idx),
              action ? action(idea, textId) : null,
            );
          }),
        ),
      ),
    ),
  );
}

/** One sheet as a card: "Sheet 3 · 7 ideas" and its rows. */
export function sheetCard(sheet, index, { headingLevel = 3, idPrefix = 'sheet-h', badge = null, className = '' } = {}) {
  const ideas = (sheet.rows || []).reduce((n, r) => n + (r.ideas || []).length, 0);
  const hid = `${idPrefix}-${index}`;
  return h(
    'article',
    { class: `sheet ${className}`.trim(), 'aria-labelledby': hid, dataset: { sheet: sheet.id ?? '' } },
    h(
      'header',
      { class: 'sheet-head' },
      h(`h${headingLevel}`, { id: hid, class: 'sheet-title' }, t('ui.sheet', { i: index + 1 })),
      badge,
      h('span', { class: 'sheet-count' }, t('n.ideas', { n: ideas })),
    ),
    ideas ? (isSketchSheet(sheet) ? sheetSketch(sheet) : rowsList(sheet.rows)) : h('p', { class: 'muted' }, t('ui.noIdeasSheet')),
  );
}

/** Every sheet in a responsive grid. `badgeFor(sheet)` may add a chip to a sheet's header. */
export function revealGrid(sheets, opts = {}) {
  const { badgeFor = null, ...rest } = opts;
  return h('div', { class: 'sheets' }, (sheets || []).map((s, i) => sheetCard(s, i, { ...rest, badge: badgeFor ? badgeFor(s, i) : null })));
}

/**
 * What a shared screen shows after the rounds: the sheet being presented, large, or every
 * sheet. `presenting` is a sheet id or null (docs/protocol.md, "Share").
 */
export function presentedSheets(sheets, presenting, { headingLevel = 2, idPrefix = 'sheet-h' } = {}) {
  const i = presenting ? (sheets || []).findIndex((s) => s.id === presenting) : -1;
  if (i < 0) return { label: null, node: revealGrid(sheets, { headingLevel, idPrefix }) };
  return {
    label: t('ui.sheetOf', { i: i + 1, n: sheets.length }),
    node: h('div', { class: 'presenting' }, sheetCard(sheets[i], i, { headingLevel, idPrefix, className: 'sheet-large' })),
  };
}

/** The ranked results of a vote: rank, votes, text. Ties share a rank. */
export function resultsList(results, { index = null, sheets = null } = {}) {
  if (!results?.length) return h('p', { class: 'muted' }, t('ui.noVotes'));
  return h(
    'ol',
    { class: 'results' },
    results.map((r) =>
      h(
        'li',
        { class: `result${r.votes ? '' : ' result-none'}${r.votes && r.rank <= 3 ? ' result-top' : ''}`, dataset: { idea: r.id } },
        h('span', { class: 'rank' }, h('span', { class: 'visually-hidden' }, t('ui.rank')), String(r.rank)),
        h(hasSketch(r) ? 'div' : 'span', { class: 'result-text' }, hasSketch(r) ? ideaFigure(r, { sheets, index }) : r.text, index ? buildsOnLine(index.get(r.id), index) : null),
        h('span', { class: 'result-votes' }, t('n.votes', { n: r.votes ?? 0 })),
      ),
    ),
  );
}

/**
 * Read-only clusters: each named cluster with its ideas; merged duplicates are listed under
 * the idea they were merged into. `index` maps idea ids to ideas.
 */
export function clustersView(clusters, index, { headingLevel = 3, sheets = null } = {}) {
  const list = clusters?.clusters || [];
  const dupes = new Map();
  for (const m of clusters?.merged || []) {
    if (!dupes.has(m.into)) dupes.set(m.into, []);
    dupes.get(m.into).push(m.idea);
  }
  const merged = new Set((clusters?.merged || []).map((m) => m.idea));
  return h(
    'div',
    { class: 'clusters' },
    list.map((c, ci) =>
      h(
        'section',
        { class: 'cluster', 'aria-labelledby': `cluster-h-${ci}` },
        h(`h${headingLevel}`, { class: 'cluster-name', id: `cluster-h-${ci}` }, c.name),
        h(
          'ul',
          { class: 'ideas' },
          (c.ideas || [])
            .filter((id) => !merged.has(id) && index.has(id))
            .map((id) =>
              h(
                'li',
                { class: 'idea' },
                hasSketch(index.get(id)) ? h('div', { class: 'idea-text' }, ideaFigure(index.get(id), { sheets, index })) : h('span', { class: 'idea-text' }, index.get(id).text),
                (dupes.get(id) || [])
                  .filter((d) => index.has(d))
                  .map((d) => h('p', { class: 'dupe' }, h('span', { class: 'dupe-label' }, t('ui.sameIdea')), ideaName(index.get(d)))),
              ),
            ),
        ),
        (c.ideas || []).length ? null : h('p', { class: 'muted' }, t('ui.noIdeasYet')),
      ),
    ),
  );
}

/** Plain-text copy of a finished session. */
export function revealText(topic, sheets) {
  const lines = [topic, ''];
  (sheets || []).forEach((s, i) => {
    lines.push(t('ui.sheet', { i: i + 1 }));
    (s.rows || []).forEach((r, j) => {
      for (const idea of r.ideas || []) lines.push(`  ${j + 1}. ${hasSketch(idea) ? `[${t('sketch.sketch')}] ` : ''}${idea.text}`);
    });
    lines.push('');
  });
  return lines.join('\n');
}

/** Save a Blob as a file: an object URL and a click on a download link. */
export function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: filename, class: 'offscreen', tabindex: '-1' });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** The goal and expected outcomes of a room, for a lobby, or null when there are none. */
export function goalBlock(room, { headingLevel = 2, className = 'goal' } = {}) {
  const outcomes = (room?.outcomes || []).filter((o) => String(o).trim());
  if (!room?.goal && !outcomes.length) return null;
  return h(
    'div',
    { class: className },
    room.goal ? [h(`h${headingLevel}`, { class: 'eyebrow' }, t('ui.goal')), h('p', { class: 'goal-text' }, room.goal)] : null,
    outcomes.length
      ? [h(`h${headingLevel}`, { class: 'eyebrow' }, t('ui.outcomes')), h('ul', { class: 'outcomes' }, outcomes.map((o) => h('li', null, o)))]
      : null,
  );
}

/** Copy text; resolves true on success. Falls back to a hidden textarea + execCommand. */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const ta = h('textarea', { class: 'offscreen', 'aria-hidden': 'true', tabindex: '-1', readonly: true });
    ta.value = text;
    document.body.append(ta);
    ta.select();
    let ok = false;
    try {
      ok = document.execCommand('copy');
    } catch {
      ok = false;
    }
    ta.remove();
    return ok;
  }
}

/** A button that copies `getText()` and says so for a moment. */
export function copyButton(label, getText, { className = 'btn btn-secondary' } = {}) {
  const btn = h('button', { type: 'button', class: className }, label);
  btn.addEventListener('click', async () => {
    const ok = await copyText(getText());
    btn.textContent = ok ? t('ui.copied') : t('ui.copyFailed');
    setTimeout(() => (btn.textContent = label), 1600);
  });
  return btn;
}
