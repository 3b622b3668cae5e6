// <bw-cluster-board>: the facilitator's cluster editor after the rounds. One zone per cluster
// (rename, delete, drop ideas on it) and "Not in a cluster"; each idea card can be dragged,
// moved with a menu, or merged into another idea as a repeat.
//
//   <bw-cluster-board id="cluster-board" class="cluster-board" focus-fallback="#cluster-name">
//
// update({ sheets, clusters, voting }) draws only when one of them changed (by identity), or
// when a rename starts or ends here. The element owns which cluster is being renamed (and
// keeps what is typed across redraws caused by others). It sends nothing: it dispatches
// bubbling events the page turns into messages (docs/protocol.md, "Clusters"):
//   assign {idea, cluster}   merge {idea, into}   rename {cluster, name}   delete-cluster {cluster, name}
// `summary` is the line for the section head ("2 clusters · 3 ideas not in one", or '').

import { h, replaceKeepingFocus } from '/lib/dom.js';
import { t } from '/lib/i18n.js';
import { buildsOnLine } from '/lib/ui.js';
import { allIdeas, ideaIndex, mergedMap } from '/lib/state.js';
import { shortIdea } from '/lib/text.js';
import { hasSketch, ideaFigure, ideaName } from '/lib/sketch.js';

export class ClusterBoard extends HTMLElement {
  #sheets = null;
  #clusters = null;
  #voting = false;
  #renaming = null; // id of the cluster being renamed
  #drawn = false;
  #summary = '';

  get summary() {
    return this.#summary;
  }

