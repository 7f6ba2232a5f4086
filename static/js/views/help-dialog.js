/**
 * The help overlay: a modal <dialog> listing the keyboard shortcuts, what the
 * colours and phases mean, and how iterations and epochs are counted (the one
 * convention of counting.js). Escape closes it (native dialog behaviour).
 */

import { h } from '../dom.js';

/** Shortcut keys as shown, and the i18n key of what each does. */
export const SHORTCUT_HELP = Object.freeze([
  ['Space', 'help.space'], ['→', 'help.right'], ['←', 'help.left'], ['.', 'help.dot'],
  ['R', 'help.r'], ['P', 'help.p'], ['L', 'help.l'], ['?', 'help.q'], ['↑ ↓ ← →', 'help.net'],
]);

/** Help dialog view; `toggle()` opens or closes it. */
export class HelpDialog {
  /** @param {HTMLElement} container the "help" slot */
  constructor(container, { i18n }) {
    this.i18n = i18n;
    this.title = h('h2', { id: 'help-title', tabindex: '-1', dataset: { i18n: 'help.title' } });
    this.dialog = h('dialog', { class: 'help', 'aria-labelledby': 'help-title' },
      this.title,
      h('table', { class: 'keys' },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col', dataset: { i18n: 'help.key' } }), h('th', { scope: 'col', dataset: { i18n: 'help.action' } }))),
        h('tbody', {}, SHORTCUT_HELP.map(([k, key]) => h('tr', {}, h('td', {}, k === 'Space' ? h('kbd', { dataset: { i18n: 'key.space' } }) : h('kbd', {}, k)), h('td', { dataset: { i18n: key } }))))),
      h('p', { class: 'help-about', dataset: { i18n: 'help.about' } }),
      h('p', { class: 'help-counting', dataset: { i18n: 'help.counting' } }),
      h('form', { method: 'dialog' }, h('button', { class: 'btn', value: 'close', dataset: { i18n: 'help.close' } })));
    container.append(this.dialog);
    i18n.apply(this.dialog);
  }

  /** Whether the dialog is showing. */
  get open() {
    return this.dialog.open;
  }

  /** Open if closed, close if open. */
  toggle() {
    if (this.dialog.open) this.dialog.close();
    else {
      this.dialog.showModal();
      // showModal focuses the first button, at the bottom: a short screen (a projector at
      // 1280×720) would open scrolled past the title and the first shortcuts
      this.title.focus();
      this.dialog.scrollTop = 0;
    }
  }

  /** Relabel on `lang`. */
  update({ kind }) {
    if (kind === 'lang') this.i18n.apply(this.dialog);
  }
}
