// <bw-ballot>: the dot-voting list on a participant's phone: every idea that can get votes
// (merged repeats hidden, listed under the idea they joined), grouped by cluster, each with
// this person's votes and "Vote" / "Vote again" / "Take back".
//
// update({ ballot, sheets, clusters }) draws only when one of them changed (by identity).
// A click dispatches a bubbling `vote` event with detail { idea, type } (type 'vote' or
// 'unvote'); the page sends it. The element remembers the idea voted for until the next
// ballot: refuse(text, idea?) puts the server's (or the page's) reason next to that idea.
// The keyboard stays on the button it was on (or on the same idea) across redraws.

import { h, replace } from './dom.js';
import { t } from './i18n.js';
import { buildsOnLine } from './ui.js';
import { allIdeas, ideaIndex, mergedMap } from './state.js';
import { hasSketch, ideaFigure, ideaName } from './sketch.js';

export class BallotView extends HTMLElement {
  #ballot = null;
  #sheets = null;
  #clusters = null;
  #drawn = false;
  #note = null; // { idea, text, pending }: the last vote sent from here, and why it was refused

  /** The idea of a vote sent and not yet answered by a ballot, or null. */
  get pending() {
    return this.#note?.pending ? this.#note.idea : null;
  }

  update({ ballot, sheets, clusters }) {
    if (!sheets) return false;
    if (this.#drawn && ballot === this.#ballot && sheets === this.#sheets && clusters === this.#clusters) return false;
    // The vote went through (or the ballot was resent): nothing to explain any more.
    if (ballot !== this.#ballot && this.#note?.pending) this.#note = null;
    this.#ballot = ballot;
    this.#sheets = sheets;
    this.#clusters = clusters;
    this.#render();
    return true;
  }

  /** A vote for `idea` (default: the pending one) was refused: say why next to it, and redraw. */
  refuse(text, idea = this.#note?.idea) {
    this.#note = { idea, text };
    if (this.#sheets) this.#render();
  }

  #vote(idea, type) {
    this.#note = { idea, text: null, pending: true };
    this.dispatchEvent(new CustomEvent('vote', { bubbles: true, detail: { idea, type } }));
  }

  #render() {
    this.#drawn = true;
    const ballot = this.#ballot;
    const clusters = this.#clusters;
    const mine = new Map((ballot?.mine || []).map((m) => [m.idea, m.votes]));
    const perIdea = ballot?.per_idea ?? 1;
    const merged = mergedMap(clusters);
    const ideas = allIdeas(this.#sheets).filter((i) => !merged.has(i.id));
    const index = ideaIndex(this.#sheets);
    const dupes = new Map();
    for (const [idea, into] of merged) {
      if (!dupes.has(into)) dupes.set(into, []);
      if (index.has(idea)) dupes.get(into).push(ideaName(index.get(idea)));
    }
    const focusKey = document.activeElement?.dataset?.focusKey;
    const note = this.#note?.text ? this.#note : null;
    const button = (idea, textId, type, label, primary) =>
      h(
        'button',
        {
          type: 'button',
          class: primary ? 'btn btn-primary btn-sm' : 'btn btn-secondary btn-sm',
          'aria-describedby': textId,
          dataset: { focusKey: `${type === 'vote' ? 'vote' : 'un'}:${idea.id}` },
          on: { click: () => this.#vote(idea.id, type) },
        },
        label,
      );
    const card = (idea, n) => {
      const votes = mine.get(idea.id) || 0;
      const textId = `v-text-${n}`;
      return h(
        'li',
        { class: votes ? 'vote-card voted' : 'vote-card', dataset: { idea: idea.id } },
        hasSketch(idea)
          ? h('div', { class: 'vote-text', id: textId }, ideaFigure(idea, { sheets: this.#sheets, index }))
          : h('p', { class: 'vote-text', id: textId }, idea.text),
        buildsOnLine(idea, index),
        (dupes.get(idea.id) || []).map((text) => h('p', { class: 'dupe' }, h('span', { class: 'dupe-label' }, t('ui.sameIdea')), text)),
        h(
          'div',
          { class: 'vote-actions' },
          h(
            'span',
            { class: votes ? 'chip chip-ok' : 'chip', 'aria-hidden': votes ? null : 'true' },
            votes ? (perIdea > 1 ? t('ballot.fromYou', { votes: t('n.votes', { n: votes }) }) : t('ballot.yourVote')) : t('ballot.noVote'),
          ),
          h(
            'span',
            { class: 'btn-row' },
            votes ? button(idea, textId, 'unvote', t('ballot.takeBack'), false) : null,
            votes < perIdea ? button(idea, textId, 'vote', votes ? t('ballot.voteAgain') : t('ballot.vote'), true) : null,
          ),
        ),
        note?.idea === idea.id ? h('p', { class: 'vote-note' }, note.text) : null,
      );
    };
    const groups = [];
    const placed = new Set();
    for (const c of clusters?.clusters || []) {
      const members = ideas.filter((i) => (c.ideas || []).includes(i.id));
      if (!members.length) continue;
      members.forEach((i) => placed.add(i.id));
      groups.push({ name: c.name, members });
    }
    const rest = ideas.filter((i) => !placed.has(i.id));
    if (rest.length) groups.push({ name: groups.length ? t('ballot.otherIdeas') : null, members: rest });
    let n = 0;
    replace(
      this,
      groups.map((g) =>
        h(
          'section',
          { class: 'vote-group' },
          g.name ? h('h2', { class: 'section-title' }, g.name) : null,
          h('ul', { class: 'vote-cards' }, g.members.map((i) => card(i, n++))),
        ),
      ),
    );
    if (focusKey) {
      const again = this.querySelector(`[data-focus-key="${CSS.escape(focusKey)}"]`);
      const fallback = this.querySelector(`[data-idea="${CSS.escape(focusKey.replace(/^\w+:/, ''))}"] button`);
      (again || fallback)?.focus({ preventScroll: true });
    }
  }
}

customElements.define('bw-ballot', BallotView);
