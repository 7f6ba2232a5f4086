/**
 * "Download: NumPy script / PyTorch script / notebook" for the iteration shown:
 * files that redo that iteration by hand and end by saying whether their numbers
 * agree with the page's (docs/server.md, "Check it yourself"), each explained in
 * the page's language.
 *
 * Built from (container, options) like every view and fed the page's events by
 * the view that holds it (the timeline, the inspector, a lesson step); it never
 * touches the socket. A download is a POST whose body carries the session id,
 * never a URL, as the timeline's other downloads; without a session of its own
 * (a page following a class) it hides.
 */

import { downloadRunFile, h } from '../dom.js';
import { stateIteration } from '../counting.js';

/** The three files: [class, i18n key, the route's name for 0-based iteration `i` and a language]. */
const tail = (lang) => (lang === 'en' ? '' : `-${lang}`); // (an English script's name as before)
const FILES = [
  ['step-numpy', 'step.numpy', (i, lang) => `step-${i}${tail(lang)}.py`],
  ['step-torch', 'step.torch', (i, lang) => `step-${i}-torch${tail(lang)}.py`],
  ['step-notebook', 'step.notebook', (i, lang) => `step-${i}-${lang}.ipynb`],
];

/** The engine's 0-based index of the iteration a page's state shows (the next one at the start). */
export function stepIndex(state) {
  return Math.max(stateIteration(state) - 1, 0);
}

/** Download buttons for the iteration shown (see the module comment). */
export class StepDownloads {
  /**
   * @param {HTMLElement} container
   * @param {{i18n: {t: Function, lang: string}}} options
   */
  constructor(container, { i18n }) {
    this.i18n = i18n;
    /** The page's run model (its session and state), from the last event. */
    this.model = null;
    this.status = h('p', { class: 'step-files-status hint', role: 'status' });
    this.buttons = FILES.map(([cls, key, name]) => h('button', {
      type: 'button', class: `btn ${cls}`, dataset: { i18n: key },
      on: { click: () => this.model && this.download(name(stepIndex(this.model.state), this.i18n.lang)) },
    }, i18n.t(key)));
    this.label = h('span', { class: 'step-files-label', dataset: { i18n: 'step.download' } }, i18n.t('step.download'));
    this.root = h('div', { class: 'step-files', role: 'group' }, this.label, ...this.buttons, this.status);
    this.root.setAttribute('aria-label', i18n.t('step.download'));
    container.append(this.root);
  }

  /** Take one page event ({kind, msg, model}). */
  update({ kind, model }) {
    if (model) this.model = model;
    if (kind === 'lang') {
      this.root.setAttribute('aria-label', this.i18n.t('step.download'));
      for (const el of [this.label, ...this.buttons]) el.textContent = this.i18n.t(el.dataset.i18n);
    }
    // a page following a class has no session of its own to ask for (the teacher's stays hidden)
    this.root.hidden = !(this.model && this.model.session);
  }

  /** Fetch `name` of this session's run and hand it to the browser as a file. */
  download(name) {
    const session = this.model && this.model.session;
    if (!session) return;
    this.status.textContent = '';
    downloadRunFile(name, session)
      .catch(() => { this.status.textContent = this.i18n.t('tl.downloadFailed'); });
  }
}
