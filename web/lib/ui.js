// Small pieces of UI shared by the pages: the connection banner, toasts, sheet rendering,
// copy-to-clipboard. All user text goes in through h() as Text nodes.

import { h, replace, plural } from './dom.js';

const CONN_TEXT = {
  connecting: 'Connecting…',
  reconnecting: 'Reconnecting… Your work is kept on this device.',
  offline: 'You are offline. We will reconnect when the network is back.',
};

/**
 * Reflect a Connection's status in the banner #conn (role=status) and on <body data-conn>.
 * 'connecting' is shown only if it takes longer than a moment, so a fast page never flickers.
 */
export function connectionBanner(el) {
  let timer = null;
  return (status) => {
    document.body.dataset.conn = status;
    clearTimeout(timer);
    const text = CONN_TEXT[status];
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
    h('button', { class: 'toast-close', type: 'button', 'aria-label': 'Dismiss', on: { click: () => item.remove() } }, '×'),
  );
  host.append(item);
  setTimeout(() => item.remove(), ms);
}

/** The rows of a sheet as a read-only list (no authors: rows are labelled by round). */
export function rowsList(rows, { label = 'Row' } = {}) {
  return h(
    'ol',
    { class: 'rows' },
    (rows || []).map((row, i) =>
      h(
        'li',
        { class: 'row' },
        h('p', { class: 'row-label' }, `${label} ${i + 1}`),
        h('ul', { class: 'ideas' }, (row.ideas || []).map((idea) => h('li', { class: 'idea' }, idea.text))),
      ),
    ),
  );
}

/** One sheet as a card: "Sheet 3 · 7 ideas" and its rows. */
export function sheetCard(sheet, index, { headingLevel = 3 } = {}) {
  const ideas = (sheet.rows || []).reduce((n, r) => n + (r.ideas || []).length, 0);
  return h(
    'article',
    { class: 'sheet', 'aria-labelledby': `sheet-h-${index}` },
    h(
      'header',
      { class: 'sheet-head' },
      h(`h${headingLevel}`, { id: `sheet-h-${index}`, class: 'sheet-title' }, `Sheet ${index + 1}`),
      h('span', { class: 'sheet-count' }, plural(ideas, 'idea')),
    ),
    ideas ? rowsList(sheet.rows) : h('p', { class: 'muted' }, 'No ideas on this sheet.'),
  );
}

/** Every sheet in a responsive grid. */
export function revealGrid(sheets, opts) {
  return h('div', { class: 'sheets' }, (sheets || []).map((s, i) => sheetCard(s, i, opts)));
}

/** Plain-text export of a finished session. */
export function revealText(topic, sheets) {
  const lines = [topic, ''];
  (sheets || []).forEach((s, i) => {
    lines.push(`Sheet ${i + 1}`);
    (s.rows || []).forEach((r, j) => {
      for (const idea of r.ideas || []) lines.push(`  ${j + 1}. ${idea.text}`);
    });
    lines.push('');
  });
  return lines.join('\n');
}

/** CSV export: sheet, row, idea. Cells quoted; formula-looking cells defused. */
export function revealCsv(sheets) {
  const cell = (v) => {
    let s = String(v);
    if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
    return `"${s.replace(/"/g, '""')}"`;
  };
  const out = [['sheet', 'row', 'idea'].map(cell).join(',')];
  (sheets || []).forEach((s, i) =>
    (s.rows || []).forEach((r, j) => (r.ideas || []).forEach((idea) => out.push([i + 1, j + 1, idea.text].map(cell).join(',')))),
  );
  return `${out.join('\r\n')}\r\n`;
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
    btn.textContent = ok ? 'Copied' : 'Copy failed';
    setTimeout(() => (btn.textContent = label), 1600);
  });
  return btn;
}
