/**
 * The page's "lesson" and "courses" slots, kept small so the page loads fast:
 * the lesson panel (lesson-panel.js and the TeX converter, the step view, the
 * controls table) is fetched the first time a lesson opens — from the
 * address, the course list, or a teacher's `lesson_step` reaching a class —
 * and the course list the first time "Lessons" is pressed. Until then every
 * page action is allowed (no lesson step restricts any) and the events the
 * panel will need (the connection, class mode, the play state) are kept, the
 * latest of each, to hand to it when it is built.
 */

import { askedLesson } from './lesson-link.js';

/** Event kinds whose latest instance a panel built later must see. */
const LATEST = Object.freeze(['connection', 'follow-mode', 'run', 'state']);

/** Stands in the "lesson" slot for lesson-panel.js's LessonPanel (see the module comment). */
export class LessonSlot {
  /**
   * @param {HTMLElement} container the "lesson" slot
   * @param {object} options the page's view options (i18n, act, catalog)
   */
  constructor(container, options) {
    this.container = container;
    this.options = options;
    this.panel = null;
    this.loading = null;
    this.latest = new Map();
    this.queue = [];
    if (askedLesson(window.location.search)) this.load();
  }

  /** Fetch and build the panel (once); resolves to it. */
  load() {
    if (!this.loading) {
      this.loading = import('./lesson-panel.js').then(({ LessonPanel }) => {
        this.panel = new LessonPanel(this.container, this.options);
        for (const event of [...this.latest.values(), ...this.queue.splice(0)]) this.panel.update(event);
        this.latest.clear();
        return this.panel;
      });
    }
    return this.loading;
  }

  /** Whether page action `name` may run: the open step's say (no lesson, no restriction). */
  allows(name, state) {
    return this.panel ? this.panel.allows(name, state) : true;
  }

  /** Open step `step` of lesson `id` (the course list's links). */
  openStep(id, step) {
    this.load().then((panel) => panel.openStep(id, step));
  }

  /** One page event: to the panel, or kept for it. */
  update(event) {
    if (this.panel) {
      this.panel.update(event);
      return;
    }
    const { kind, msg } = event;
    if (LATEST.includes(kind)) this.latest.set(kind === 'run' ? 'state' : kind, event);
    else if (kind === 'lesson_step' || kind === 'lesson_check' || (kind === 'error' && this.loading)) this.queue.push(event);
    if (kind === 'lesson_step' && msg.id) this.load();
  }
}

/** Stands in the "courses" slot for course-list.js's CourseList, built on the first "Lessons". */
export class CourseSlot {
  /**
   * @param {HTMLElement} container the "courses" slot
   * @param {object} options the page's view options (i18n, act)
   */
  constructor(container, options) {
    this.container = container;
    this.options = options;
    this.list = null;
    this.loading = null;
    this.current = null; // the latest lesson_step, to mark the open lesson
  }

  /** Whether the course dialog is showing. */
  get open() {
    return Boolean(this.list && this.list.open);
  }

  /** Open the course dialog (fetching its code the first time). */
  show() {
    if (!this.loading) {
      this.loading = import('./course-list.js').then(({ CourseList }) => {
        this.list = new CourseList(this.container, this.options);
        if (this.current) this.list.update(this.current);
      });
    }
    this.loading.then(() => this.list.show());
  }

  update(event) {
    if (event.kind === 'lesson_step') this.current = event;
    if (this.list) this.list.update(event);
  }
}
