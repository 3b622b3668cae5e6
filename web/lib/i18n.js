// The language of the page (docs/i18n.md): which one, its words, its plurals and numbers.
//
// The language is, in this order: the one the person chose on this device (the switcher on
// every page, kept in localStorage), the room's language set by the facilitator at creation
// (remembered per room once a page has seen it), the browser's preferences
// (navigator.languages), English. Every string the pages show comes from a catalog in
// /i18n/<lang>.js; this module loads the one needed before any page script runs (top-level
// await), sets `lang` and `dir` on <html>, and fills the static HTML: an element with a
// `data-i18n` attribute gets the text of the key it names, one with `data-i18n-attr`
// ("placeholder:<key>;title:<key>") those attributes. Values may hold placeholders `{name}`; a value that is an object is a
// plural, its forms picked by Intl.PluralRules for the number `{n}`. Numbers in placeholders
// are formatted with Intl.NumberFormat.
//
// Changing the language reloads the page: the server's state resumes, drafts live in
// localStorage, so nothing is lost, and no component needs to know languages can change.

import en from '/i18n/en.js';
import { load, save } from './storage.js';
import { codeFromPath } from './code.js';

/** The languages there are catalogs for, each named in itself. */
export const LANGUAGES = Object.freeze({ en: 'English', de: 'Deutsch', fr: 'Français', es: 'Español', ar: 'العربية' });
const RTL = new Set(['ar']);
const CHOSEN = 'lang';
const roomKey = (code) => `room-lang:${code}`;

function supported(tag) {
  return typeof tag === 'string' && Object.hasOwn(LANGUAGES, tag) ? tag : null;
}

/** The language for this page (see the top of this file). */
export function pickLanguage({ chosen = load(CHOSEN), room = null, browser = navigator.languages || [navigator.language] } = {}) {
  if (supported(chosen)) return chosen;
  if (supported(room)) return room;
  for (const tag of browser || []) {
    const base = supported(String(tag).toLowerCase().split('-')[0]);
    if (base) return base;
  }
  return 'en';
}

const pageCode = codeFromPath();
export const lang = pickLanguage({ room: pageCode ? load(roomKey(pageCode)) : null });
const catalog = lang === 'en' ? en : (await import(`/i18n/${lang}.js`)).default;
// Arabic with the digits its people read on screens and in the room codes and clock (docs/i18n.md).
const locale = lang === 'ar' ? 'ar-u-nu-latn' : lang;
const plurals = new Intl.PluralRules(locale);
const numbers = new Intl.NumberFormat(locale, { maximumFractionDigits: 1 });

/** Whether the catalogs have a key (for codes that may be new to this client). */
export function has(key) {
  return Object.hasOwn(en, key);
}

/** A number as this language writes it. */
export function num(n) {
  return typeof n === 'number' ? numbers.format(n) : String(n ?? '');
}

/** The text of `key` with its placeholders filled; `{n}` also picks the plural form. */
export function t(key, vars = {}) {
  let value = Object.hasOwn(catalog, key) ? catalog[key] : en[key];
  if (value === undefined) return key;
  if (typeof value === 'object') {
    value = value[plurals.select(Number(vars.n ?? 0))] ?? value.other;
  }
  return value.replace(/\{(\w+)\}/g, (m, name) => (Object.hasOwn(vars, name) ? num(vars[name]) : m));
}

/** A length of time: "5 minutes", "1.5 minutes", "30 seconds". */
export function duration(seconds) {
  if (seconds >= 60) return t('n.minutes', { n: Math.round((seconds / 60) * 10) / 10 });
  return t('n.seconds', { n: Math.round(seconds) });
}

/** Fill the static HTML under `root` from the catalog. */
export function translate(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) {
    const text = t(el.dataset.i18n);
    if (el.textContent !== text) el.textContent = text;
  }
  for (const el of root.querySelectorAll('[data-i18n-attr]')) {
    for (const pair of el.dataset.i18nAttr.split(';')) {
      const [attr, key] = pair.split(':').map((s) => s.trim());
      if (attr && key) el.setAttribute(attr, t(key));
    }
  }
}

/** Keep the person's choice on this device and show the page in it. */
export function choose(tag) {
  if (!supported(tag) || tag === lang) return;
  save(CHOSEN, tag);
  location.reload();
}

/**
 * The room says which language it is in (RoomView.language, or the create response): remember
 * it for this room, and switch to it unless the person chose a language of their own.
 */
export function useRoomLanguage(code, tag) {
  if (!rememberRoomLanguage(code, tag)) return; // storage refused: no reload loop
  if (pickLanguage({ room: tag }) !== lang) location.reload();
}

/** Keep a room's language for the pages of that room (the home page, after creating it); true when kept. */
export function rememberRoomLanguage(code, tag) {
  if (!code || !supported(tag)) return false;
  return load(roomKey(code)) === tag || save(roomKey(code), tag);
}

/** The switcher: a labelled <select> of every language, in the element [data-lang-switch]. */
function switcher(host) {
  const id = `lang-${host.dataset.langSwitch || 'select'}`;
  const label = document.createElement('label');
  label.className = 'visually-hidden';
  label.htmlFor = id;
  label.textContent = t('lang.label');
  const select = document.createElement('select');
  select.id = id;
  select.className = 'lang-select';
  for (const [tag, name] of Object.entries(LANGUAGES)) {
    const option = new Option(name, tag, tag === lang, tag === lang);
    option.lang = tag;
    select.append(option);
  }
  select.addEventListener('change', () => choose(select.value));
  host.replaceChildren(label, select);
}

document.documentElement.lang = lang;
document.documentElement.dir = RTL.has(lang) ? 'rtl' : 'ltr';
translate();
for (const host of document.querySelectorAll('[data-lang-switch]')) switcher(host);
