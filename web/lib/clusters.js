// <bw-clusters>: the named clusters, read-only, each with its ideas and the repeats merged
// into them (the board, after the rounds).
//
// update({ clusters, sheets }) draws only when either changed (by identity); clusters null
// empties it.

import { replace } from './dom.js';
import { clustersView } from './ui.js';
import { ideaIndex } from './state.js';

export class ClustersView extends HTMLElement {
  #clusters = null;
  #sheets = null;

  update({ clusters, sheets }) {
    if (clusters === this.#clusters && sheets === this.#sheets) return false;
    this.#clusters = clusters;
    this.#sheets = sheets;
    const level = Number(this.getAttribute('heading-level')) || 3;
    replace(this, clusters && sheets ? clustersView(clusters, ideaIndex(sheets), { headingLevel: level, sheets }) : null);
    return true;
  }
}

customElements.define('bw-clusters', ClustersView);
