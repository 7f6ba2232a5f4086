/**
 * The page's "lesson" slot, kept small so the page loads fast: the lesson
 * panel (lesson-panel.js and the TeX converter, the step view, the controls
 * table) is fetched the first time a lesson opens — from the address, the
 * course list, or a teacher's `lesson_step` reaching a class. Until then every
 * page action is allowed (no lesson step restricts any) and the events the
 * panel will need (the connection, class mode, sharing, the play state, a
 * class's answers: the latest of each; every lesson step, check and recorded
 * answer) are kept to hand to it when it is built
 * (views/lazy-slot.js). The course list ("courses" slot) is loaded the same
 * way on the first "Lessons" (main.js).
 */

import { askedLesson } from './lesson-link.js';
import { LazySlot, loadStyle } from '../views/lazy-slot.js';

/** The lesson panel's and the course list's stylesheet, loaded with their code. */
export const LESSON_STYLE = 'static/css/lesson-panel.css';

/** Event kinds whose latest instance a panel built later must see (a run carries a state too). */
const LATEST = Object.freeze({ connection: 'connection', 'follow-mode': 'follow-mode', run: 'state', state: 'state',
  share: 'share', lesson_answers: 'lesson_answers' });
/** Event kinds each kept (in order) for a panel built later. */
const QUEUED = new Set(['lesson_step', 'lesson_check', 'lesson_recorded']);

/** Stands in the "lesson" slot for lesson-panel.js's LessonPanel (see the module comment). */
export class LessonSlot extends LazySlot {
  /**
   * @param {HTMLElement} container the "lesson" slot
   * @param {object} options the page's view options (i18n, act, catalog)
   */
  constructor(container, options) {
    let queued = 0;
    super(container, options, {
      load: () => Promise.all([import('./lesson-panel.js'), loadStyle(LESSON_STYLE), options.i18n.need('lessons')])
        .then(([m]) => m.LessonPanel),
      // the latest of LATEST's kinds; every one of QUEUED's (and an error once loading)
      keep: ({ kind }) => {
        if (Object.hasOwn(LATEST, kind)) return LATEST[kind];
        const queue = QUEUED.has(kind) || (kind === 'error' && this.loading);
        return queue ? `queued ${queued++}` : null;
      },
      when: ({ kind, msg }) => kind === 'lesson_step' && Boolean(msg.id), // a lesson opened (a teacher's too)
    });
    if (askedLesson(window.location.search)) this.load();
  }

  /** Whether page action `name` may run: the open step's say (no lesson, no restriction). */
  allows(name, state) {
    return this.view ? this.view.allows(name, state) : true;
  }

  /** Open step `step` of lesson `id` (the course list's links). */
  openStep(id, step) {
    this.call('openStep', id, step);
  }
}
