// <bw-pool-counts>: a brainwriting pool's state while the session runs, as counts only (never
// text, never who): sheets in the pool, sheets being written on, people waiting for a sheet,
// and swaps so far. On the facilitator's page and the board.
//
//   <bw-pool-counts id="f-pool"></bw-pool-counts>
//
// update({ pool }) takes the `pool` of a progress message ({ pooled, held, waiting, swaps },
// docs/protocol.md "Brainwriting pool"), or null before one arrived, and redraws only when a
// count changed. Each count is a <div data-count="pooled|held|waiting|swaps"> of a <dl>.

import { h, replace } from './dom.js';
import { t, num } from './i18n.js';

const COUNTS = [
  ['pooled', 'pool.countPooled'],
  ['held', 'pool.countHeld'],
  ['waiting', 'pool.countWaiting'],
  ['swaps', 'pool.countSwaps'],
];

export class PoolCountsView extends HTMLElement {
  #key = null;

  update({ pool }) {
    const values = COUNTS.map(([k]) => (pool && Number.isFinite(pool[k]) ? pool[k] : null));
    const key = values.join();
    if (key === this.#key) return false;
    this.#key = key;
    replace(
      this,
      h(
        'dl',
        { class: 'pool-counts' },
        COUNTS.map(([k, label], i) =>
          h('div', { class: 'pool-count', dataset: { count: k } }, h('dt', null, t(label)), h('dd', null, values[i] === null ? '–' : num(values[i]))),
        ),
      ),
    );
    return true;
  }
}

customElements.define('bw-pool-counts', PoolCountsView);