  update({ sheets, clusters, voting }) {
    if (!sheets) return false;
    if (this.#drawn && sheets === this.#sheets && clusters === this.#clusters && voting === this.#voting) return false;
    this.#sheets = sheets;
    this.#clusters = clusters;
    this.#voting = voting;
    this.#draw();
    return true;
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { bubbles: true, detail }));
  }

  #draw() {
    this.#drawn = true;
    const reveal = this.#sheets;
    const clusters = this.#clusters;
    // The server refuses merges while voting is open: the menus say so by being off.
    const voting = this.#voting;
    // A rename being typed survives a re-render caused by someone else's change.
    const typing = this.#renaming ? (this.querySelector('.rename-form input')?.value ?? null) : null;

    const index = ideaIndex(reveal);
    const list = clusters?.clusters || [];
    const merged = mergedMap(clusters);
    const dupes = new Map();
    for (const [idea, into] of merged) {
      if (!dupes.has(into)) dupes.set(into, []);
      dupes.get(into).push(idea);
    }
    const ideas = allIdeas(reveal).filter((i) => !merged.has(i.id));
    const inCluster = new Map();
    for (const c of list) for (const id of c.ideas || []) inCluster.set(id, c.id);
    this.#summary = list.length
      ? t('cl.summary', { clusters: t('n.clusters', { n: list.length }), ideas: t('n.ideas', { n: ideas.filter((i) => !inCluster.has(i.id)).length }) })
      : '';

    let n = 0;
    const card = (idea) => {
      const k = n++;
      const textId = `cl-text-${k}`;
      const move = h(
        'select',
        {
          id: `cl-move-${k}`,
          'aria-describedby': textId,
          dataset: { focusKey: `mv:${idea.id}` },
          on: { change: (ev) => this.#emit('assign', { idea: idea.id, cluster: ev.target.value || null }) },
        },
        h('option', { value: '' }, t('cl.noCluster')),
        list.map((c) => h('option', { value: c.id }, c.name)),
      );
      move.value = inCluster.get(idea.id) || '';
      const mergeSel = h(
        'select',
        {
          id: `cl-merge-${k}`,
          'aria-describedby': voting ? `${textId} cl-merge-note` : textId,
          disabled: voting,
          dataset: { focusKey: `mg:${idea.id}` },
          on: { change: (ev) => ev.target.value && this.#emit('merge', { idea: idea.id, into: ev.target.value }) },
        },
        h('option', { value: '' }, t('cl.notRepeat')),
        ideas.filter((o) => o.id !== idea.id).map((o) => h('option', { value: o.id }, t('cl.sheetIdea', { i: o.sheetIndex + 1, text: shortIdea(ideaName(o)) }))),
      );
      return h(
        'li',
        {
          class: 'cl-card',
          draggable: 'true',
          dataset: { idea: idea.id },
          on: {
            dragstart: (ev) => {
              ev.dataTransfer.setData('text/plain', idea.id);
              ev.dataTransfer.effectAllowed = 'move';
              ev.currentTarget.classList.add('dragging');
            },
            dragend: (ev) => ev.currentTarget.classList.remove('dragging'),
          },
        },
        hasSketch(idea) ? h('div', { class: 'cl-text', id: textId }, ideaFigure(idea, { sheets: reveal, index })) : h('p', { class: 'cl-text', id: textId }, idea.text),
        buildsOnLine(idea, index),
        (dupes.get(idea.id) || [])
          .filter((d) => index.has(d))
          .map((d) =>
            h(
              'div',
              { class: 'dupe dupe-row' },
              h('span', null, h('span', { class: 'dupe-label' }, t('cl.mergedRepeat')), ideaName(index.get(d))),
              h(
                'button',
                {
                  type: 'button',
                  class: 'btn btn-ghost btn-sm',
                  'aria-label': t('cl.undoMergeOf', { text: shortIdea(ideaName(index.get(d))) }),
                  disabled: voting,
                  dataset: { focusKey: `undo:${d}` },
                  on: { click: () => this.#emit('merge', { idea: d, into: null }) },
                },
                t('cl.undoMerge'),
              ),
            ),
          ),
        h(
          'div',
          { class: 'cl-controls' },
          h('div', { class: 'mini-field' }, h('label', { for: `cl-move-${k}` }, t('cl.moveTo')), move),
          h('div', { class: 'mini-field' }, h('label', { for: `cl-merge-${k}` }, t('cl.mergeInto')), mergeSel),
        ),
      );
    };

    const zone = (c, ci) => {
      const members = ideas.filter((i) => (c ? inCluster.get(i.id) === c.id : !inCluster.has(i.id)));
      const hid = c ? `cl-h-${ci}` : 'cl-h-none';
      let head;
      if (c && this.#renaming === c.id) {
        const input = h('input', {
          id: `cl-rename-${ci}`,
          type: 'text',
          maxlength: '80',
          value: typing ?? c.name,
          autocomplete: 'off',
          dataset: { focusKey: `ren-in:${c.id}` },
        });
        head = h(
          'form',
          {
            class: 'inline-form rename-form',
            novalidate: true,
            on: {
              submit: (ev) => {
                ev.preventDefault();
                const name = input.value.trim();
                if (!name) return input.focus();
                this.#renaming = null;
                if (name !== c.name) this.#emit('rename', { cluster: c.id, name });
                this.#draw();
                document.querySelector(`[data-focus-key="ren:${CSS.escape(c.id)}"]`)?.focus();
              },
              keydown: (ev) => {
                if (ev.key === 'Escape') {
                  this.#renaming = null;
                  this.#draw();
                  document.querySelector(`[data-focus-key="ren:${CSS.escape(c.id)}"]`)?.focus();
                }
              },
            },
          },
          h('h3', { class: 'visually-hidden', id: hid }, c.name),
          h('div', { class: 'field' }, h('label', { for: `cl-rename-${ci}` }, t('cl.renameLabel', { name: c.name })), input),
          h('button', { type: 'submit', class: 'btn btn-primary btn-sm', dataset: { focusKey: `ren-save:${c.id}` } }, t('cl.save')),
        );
      } else {
        head = h(
          'header',
          { class: 'cl-head' },
          h('h3', { class: 'cl-name', id: hid }, c ? c.name : t('cl.none')),
          h('span', { class: 'muted small' }, t('n.ideas', { n: members.length })),
          c
            ? h(
                'span',
                { class: 'btn-row' },
                h(
                  'button',
                  {
                    type: 'button',
                    class: 'btn btn-ghost btn-sm',
                    'aria-label': t('cl.renameAria', { name: c.name }),
                    dataset: { focusKey: `ren:${c.id}` },
                    on: {
                      click: () => {
                        this.#renaming = c.id;
                        this.#draw();
                        document.getElementById(`cl-rename-${ci}`)?.focus();
                      },
                    },
                  },
                  t('cl.rename'),
                ),
                h(
                  'button',
                  {
                    type: 'button',
                    class: 'btn btn-ghost btn-sm btn-text-danger',
                    'aria-label': t('cl.deleteAria', { name: c.name }),
                    dataset: { focusKey: `del:${c.id}` },
                    on: {
                      click: () => this.#emit('delete-cluster', { cluster: c.id, name: c.name }),
                    },
                  },
                  t('cl.delete'),
                ),
              )
            : null,
        );
      }
      const target = c ? c.id : null;
      return h(
        'section',
        {
          class: c ? 'cl-zone' : 'cl-zone cl-none',
          'aria-labelledby': hid,
          dataset: { cluster: c ? c.id : '' },
          on: {
            dragover: (ev) => {
              ev.preventDefault();
              ev.dataTransfer.dropEffect = 'move';
              ev.currentTarget.classList.add('drop-here');
            },
            dragleave: (ev) => {
              if (!ev.currentTarget.contains(ev.relatedTarget)) ev.currentTarget.classList.remove('drop-here');
            },
            drop: (ev) => {
              ev.preventDefault();
              ev.currentTarget.classList.remove('drop-here');
              const id = ev.dataTransfer.getData('text/plain');
              if (id && index.has(id) && (inCluster.get(id) || null) !== target) this.#emit('assign', { idea: id, cluster: target });
            },
          },
        },
        head,
        members.length
          ? h('ul', { class: 'cl-cards' }, members.map(card))
          : h('p', { class: 'cl-empty' }, c ? t('cl.dropHere') : t('cl.allPlaced')),
      );
    };

    replaceKeepingFocus(this, [...list.map(zone), zone(null, -1)], this.getAttribute('focus-fallback'));
  }
}

customElements.define('bw-cluster-board', ClusterBoard);
