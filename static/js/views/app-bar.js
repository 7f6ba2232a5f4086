/**
 * The header: title, connection status, "Lessons" (the course), "Share with class" (it reads
 * "Sharing · 3" while the run is shared; hidden while following a class),
 * language switch, presentation-mode toggle and help button. Buttons call
 * `act(name, arg)`.
 */

import { h } from '../dom.js';
import { LANGS } from '../i18n.js';

/** Endonyms: each language is named in itself, as language switches usually do. */
const LANG_NAMES = Object.freeze({ ja: '日本語', en: 'English' });

/** Header view. */
export class AppBar {
  /** @param {HTMLElement} container the "app-bar" slot */
  constructor(container, { i18n, act }) {
    this.i18n = i18n;
    this.container = container;
    this.status = h('span', { class: 'conn', role: 'status', dataset: { state: 'connecting' } });
    this.langButtons = LANGS.map((l) => h('button', {
      type: 'button', class: 'lang-btn', lang: l, dataset: { lang: l }, 'aria-pressed': 'false',
      on: { click: () => act('lang', l) },
    }, LANG_NAMES[l]));
    this.presentBtn = h('button', { type: 'button', class: 'icon-btn present-btn', 'aria-pressed': 'false',
      dataset: { i18nAria: 'app.present', i18nTitle: 'app.present' }, on: { click: () => act('present') } }, h('span', { dataset: { i18n: 'app.presentShort' } }));
    this.shareBtn = h('button', { type: 'button', class: 'btn share-btn', 'aria-haspopup': 'dialog',
      dataset: { i18nTitle: 'share.buttonTitle' }, on: { click: () => act('share-open') } });
    this.share = { code: null, followers: 0 };
    // the course (lessons/course-list.js); a class's student follows the teacher's lesson instead
    this.lessonsBtn = h('button', { type: 'button', class: 'btn lessons-btn', 'aria-haspopup': 'dialog',
      dataset: { i18n: 'lessons.button' }, on: { click: () => act('lessons-open') } });
    this.helpBtn = h('button', { type: 'button', class: 'icon-btn help-btn',
      dataset: { i18nAria: 'app.help', i18nTitle: 'app.help' }, on: { click: () => act('help') } }, '?');
    container.append(
      h('div', { class: 'brand' },
        h('h1', { dataset: { i18n: 'app.title' } }),
        h('p', { class: 'tagline', dataset: { i18n: 'app.tagline' } })),
      h('div', { class: 'bar-tools' },
        this.status,
        this.lessonsBtn,
        this.shareBtn,
        h('div', { class: 'lang-switch', role: 'group', dataset: { i18nAria: 'app.lang' } }, this.langButtons),
        this.presentBtn, this.helpBtn));
    this.conn = { state: 'connecting' };
    this.relabel();
  }

  relabel() {
    this.i18n.apply(this.container);
    for (const b of this.langButtons) b.setAttribute('aria-pressed', String(b.dataset.lang === this.i18n.lang));
    this.renderStatus();
    this.renderShare();
  }

  renderShare() {
    const { code, followers } = this.share;
    this.shareBtn.textContent = code ? this.i18n.t('share.buttonOn', { n: followers }) : this.i18n.t('share.button');
    this.shareBtn.classList.toggle('is-sharing', Boolean(code));
  }

  renderStatus() {
    const c = this.conn;
    // a class the teacher stopped sharing: the page let its socket go on purpose, no fault
    const over = c.state === 'ended' && this.classOver;
    this.status.dataset.state = over ? 'over' : c.state;
    this.status.textContent = c.state === 'open' ? this.i18n.t('conn.open')
      : c.state === 'closed' ? this.i18n.t('conn.retry', { s: (c.retryIn / 1000).toFixed(1) })
        : over ? this.i18n.t('conn.over') : c.state === 'ended' ? this.i18n.t('conn.ended') : this.i18n.t('conn.connecting');
  }

  /** `connection` events carry {state, retryIn}; `present` toggles the pressed state;
   * `share` (code, followers) relabels the share button; `follow-mode` hides it while following. */
  update({ kind, msg }) {
    if (kind === 'lang') this.relabel();
    else if (kind === 'share') {
      this.share = { code: msg.code || null, followers: msg.followers || 0 };
      this.renderShare();
    } else if (kind === 'follow-mode') {
      this.shareBtn.hidden = msg.readOnly;
      this.lessonsBtn.hidden = msg.readOnly;
      this.classOver = msg.status === 'stopped' || msg.status === 'ended';
      this.renderStatus();
    }
    else if (kind === 'connection') {
      this.conn = msg;
      this.renderStatus();
    } else if (kind === 'present') this.presentBtn.setAttribute('aria-pressed', String(msg.on));
  }
}
