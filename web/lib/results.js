// <bw-results>: the ranked results of a dot vote (rank, votes, text, build-on line), on the
// participant's phone, the facilitator's page and the board.
//
// update({ results, sheets }) draws only when the results changed (by identity) and says
// whether it drew; `sheets` (the reveal) names the ideas a result builds on.

import { replace } from './dom.js';
import { resultsList } from './ui.js';
import { ideaIndex } from './state.js';

export class ResultsView extends HTMLElement {
  #results = null;
  #renders = 0;

  /** How many times the results were drawn (1 after the first). */
  get renders() {
    return this.#renders;
  }

  update({ results, sheets = null }) {
    if (!results || results === this.#results) return false;
    this.#results = results;
    this.#renders += 1;
    replace(this, resultsList(results, { index: ideaIndex(sheets), sheets }));
    return true;
  }
}

customElements.define('bw-results', ResultsView);
