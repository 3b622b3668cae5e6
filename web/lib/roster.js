// <bw-roster>: who is in the session, on the facilitator's page: name, initial, chips
// (Here, Writing, ✓ Done, Offline, Left, Waiting for next round) and "Remove" with an inline
// confirmation.
//
//   <bw-roster id="f-people" focus-fallback="#f-people-h"></bw-roster>
//
// update({ roster, room }) draws only when the roster or the parts of the room it shows
// changed. "Yes, remove" dispatches a bubbling `remove` event with detail { participant,
// name }; the page sends it. The element owns which removal is being confirmed.

import { h, replaceKeepingFocus } from './dom.js';
import { t } from './i18n.js';

export class RosterView extends HTMLElement {
  #roster = [];
  #room = null;
  #confirm = null; // participant id whose removal is being confirmed
  #key = null;

  update({ roster, room }) {
    this.#roster = roster || [];
    this.#room = room;
    this.#render();
  }

  #render() {
    const room = this.#room;
    if (!room) return;
    const key = JSON.stringify([this.#roster, room.phase, room.round, room.rounds, this.#confirm]);
    if (key === this.#key) return;
    this.#key = key;
    const finished = room.phase === 'finished';
    const started = room.phase !== 'lobby';
    const lastRound = room.round >= room.rounds;
    const focus = (selector) => this.querySelector(selector)?.focus();
    const setConfirm = (id, then) => {
      this.#confirm = id;
      this.#render();
      then();
    };
    const items = this.#roster.map((p, i) => {
      const name = p.name || t('roster.guest', { i: i + 1 });
      const chips = [];
      if (p.left) chips.push(h('span', { class: 'chip' }, t('roster.left')));
      else if (!p.connected) chips.push(h('span', { class: 'chip' }, t('roster.offline')));
      if (p.left) {
        /* nothing more to say */
      } else if (started && !p.seated) {
        chips.push(h('span', { class: 'chip chip-warn' }, finished || lastRound ? t('roster.joinedLate') : t('roster.waiting')));
      } else if (room.phase === 'writing' || room.phase === 'paused') {
        chips.push(p.done ? h('span', { class: 'chip chip-ok' }, t('roster.done')) : h('span', { class: 'chip chip-accent' }, t('roster.writing')));
      } else if (!started && p.connected) chips.push(h('span', { class: 'chip chip-ok' }, t('roster.here')));

      const id = CSS.escape(p.id);
      let actions = null;
      if (!finished && !p.left) {
        actions =
          this.#confirm === p.id
            ? h(
                'span',
                { class: 'confirm-inline', role: 'group', 'aria-label': t('roster.confirm', { name }) },
                h('span', { class: 'confirm-q' }, t('roster.confirm', { name })),
                h(
                  'button',
                  {
                    type: 'button',
                    class: 'btn btn-danger-solid btn-sm',
                    dataset: { focusKey: `rm-yes:${p.id}` },
                    on: {
                      click: () => {
                        this.#confirm = null;
                        this.dispatchEvent(new CustomEvent('remove', { bubbles: true, detail: { participant: p.id, name } }));
                        this.#render();
                        document.querySelector(this.getAttribute('focus-fallback'))?.focus?.();
                      },
                    },
                  },
                  t('roster.yes'),
                ),
                h(
                  'button',
                  {
                    type: 'button',
                    class: 'btn btn-secondary btn-sm',
                    dataset: { focusKey: `rm-no:${p.id}` },
                    on: { click: () => setConfirm(null, () => focus(`[data-focus-key="rm:${id}"]`)) },
                  },
                  t('roster.cancel'),
                ),
              )
            : h(
                'button',
                {
                  type: 'button',
                  class: 'btn btn-ghost btn-sm',
                  'aria-label': t('roster.removeName', { name }),
                  dataset: { focusKey: `rm:${p.id}` },
                  on: { click: () => setConfirm(p.id, () => focus(`[data-focus-key="rm-no:${id}"]`)) },
                },
                t('roster.remove'),
              );
      }
      return h(
        'li',
        { class: p.connected && !p.left ? '' : 'offline', dataset: { participant: p.id } },
        h('span', { class: 'who' }, h('span', { class: 'avatar', 'aria-hidden': 'true' }, initial(name)), h('span', { class: 'name' }, name)),
        h('span', { class: 'btn-row people-actions' }, chips, actions),
      );
    });
    replaceKeepingFocus(this.#list(), items, this.getAttribute('focus-fallback'));
  }

  /** The <ul class="people"> the items go in (a list item needs a list around it). */
  #list() {
    return this.querySelector(':scope > ul') || this.appendChild(h('ul', { class: 'people' }));
  }
}

function initial(name) {
  const ch = [...String(name).trim()][0] || '?';
  return ch.toUpperCase();
}

customElements.define('bw-roster', RosterView);
