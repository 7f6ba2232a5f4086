/**
 * The bar a student sees while following a teacher's shared run: "Following
 * class run K7Q2XM" with "Make my own copy" and "Leave"; when the teacher
 * stops sharing (or the run ends) it says so and offers "Start my own run".
 * It draws main.js's `follow-mode` events ({readOnly, code, status}: status
 * 'joining', 'on', 'forking', 'stopped' or 'ended'; null when the page has its own run)
 * and calls `act('fork')` / `act('leave')` / `act('rejoin')` (after a stop: the
 * teacher may share again, under the same code).
 */

import { h } from '../dom.js';

/** Follow bar view. */
export class FollowBar {
  /** @param {HTMLElement} container the "follow" slot */
  constructor(container, { i18n, act }) {
    this.i18n = i18n;
    this.mode = { readOnly: false, code: null, status: null };
    this.title = h('strong', { class: 'follow-title' });
    this.note = h('span', { class: 'follow-note' });
    this.forkBtn = h('button', { type: 'button', class: 'btn follow-fork', dataset: { i18n: 'follow.fork' },
      on: { click: () => act('fork') } });
    this.leaveBtn = h('button', { type: 'button', class: 'btn follow-leave', dataset: { i18n: 'follow.leave' },
      on: { click: () => act('leave') } });
    this.ownBtn = h('button', { type: 'button', class: 'btn follow-own', dataset: { i18n: 'follow.own' },
      on: { click: () => act('leave') } });
    this.rejoinBtn = h('button', { type: 'button', class: 'btn follow-rejoin', dataset: { i18n: 'follow.rejoin' },
      on: { click: () => act('rejoin') } });
    this.text = h('p', { class: 'follow-text', role: 'status' }, this.title, ' ', this.note);
    this.bar = h('section', { class: 'follow-bar', hidden: true, dataset: { i18nAria: 'follow.region' } },
      this.text, h('div', { class: 'follow-actions' }, this.forkBtn, this.leaveBtn, this.rejoinBtn, this.ownBtn));
    container.append(this.bar);
    this.render();
  }

  render() {
    const t = (k, p) => this.i18n.t(k, p);
    const { code, status } = this.mode;
    this.i18n.apply(this.bar);
    this.bar.hidden = !status;
    this.bar.dataset.status = status || 'none';
    if (!status) return;
    const live = status === 'on' || status === 'joining' || status === 'forking';
    this.title.textContent = status === 'joining' ? t('follow.joining', { code })
      : status === 'on' ? t('follow.on', { code }) : t(`follow.${status}`);
    this.note.textContent = status === 'on' ? t('follow.note')
      : status === 'stopped' ? t('follow.stoppedNote', { code }) : '';
    this.forkBtn.hidden = status !== 'on';
    this.leaveBtn.hidden = !live || status === 'forking';
    this.rejoinBtn.hidden = status !== 'stopped';
    this.ownBtn.hidden = live;
  }

  /** `follow-mode` and `lang`. */
  update({ kind, msg }) {
    if (kind === 'follow-mode') this.mode = msg;
    else if (kind !== 'lang') return;
    this.render();
  }
}
