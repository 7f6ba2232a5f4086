/**
 * Errors and notices: the server's `error` messages (named by code in the
 * reader's language, with the server's detail; a diverging run's first
 * non-finite quantity in words, see where-words.js) and local notices such as
 * "not connected". Shown in a role="alert" box with a dismiss button.
 *
 * A new run clears the box, except for errors that explain that very run: a
 * class code nobody shares, or a full class, is answered with the page's own
 * run, which arrives just after the error (docs/protocol.md).
 */

import { h } from '../dom.js';
import { whereWords } from '../where-words.js';

/** Whether the server answers `error` with a new run of the page's own, which must not hide it. */
function announcesRun(msg) {
  return msg.code === 'unknown_code' || (msg.code === 'limit' && msg.limit === 'max_followers');
}

/** Notice view. */
export class NoticeView {
  /** @param {HTMLElement} container the "notices" slot */
  constructor(container, { i18n }) {
    this.i18n = i18n;
    this.text = h('span', { class: 'notice-text' });
    this.close = h('button', { type: 'button', class: 'icon-btn', dataset: { i18nAria: 'err.dismiss', i18nTitle: 'err.dismiss' },
      on: { click: () => this.hide() } }, '×');
    this.box = h('div', { class: 'notice', role: 'alert', hidden: true }, this.text, this.close);
    container.append(this.box);
    this.current = null;
    i18n.apply(this.box);
  }

  hide() {
    this.box.hidden = true;
    this.current = null;
  }

  render() {
    const c = this.current;
    if (!c) return;
    this.box.dataset.tone = c.tone || 'problem'; // 'info': good news (a run restored)
    const t = (k) => this.i18n.t(k);
    if (c.local) this.text.textContent = this.i18n.t(c.local, c.params);
    else {
      const key = this.i18n.has(`err.${c.code}`) ? `err.${c.code}` : 'err.other';
      this.text.textContent = `${t(key)}: ${this.detail(c)}`;
      // the server's own sentence names internal ids (loss.data, L2.z): the words above say it
      if (c.code === 'nonfinite') this.text.removeAttribute('title');
      else this.text.title = c.message;
    }
    this.box.hidden = false;
  }

  /**
   * The error's detail in the reader's language, built from the structured
   * fields the server sends (phase, where, limit, field); the server's own
   * English sentence is used only when there are none (and kept as a tooltip).
   */
  detail(c) {
    const t = (k, p) => this.i18n.t(k, p);
    if (c.code === 'unknown_code' || c.code === 'read_only') return t(`err.detail.${c.code}`);
    if (c.code === 'limit' && c.limit === 'max_followers') return t('err.detail.max_followers');
    if (c.code === 'nonfinite' && c.phase) {
      const phase = this.i18n.has(`phase.${c.phase}`) ? t(`phase.${c.phase}`) : c.phase;
      return t('err.detail.nonfinite', { where: whereWords(this.i18n, c.where), phase, iteration: c.iteration ?? '?' });
    }
    if (c.limit) return t('err.detail.limit', { limit: c.limit });
    if (c.field) return t('err.detail.field', { field: c.field });
    return this.i18n.lang === 'en' ? c.message : t('err.detail.server');
  }

  /** `error` shows the server's error; `notice` a local one ({key}); a new run clears it
   * (but the run an error announces, see the module comment). */
  update({ kind, msg }) {
    if (kind === 'error') this.current = { ...msg, announcesRun: announcesRun(msg) };
    else if (kind === 'notice') this.current = { local: msg.key, params: msg.params, tone: msg.tone, announcesRun: Boolean(msg.announcesRun) };
    else if (kind === 'run') {
      if (this.current && this.current.announcesRun) {
        this.current.announcesRun = false; // kept for this run only
        return undefined;
      }
      return this.hide();
    }
    else if (kind === 'lang') this.i18n.apply(this.box);
    else return undefined;
    return this.render();
  }
}
