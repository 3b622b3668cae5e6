// DOM building and the one place user text meets the page.
//
// Every piece of user text (topic, ideas, names) goes through `h()` children or `setText()`,
// both of which create Text nodes. Nothing in web/ assigns innerHTML, outerHTML or
// insertAdjacentHTML: there is no code path where a string becomes markup.

/**
 * Build an element.
 *   h('p', { class: 'muted', id: 'x', 'aria-live': 'polite', on: { click: fn } }, 'text', child)
 * Props: `class`, `text`, `on` (event listeners), `dataset`, DOM properties that are safe
 * (value, checked, disabled, hidden, readOnly, type, htmlFor…) and any other attribute, set
 * with setAttribute. `style` strings and `on*` attributes are refused: CSP forbids them anyway,
 * and refusing them here keeps the mistake out of the code.
 * Children: strings and numbers become Text nodes; null/undefined/false are skipped; arrays
 * are flattened.
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  if (props) {
    for (const [key, value] of Object.entries(props)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'class') el.className = value;
      else if (key === 'text') el.textContent = String(value);
      else if (key === 'on') for (const [ev, fn] of Object.entries(value)) el.addEventListener(ev, fn);
      else if (key === 'dataset') Object.assign(el.dataset, value);
      else if (key === 'style' || /^on/i.test(key)) throw new Error(`h(): refusing attribute ${key}`);
      else if (key in PROPS) el[PROPS[key]] = value;
      else el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

// Attributes that are better set as properties (they reflect live state).
const PROPS = {
  value: 'value', checked: 'checked', disabled: 'disabled', hidden: 'hidden',
  readOnly: 'readOnly', htmlFor: 'htmlFor', type: 'type',
};

/** Append children (strings become Text nodes). */
export function append(parent, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** Replace all children of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** Set the text of an element (by element or id) as text, never markup. Skips no-op writes. */
export function setText(target, value) {
  const el = typeof target === 'string' ? document.getElementById(target) : target;
  if (!el) return;
  const s = value === null || value === undefined ? '' : String(value);
  if (el.textContent !== s) el.textContent = s;
}

/** document.getElementById, throwing on a missing id so page/HTML drift is loud. */
export function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el;
}

/** Show exactly one of a set of sibling views (elements with [data-view]). */
export function showView(root, name) {
  for (const el of root.querySelectorAll('[data-view]')) {
    const on = el.dataset.view === name;
    if (el.hidden === on) el.hidden = !on;
  }
}

/**
 * Replace the children of `el` and keep the keyboard where it was: if focus was on an element
 * inside `el` with a `data-focus-key`, the new element with the same key gets focus (or
 * `fallback`, a selector or element, when that key is gone). Lists that re-render on every
 * server message use this so a keyboard user is not thrown back to the top of the page.
 */
export function replaceKeepingFocus(el, children, fallback = null) {
  const active = document.activeElement;
  const key = active && el.contains(active) ? active.dataset?.focusKey : null;
  el.replaceChildren();
  append(el, children);
  if (!key) return el;
  const again = [...el.querySelectorAll('[data-focus-key]')].find((n) => n.dataset.focusKey === key);
  const target = again || (typeof fallback === 'string' ? document.querySelector(fallback) : fallback);
  target?.focus({ preventScroll: true });
  return el;
}
