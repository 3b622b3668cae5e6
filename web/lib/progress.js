// <bw-progress>: how full each sheet is while the rounds run, as bars (counts only, never
// text), on the facilitator's page and the board.
//
//   <bw-progress id="f-sheets" detailed></bw-progress>
//
// update({ sheets }) takes the `sheets` of a progress message ([{ ideas, drafted, capacity }])
// and redraws only when a count changed. `detailed` adds a spoken summary to each bar.

import { h, replace } from './dom.js';
import { t } from './i18n.js';

export class ProgressView extends HTMLElement {
  #key = null;

  update({ sheets }) {
    const list = sheets || [];
    const key = JSON.stringify(list.map((s) => [s.ideas || 0, s.drafted || 0, s.capacity]));
    if (key === this.#key) return false;
    this.#key = key;
    const detailed = this.hasAttribute('detailed');
    replace(this, h('ul', { class: 'sheet-bars' }, list.map((s, i) => bar(s, i, detailed))));
    return true;
  }
}

function bar(s, i, detailed) {
  const cap = Math.max(1, s.capacity || 1);
  const ideas = s.ideas || 0;
  const drafted = s.drafted || 0;
  const pct = Math.min(100, (ideas / cap) * 100);
  const fill = h('span', { class: 'fill' });
  fill.style.width = `${pct}%`;
  const soft = h('span', { class: 'fill-soft' });
  soft.style.width = `${Math.min(100 - pct, (drafted / cap) * 100)}%`;
  return h(
    'li',
    null,
    h('div', { class: 'bar-label' }, h('span', null, t('ui.sheet', { i: i + 1 })), h('span', null, t('progress.of', { n: ideas + drafted, cap: s.capacity }))),
    h('div', { class: 'meter', 'aria-hidden': 'true' }, fill, soft),
    detailed ? h('span', { class: 'visually-hidden' }, t('progress.spoken', { ideas, drafted, cap: s.capacity })) : null,
  );
}

customElements.define('bw-progress', ProgressView);
