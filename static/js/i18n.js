/**
 * The small translator that applies the page's strings: every user-visible
 * string, in Japanese (strings-ja.js) and English (strings-en.js), the same
 * keys in each. Only the language shown is loaded (one table is half the
 * page's first load); another is fetched the first time a learner switches
 * to it ({@link I18n#load}). The words of views loaded later are a part of
 * their own (strings-en-lessons.js: the lesson panel and the course list;
 * strings-en-later.js: the help and confirm dialogs, the inspector, the graph, the
 * landscape, a table's views and the digit pad),
 * fetched with the view ({@link I18n#need}) in every language loaded.
 *
 * Markup asks for text with attributes: `data-i18n` (text content),
 * `data-i18n-aria` (aria-label), `data-i18n-title` (title) and
 * `data-i18n-placeholder`. Views call `t(key, params)` for text they build.
 * Mathematical symbols (z, W, ∂L/∂W) are the same in both languages and are
 * not in the table.
 */

/** The supported languages, in the order the switch shows them. */
export const LANGS = Object.freeze(['ja', 'en']);

/** Replace `{name}` in `s` by `params.name`. */
function fill(s, params) {
  return params ? s.replace(/\{(\w+)\}/g, (m, k) => (k in params ? String(params[k]) : m)) : s;
}

/** The language to start in: a saved choice, else the browser's language. */
export function initialLang(saved, navigatorLanguages) {
  if (LANGS.includes(saved)) return saved;
  for (const tag of navigatorLanguages || []) {
    const base = String(tag).toLowerCase().split('-')[0];
    if (LANGS.includes(base)) return base;
  }
  return 'en';
}

/**
 * One language's strings (key → text), fetched once by the module loader.
 * @param {string} lang one of {@link LANGS}
 * @returns {Promise<Readonly<Record<string, string>>>}
 */
export function loadStrings(lang, part = '') {
  return import(`./strings-${lang}${part ? `-${part}` : ''}.js`).then((m) => m.STRINGS);
}

/** A translator for one current language; `apply(root)` relabels marked-up DOM. */
export class I18n {
  /**
   * @param {string} lang one of {@link LANGS}
   * @param {Record<string, Readonly<Record<string, string>>>} [tables] strings already loaded, by language
   */
  constructor(lang, tables = {}) {
    this.lang = LANGS.includes(lang) ? lang : 'en';
    this.tables = { ...tables };
    /** The parts asked for ({@link I18n#need}); `lang:part` once merged into that table. */
    this.parts = new Set();
    this.merged = new Set();
  }

  /** Whether `lang`'s strings are loaded, with every part asked for (then
   * {@link I18n#setLang} can switch to it at once). */
  loaded(lang) {
    return Boolean(this.tables[lang]) && [...this.parts].every((p) => this.merged.has(`${lang}:${p}`));
  }

  /** Fetch `lang`'s strings and the parts asked for (once); resolves when they are loaded. */
  async load(lang) {
    if (!LANGS.includes(lang)) return;
    if (!this.tables[lang]) this.tables[lang] = await loadStrings(lang);
    await Promise.all([...this.parts].map((p) => this.merge(lang, p)));
  }

  /** Fetch the words of part `part` (a view loaded later) in every language loaded. */
  async need(part) {
    this.parts.add(part);
    await Promise.all(Object.keys(this.tables).map((lang) => this.merge(lang, part)));
  }

  async merge(lang, part) {
    const key = `${lang}:${part}`;
    if (this.merged.has(key)) return;
    const more = await loadStrings(lang, part);
    if (this.merged.has(key)) return;
    this.tables[lang] = Object.freeze({ ...this.tables[lang], ...more });
    this.merged.add(key);
  }

  /** The string for `key` in the current language, with `{params}` filled in. */
  t(key, params) {
    const table = this.tables[this.lang];
    if (!table || !Object.hasOwn(table, key)) throw new Error(`i18n: missing key ${key}`);
    return fill(table[key], params);
  }

  /** Whether `key` exists in the table. */
  has(key) {
    return Boolean(this.tables[this.lang]) && Object.hasOwn(this.tables[this.lang], key);
  }

  /** Switch to `lang` once its strings are loaded (callers then re-apply and re-render). */
  setLang(lang) {
    if (LANGS.includes(lang) && this.tables[lang]) this.lang = lang;
  }

  /** Set text, aria-labels, titles and placeholders of every marked element under `root`. */
  apply(root) {
    for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = this.t(el.dataset.i18n);
    for (const el of root.querySelectorAll('[data-i18n-aria]')) el.setAttribute('aria-label', this.t(el.dataset.i18nAria));
    for (const el of root.querySelectorAll('[data-i18n-title]')) el.setAttribute('title', this.t(el.dataset.i18nTitle));
    for (const el of root.querySelectorAll('[data-i18n-placeholder]')) el.setAttribute('placeholder', this.t(el.dataset.i18nPlaceholder));
  }
}
