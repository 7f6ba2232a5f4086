/**
 * The course: a modal dialog listing every lesson (`GET /api/lessons?lang=`)
 * with its title, summary, concepts, minutes and steps, opened from the app
 * bar's "Lessons". Each title is a real link to `/?lesson=ID&step=1` (a new
 * tab works, a copied link works); a plain click opens the lesson in this page
 * instead (`act('lesson-open')`, views/lesson-panel.js), with no reload.
 * The list is fetched when the dialog opens and again when the language
 * changes while it is open. Escape closes it (native dialog behaviour).
 */

import { h } from '../dom.js';
import { fetchLessons, lessonHref } from './lesson-link.js';
import { inlineMath } from './lesson-math.js';

/** The course dialog view; `show()` opens it. */
export class CourseList {
  /**
   * @param {HTMLElement} container the "courses" slot
   * @param {{i18n: object, act: (name: string, arg?: any) => void}} options
   */
  constructor(container, { i18n, act }) {
    this.i18n = i18n;
    this.act = act;
    /** The lesson open on the page (marked in the list), or null. */
    this.current = null;
    this.lessons = null; // the latest list, in `this.lang`
    this.lang = null;
    this.title = h('h2', { id: 'courses-title', tabindex: '-1', dataset: { i18n: 'lessons.title' } });
    this.list = h('ol', { class: 'course-list' });
    this.status = h('p', { class: 'course-status', role: 'status' });
    this.dialog = h('dialog', { class: 'courses', 'aria-labelledby': 'courses-title' },
      h('div', { class: 'course-head' }, this.title,
        h('form', { method: 'dialog' }, h('button', { class: 'icon-btn course-close', value: 'close', dataset: { i18nAria: 'lessons.close', i18nTitle: 'lessons.close' } }, '×'))),
      h('p', { class: 'course-intro', dataset: { i18n: 'lessons.intro' } }),
      this.status, this.list);
    container.append(this.dialog);
    i18n.apply(this.dialog);
  }

  /** Whether the dialog is showing. */
  get open() {
    return this.dialog.open;
  }

  /** Open the dialog on the course (fetched in the page's language). */
  show() {
    if (!this.dialog.open) this.dialog.showModal();
    this.title.focus();
    this.load();
  }

  async load() {
    const lang = this.i18n.lang;
    if (this.lessons && this.lang === lang) {
      this.render();
      return;
    }
    this.status.textContent = this.i18n.t('lessons.loading');
    try {
      const body = await fetchLessons('api/lessons', lang);
      if (lang !== this.i18n.lang) return; // the language changed meanwhile: that load wins
      this.lessons = body.lessons;
      this.lang = lang;
      this.status.textContent = '';
      this.render();
    } catch {
      this.status.textContent = this.i18n.t('lessons.failed');
    }
  }

  render() {
    const t = (k, p) => this.i18n.t(k, p);
    this.list.replaceChildren(...(this.lessons || []).map((l) => {
      const link = h('a', { href: lessonHref(l.id), class: 'course-link',
        on: { click: (ev) => {
          if (ev.button !== 0 || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.altKey) return; // a new tab or window
          ev.preventDefault();
          this.dialog.close();
          this.act('lesson-open', { id: l.id, step: 1 });
        } } }, inlineMath(l.title));
      const concepts = h('ul', { class: 'course-concepts', 'aria-label': t('lessons.concepts') },
        l.concepts.map((c) => h('li', {}, this.i18n.has(`concept.${c}`) ? t(`concept.${c}`) : c)));
      const open = this.current === l.id;
      return h('li', { class: open ? 'course-item is-open' : 'course-item', dataset: { lesson: l.id } },
        h('h3', { class: 'course-title' }, h('span', { class: 'course-n' }, `${l.order}.`), ' ', link,
          open ? h('span', { class: 'course-now' }, t('lessons.current')) : null),
        h('p', { class: 'course-summary' }, inlineMath(l.summary)),
        h('p', { class: 'course-meta' },
          h('span', {}, t('lessons.minutes', { n: l.minutes })), ' · ',
          h('span', {}, t('lessons.steps', { n: l.steps }))),
        concepts);
    }));
  }

  /** `lang` relabels (and refetches while open); `lesson` (the panel's) marks the open lesson. */
  update({ kind, msg }) {
    if (kind === 'lang') {
      this.i18n.apply(this.dialog);
      if (this.dialog.open) this.load();
    } else if (kind === 'lesson_step') {
      this.current = msg.id || null;
    }
  }
}
