/**
 * Errors and notices: the server's `error` messages (named by code in the
 * reader's language, with the server's detail; a diverging run's first
 * non-finite quantity in words, see where-words.js) and local notices such as
 * "not connected"; a limit in words (its id and numbers behind "details"). Shown in a role="alert" box with a dismiss button. The
 * server's own sentence, when it says more than the words shown, is one tap
 * or keypress away (a <details> disclosure: no hovering, which a phone cannot
 * do), labelled in the reader's language.
 *
 * A new run clears the box, except for errors that explain that very run: a
 * class code nobody shares, or a full class, is answered with the page's own
 * run, which arrives just after the error (docs/protocol.md).
 */

import { h } from '../dom.js';
import { whereWords } from '../where-words.js';
import { recordIteration } from '../counting.js';
import { settingLabelKey } from './controls-view.js';

/** Whether the server answers `error` with a new run of the page's own, which must not hide it. */
function announcesRun(msg) {
  return msg.code === 'unknown_code' || (msg.code === 'limit' && msg.limit === 'max_followers');
}

/** Notice view. */
export class NoticeView {
  /** @param {HTMLElement} container the "notices" slot */
  constructor(container, { i18n, catalog }) {
    this.i18n = i18n;
    this.catalog = catalog;
    this.text = h('span', { class: 'notice-text' });
    this.serverText = h('p', { class: 'notice-server', lang: 'en' });
    this.more = h('details', { class: 'notice-more', hidden: true },
      h('summary', { dataset: { i18n: 'err.detail.server' } }), this.serverText);
    this.close = h('button', { type: 'button', class: 'icon-btn', dataset: { i18nAria: 'err.dismiss', i18nTitle: 'err.dismiss' },
      on: { click: () => this.hide() } }, '×');
    this.kept = h('p', { class: 'notice-kept', hidden: true });
    this.box = h('div', { class: 'notice', role: 'alert', hidden: true },
      h('div', { class: 'notice-body' }, this.text, this.kept, this.more), this.close);
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
    let words = null;
    if (c.local) this.text.textContent = this.i18n.t(c.local, c.params);
    else {
      const key = this.i18n.has(`err.${c.code}`) ? `err.${c.code}` : 'err.other';
      const detail = this.detail(c);
      this.text.textContent = detail ? `${t(key)}: ${detail}` : t(key);
      words = this.serverWords(c, detail);
    }
    this.kept.textContent = c.kept ? this.i18n.t('link.kept') : '';
    this.kept.hidden = !c.kept;
    this.serverText.textContent = words || '';
    this.more.hidden = !words;
    if (!words) this.more.open = false;
    this.box.hidden = false;
  }

  /**
   * The error's detail in the reader's language, built from the structured
   * fields the server sends (phase, where, limit, field); the server's own
   * English sentence is used only when there are none, in English (else it is
   * behind "details", {@link NoticeView#serverWords}).
   */
  detail(c) {
    const t = (k, p) => this.i18n.t(k, p);
    if (c.code === 'unknown_code' || c.code === 'read_only') return t(`err.detail.${c.code}`);
    // a CSV's row and column, a drawing's reason (`learn`), in the reader's words
    if ((c.code === 'csv' || c.code === 'learn') && this.i18n.has(`${c.code}.${c.reason}`)) return t(`${c.code}.${c.reason}`, c);
    if (c.code === 'limit' && c.limit === 'max_followers') return t('err.detail.max_followers');
    if (c.code === 'nonfinite' && c.phase) {
      const phase = this.i18n.has(`phase.${c.phase}`) ? t(`phase.${c.phase}`) : c.phase;
      return t('err.detail.nonfinite', { where: whereWords(this.i18n, c.where), phase, iteration: c.iteration == null ? '?' : recordIteration(c.iteration) });
    }
    if (c.limit && this.i18n.has(`err.limit.${c.limit}`)) return t(`err.limit.${c.limit}`);
    if (c.limit) return t('err.detail.limit', { limit: c.limit });
    // a run setting (a link's `config.lr`): by its control's name, and its range where it has one
    const p = c.field && this.catalog && this.catalog.setting(c.field.replace(/^config\./, ''));
    if (p) {
      const label = t(settingLabelKey(p.name));
      return p.max === undefined ? t('err.detail.field', { field: label }) : t('err.detail.range', { label, min: p.min, max: p.max });
    }
    if (c.field) return t('err.detail.field', { field: c.field });
    return this.i18n.lang === 'en' ? c.message : '';
  }

  /** The server's sentence for the details disclosure, or null when the words shown say it all. */
  serverWords(c, detail) {
    if (!c.message || c.message === detail) return null;
    // words of the page's own for these; a halt's sentence names internal ids (loss.data, L2.z)
    if (['nonfinite', 'unknown_code', 'read_only', 'csv', 'learn'].includes(c.code)) return null;
    if (c.code === 'limit' && c.limit === 'max_followers') return null;
    return c.message;
  }

  /** Render the notice shown now once the page's later words are loaded. */
  renderLater() {
    const shown = this.current;
    this.i18n.need('later').catch(() => {}).then(() => { if (this.current === shown) this.render(); });
  }

  /** `error` shows the server's error; `notice` a local one ({key}); a new run clears it
   * (but the run an error announces, see the module comment). */
  update({ kind, msg }) {
    if (kind === 'error') {
      this.current = { ...msg, announcesRun: announcesRun(msg) };
      if (((msg.code === 'csv' || msg.code === 'learn') && !this.i18n.has(`${msg.code}.${msg.reason}`))
          || (msg.limit && !this.i18n.has(`err.limit.${msg.limit}`))) {
        return this.renderLater(); // (their words load with the page's later ones)
      }
    } else if (kind === 'notice') this.current = { local: msg.key, params: msg.params, tone: msg.tone, announcesRun: Boolean(msg.announcesRun) };
    else if (kind === 'run') {
      if (this.current && this.current.announcesRun) {
        this.current.announcesRun = false; // kept for this run only
        return undefined;
      }
      return this.hide();
    }
    else if (kind === 'csv-picked' && this.current && this.current.code === 'csv') return this.hide();
    else if (kind === 'link-refused' && this.current && !this.current.local) {
      this.current.kept = true;
      return this.renderLater();
    }
    else if (kind === 'lang') this.i18n.apply(this.box);
    else return undefined;
    return this.render();
  }
}
