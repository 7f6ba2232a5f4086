/**
 * "Your class is watching this run": a modal <dialog> a teacher who shares the
 * run answers before an action replaces the run every student sees (reset, new
 * settings, a file opened, an earlier run) or ends their class (stop sharing). main.js asks it ({@link
 * ConfirmDialog#ask}) and acts only on a yes. Cancel has the keyboard first and
 * Escape cancels, so a stray key press changes nothing; the run replaced would
 * stay reachable anyway, under "Earlier runs", which the dialog says.
 */

import { h } from '../dom.js';

/** Confirm dialog view; `ask(action)` opens it and resolves true or false. */
export class ConfirmDialog {
  /** @param {HTMLElement} container the "confirm" slot */
  constructor(container, { i18n }) {
    this.i18n = i18n;
    this.action = null;
    this.params = {};
    this.resolve = null;
    this.body = h('p', { class: 'confirm-body', id: 'confirm-body' });
    this.cancelBtn = h('button', { value: 'cancel', class: 'btn confirm-cancel', dataset: { i18n: 'confirm.cancel' } });
    this.okBtn = h('button', { value: 'ok', class: 'btn confirm-ok' });
    this.dialog = h('dialog', { class: 'confirm-dialog', 'aria-labelledby': 'confirm-title', 'aria-describedby': 'confirm-body' },
      h('h2', { id: 'confirm-title', dataset: { i18n: 'confirm.title' } }),
      this.body,
      this.kept = h('p', { class: 'confirm-kept' }),
      h('form', { method: 'dialog', class: 'confirm-actions' }, this.cancelBtn, this.okBtn));
    // a button of the form closes it with its value; Escape closes it with '' (a no)
    this.dialog.addEventListener('close', () => this.settle(this.dialog.returnValue === 'ok'));
    container.append(this.dialog);
  }

  /** Whether the dialog is showing. */
  get open() {
    return this.dialog.open;
  }

  /**
   * Ask whether to go on with `action` (reset, configure, load, switch-run, lesson-open,
   * unshare).
   * @param {string} action
   * @param {object} [params] the question's numbers ({n}: how many follow)
   * @returns {Promise<boolean>}
   */
  ask(action, params = {}) {
    this.settle(false); // a question still open is answered no
    this.action = action;
    this.params = params;
    this.render();
    this.dialog.returnValue = '';
    if (!this.dialog.open) this.dialog.showModal();
    this.cancelBtn.focus();
    return new Promise((resolve) => { this.resolve = resolve; });
  }

  settle(yes) {
    const resolve = this.resolve;
    this.resolve = null;
    if (resolve) resolve(yes);
  }

  render() {
    this.i18n.apply(this.dialog);
    if (!this.action) return;
    const own = `confirm.kept.${this.action}`; // (what stays, where it differs from a replaced run)
    this.kept.textContent = this.i18n.t(this.i18n.has(own) ? own : 'confirm.kept');
    this.body.textContent = this.i18n.t(`confirm.${this.action}`, this.params);
    this.okBtn.textContent = this.i18n.t(`confirm.do.${this.action}`);
    this.dialog.dataset.action = this.action;
  }

  /** `lang` relabels. */
  update({ kind }) {
    if (kind === 'lang') this.render();
  }
}
