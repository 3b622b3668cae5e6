// <bw-goal>: a room's goal and expected outcomes, for a lobby (participant, facilitator,
// board). Empty when the room has neither.
//
//   <bw-goal id="bl-goal" variant="goal goal-board"></bw-goal>
//
// update(room) redraws only when the goal or the outcomes changed. `variant` is the class of
// the block (default "goal"), `heading-level` the level of its headings (default 2).

import { replace } from './dom.js';
import { goalBlock } from './ui.js';

export class GoalView extends HTMLElement {
  #key = null;

  update(room) {
    const key = JSON.stringify([room?.goal ?? '', room?.outcomes ?? []]);
    if (key === this.#key) return false;
    this.#key = key;
    const headingLevel = Number(this.getAttribute('heading-level')) || 2;
    replace(this, goalBlock(room, { headingLevel, className: this.getAttribute('variant') || 'goal' }));
    return true;
  }
}

customElements.define('bw-goal', GoalView);
