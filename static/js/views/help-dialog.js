/**
 * The help overlay: a modal <dialog> saying how to drive the page — the
 * keyboard shortcuts where there is a keyboard and a mouse, what to tap on a
 * touch screen (no keyboard-only words there) — what the colours and phases
 * mean, how Play's speed works, and how iterations and epochs are counted (the
 * one convention of counting.js). Escape closes it (native dialog behaviour).
 */

import { h } from '../dom.js';

/** Shortcut keys as shown, and the i18n key of what each does. */
export const SHORTCUT_HELP = Object.freeze([
  ['Space', 'help.space'], ['→', 'help.right'], ['←', 'help.left'], ['.', 'help.dot'],
  ['R', 'help.r'], ['P', 'help.p'], ['L', 'help.l'], ['?', 'help.q'], ['↑ ↓ ← →', 'help.net'],
]);
/** What a touch screen's help says instead of the shortcuts (i18n keys, in order). */
export const TOUCH_HELP = Object.freeze(['help.touch.step', 'help.touch.inspect', 'help.touch.map', 'help.touch.deep']);
/** A screen driven by touch: no hovering, a coarse pointer. */
const TOUCH = '(hover: none) and (pointer: coarse)';

/** Help dialog view; `toggle()` opens or closes it. */
export class HelpDialog {
  /** @param {HTMLElement} container the "help" slot */
  constructor(container, { i18n }) {
    this.i18n = i18n;
    this.touch = window.matchMedia(TOUCH);
    this.title = h('h2', { id: 'help-title', tabindex: '-1' });
    this.keys = h('table', { class: 'keys' },
      h('thead', {}, h('tr', {}, h('th', { scope: 'col', dataset: { i18n: 'help.key' } }), h('th', { scope: 'col', dataset: { i18n: 'help.action' } }))),
      h('tbody', {}, SHORTCUT_HELP.map(([k, key]) => h('tr', {}, h('td', {}, k === 'Space' ? h('kbd', { dataset: { i18n: 'key.space' } }) : h('kbd', {}, k)), h('td', { dataset: { i18n: key } })))));
    this.taps = h('ul', { class: 'help-touch' }, TOUCH_HELP.map((key) => h('li', { dataset: { i18n: key } })));
    this.about = h('p', { class: 'help-about' });
    this.dialog = h('dialog', { class: 'help', 'aria-labelledby': 'help-title' },
      this.title, this.keys, this.taps, this.about,
      h('p', { class: 'help-speed', dataset: { i18n: 'help.speed' } }),
      h('p', { class: 'help-counting', dataset: { i18n: 'help.counting' } }),
      h('form', { method: 'dialog' }, h('button', { class: 'btn', value: 'close', dataset: { i18n: 'help.close' } })));
    container.append(this.dialog);
    this.relabel();
  }

  /** Whether the dialog is showing. */
  get open() {
    return this.dialog.open;
  }

  /** Open if closed, close if open. */
  toggle() {
    if (this.dialog.open) this.dialog.close();
    else {
      this.relabel(); // a laptop with a touch screen may have changed how it is driven
      this.dialog.showModal();
      // showModal focuses the first button, at the bottom: a short screen (a projector at
      // 1280×720) would open scrolled past the title and the first shortcuts
      this.title.focus();
      this.dialog.scrollTop = 0;
    }
  }

  /** The words for this language and this screen: keys for a keyboard, taps for touch. */
  relabel() {
    const touch = this.touch.matches;
    this.keys.hidden = touch;
    this.taps.hidden = !touch;
    this.title.dataset.i18n = touch ? 'help.titleTouch' : 'help.title';
    this.about.dataset.i18n = touch ? 'help.aboutTouch' : 'help.about';
    this.i18n.apply(this.dialog);
  }

  /** Relabel on `lang`. */
  update({ kind }) {
    if (kind === 'lang') this.relabel();
  }
}
