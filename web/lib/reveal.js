// <bw-reveal>: the revealed sheets with their ideas. The one reveal of every page
// (participant, facilitator, board).
//
//   <bw-reveal id="r-sheets"></bw-reveal>                      the presented sheet large, else every sheet
//   <bw-reveal mode="control" focus-fallback="#s-all"></bw-reveal>  every sheet, each with "Present" / "On screen"
//
// update({ sheets, presenting }) draws only when the sheets (by identity) or the presented
// sheet changed, and says whether it drew. In "control" mode a click on "Present" dispatches
// a bubbling `present` event with detail { sheet } (a sheet id); the page sends it.
// Attributes: `mode` ("follow" by default, or "control"), `heading-level` (2 for follow, 3 for
// control by default), `focus-fallback` (where the keyboard goes when its button is gone).

import { h, replaceKeepingFocus } from './dom.js';
import { revealGrid, presentedSheets } from './ui.js';
import { t } from './i18n.js';

export class RevealView extends HTMLElement {
  #sheets = null;
  #presenting = null;
  #label = null;
  #renders = 0;

  /** "Sheet 2 of 6" while a sheet is presented (follow mode), else null. */
  get label() {
    return this.#label;
  }

  /** How many times the sheets were drawn (1 after the first reveal). */
  get renders() {
    return this.#renders;
  }

  update({ sheets, presenting = null }) {
    if (!sheets) return false;
    const p = presenting ?? null;
    if (this.#renders && sheets === this.#sheets && p === this.#presenting) return false;
    this.#sheets = sheets;
    this.#presenting = p;
    this.#renders += 1;
    const control = this.getAttribute('mode') === 'control';
    const headingLevel = Number(this.getAttribute('heading-level')) || (control ? 3 : 2);
    let node;
    if (control) {
      this.#label = null;
      node = revealGrid(sheets, { headingLevel, badgeFor: (s, i) => this.#badge(s, i, p) });
    } else {
      ({ label: this.#label, node } = presentedSheets(sheets, p, { headingLevel }));
    }
    replaceKeepingFocus(this, node, this.getAttribute('focus-fallback'));
    return true;
  }

  #badge(sheet, i, presenting) {
    if (sheet.id === presenting) return h('span', { class: 'chip chip-accent' }, t('reveal.onScreen'));
    return h(
      'button',
      {
        type: 'button',
        class: 'btn btn-ghost btn-sm',
        dataset: { focusKey: `present:${sheet.id}` },
        on: { click: () => this.dispatchEvent(new CustomEvent('present', { bubbles: true, detail: { sheet: sheet.id } })) },
      },
      t('reveal.present'),
      h('span', { class: 'visually-hidden' }, t('reveal.presentSheet', { i: i + 1 })),
    );
  }
}

customElements.define('bw-reveal', RevealView);
