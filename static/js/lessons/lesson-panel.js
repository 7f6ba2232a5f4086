/**
 * The lesson panel (the page's "lesson" slot): the open lesson step beside the
 * network on a desk, a sheet from the bottom on a phone (css/lessons.css).
 *
 * The server runs the lesson (docs/lessons.md): this view sends the `lesson`
 * command through `act` (open a step, check a prediction, leave) and follows
 * the `lesson_step` and `lesson_check` messages; the step's words come from
 * `GET /api/lessons/{id}?lang=` in the page's language and are fetched again
 * when it changes. A `/?lesson=ID&step=N` address opens that step once the
 * socket is open, and the address follows the step open (never while
 * following a class: the address is then the class's link).
 *
 * It applies the step's `controls` to the rest of the page
 * (lesson-controls.js), and {@link LessonPanel#allows} tells main.js which
 * page actions the step leaves usable.
 *
 * In class, a student's page shows the teacher's step as it opens; the
 * student predicts and sends their answer (`lesson-check`): until the teacher
 * reveals the result the server records it (`lesson_recorded`: "Answer sent",
 * changeable) and counts it for the teacher (`lesson_answers`, counts only,
 * shown by class-answers.js on the teacher's page). The teacher's check that
 * carries the engine's value is the reveal: every student's page then asks
 * for its own verdict on the answer it sent. Moving between steps and leaving
 * are the teacher's.
 *
 * Keyboard: Enter in the number field checks; Escape closes the answer, then
 * the hints, then (on a phone) folds the sheet; a new step takes the focus
 * to its heading.
 */

import { h } from '../dom.js';
import { LessonControls } from './lesson-controls.js';
import { askedLesson, fetchLessons, lessonAddress, lessonHref } from './lesson-link.js';
import { inlineMath } from './lesson-math.js';
import { StepView, freshState } from './lesson-step.js';
import { StepDownloads } from '../views/step-downloads.js';
import { tabGet, tabSet } from '../tab-store.js';

/** sessionStorage key of a student's answer sent to the class: {id, step, step_id, prediction}. */
const ANSWER_KEY = 'bpl.classAnswer';

/** The width at and under which the panel is a sheet (css/lessons.css's phone layout). */
const SHEET = '(max-width: 720px)';

/**
 * Scroll `el` into view within the panel's own scrolling box (the slot beside the
 * network, or the sheet), never the page: the network stays where the learner put it.
 */
function revealWithin(el) {
  for (let box = el.parentElement; box && box !== document.body; box = box.parentElement) {
    const { overflowY } = getComputedStyle(box);
    if ((overflowY !== 'auto' && overflowY !== 'scroll') || box.scrollHeight <= box.clientHeight) continue;
    const r = el.getBoundingClientRect();
    const b = box.getBoundingClientRect();
    const top = Math.max(b.top, 0); // the part of the box on screen (a tall box runs past the window)
    const bottom = Math.min(b.bottom, window.innerHeight);
    if (r.bottom > bottom) box.scrollTop += Math.min(r.bottom - bottom, r.top - top);
    else if (r.top < top) box.scrollTop -= top - r.top;
    break;
  }
  // the box scrolled to its end and the verdict still runs past the window: the page moves up
  const r = el.getBoundingClientRect();
  if (r.bottom > window.innerHeight && r.top > 0) window.scrollBy(0, Math.min(r.bottom - window.innerHeight, r.top));
}

/** The panel's own scrolling box (the slot beside the network, or the sheet), or null. */
function scroller(el) {
  for (let box = el.parentElement; box && box !== document.body; box = box.parentElement) {
    const { overflowY } = getComputedStyle(box);
    if (overflowY === 'auto' || overflowY === 'scroll') return box;
  }
  return null;
}

/** The lesson panel view (see the module comment). */
export class LessonPanel {
  /**
   * @param {HTMLElement} container the "lesson" slot
   * @param {{i18n: object, act: (name: string, arg?: any) => void, catalog: object}} options
   */
  constructor(container, { i18n, act, catalog }) {
    this.i18n = i18n;
    this.act = act;
    this.container = container;
    this.controls = new LessonControls(document, catalog);
    /** An optimizer state buffer's symbol by name (momentum_buffer → b; the catalog's). */
    this.stateSymbols = Object.fromEntries([...catalog.json.optimizers.flatMap((o) => o.state),
      catalog.json.accumulated].filter(Boolean).map((s) => [s.name, s.symbol]));
    this.sheet = window.matchMedia(SHEET);
    /** The step the address (or the course list) asks for, sent once the socket is open. */
    this.wanted = askedLesson(window.location.search);
    /** The open step (the latest `lesson_step`), or null. */
    this.open = null;
    /** The open lesson's words ({id, lang, body}), or null. */
    this.lesson = null;
    this.state = freshState();
    this.view = null;
    this.following = false;
    /** The class this page followed is over (the teacher stopped sharing). */
    this.over = false;
    /** The class code followed (a kept answer is that class's), and whether the page is
     * back from a dropped connection (its answer then goes again). */
    this.classCode = null;
    this.rejoined = false;
    /** The teacher's side of a class: the run is shared, and how many follow it. */
    this.sharing = false;
    this.classSize = 0;
    /** The class's latest `lesson_answers` for the open step (the teacher's page), or null. */
    this.answers = null;
    this.connected = false;
    this.playing = false;
    /** A check this page sent and has no answer to yet (a student tells it from the teacher's). */
    this.pending = undefined;
    this.focusNext = false;
    this.loads = 0;

    const t = (k, p) => i18n.t(k, p);
    this.name = h('p', { class: 'lesson-name' });
    this.progress = h('p', { class: 'lesson-progress' });
    this.foldBtn = h('button', { type: 'button', class: 'icon-btn lesson-fold', 'aria-expanded': 'true',
      'aria-controls': 'lesson-body', on: { click: () => this.fold(!this.root.classList.contains('is-folded')) } });
    this.leaveBtn = h('button', { type: 'button', class: 'btn btn-small lesson-leave', on: { click: () => this.leave() } });
    this.body = h('div', { class: 'lesson-body', id: 'lesson-body' });
    this.prevBtn = h('button', { type: 'button', class: 'btn lesson-prev', on: { click: () => this.go(-1) } });
    this.nextBtn = h('button', { type: 'button', class: 'btn lesson-next', on: { click: () => this.next() } });
    this.classNote = h('p', { class: 'lesson-class-note hint' });
    // the iteration shown, as files to check by hand (views/step-downloads.js): folded
    // between the step buttons, so the step keeps its height
    const files = h('details', { class: 'lesson-step-files' },
      h('summary', { dataset: { i18n: 'step.short' } }, i18n.t('step.short')));
    this.stepFiles = new StepDownloads(files, { i18n });
    this.nav = h('nav', { class: 'lesson-nav' }, this.prevBtn, files, this.nextBtn);
    this.root = h('section', { class: 'panel lesson-panel', hidden: true, 'aria-labelledby': 'lesson-step-title' },
    h('header', { class: 'lesson-head' },
      h('div', { class: 'lesson-where' }, this.name, this.progress), this.foldBtn, this.leaveBtn),
    this.body, this.classNote, this.nav);
    container.append(this.root);
    // Escape in the panel, or with the focus nowhere in particular (a phone after a tap on the
    // network); a dialog or the inspector open takes it first
    document.addEventListener('keydown', (ev) => {
      if (ev.key !== 'Escape' || ev.defaultPrevented || this.root.hidden) return;
      if (this.root.contains(ev.target) || ev.target === document.body) this.onKey(ev);
    });
    this.t = t;
    this.controls.say = t;
    // views redraw parts of the page the step hides (the inspector, a rebuilt run): mark them again
    this.observer = new MutationObserver((records) => {
      // elements added (a panel built, a menu refilled), not numbers rewritten at every frame
      if (!records.some((r) => [...r.addedNodes].some((n) => n.nodeType === Node.ELEMENT_NODE))) return;
      if (this.controls.controls && !this.reapply) {
        this.reapply = requestAnimationFrame(() => {
          this.reapply = 0;
          this.controls.apply();
        });
      }
    });
    this.reapply = 0;
  }

  /** Whether page action `name` may run in the open step (main.js asks before every action). */
  allows(name, state) {
    return this.following || this.controls.allows(name, state);
  }

  // ---- commands -----------------------------------------------------------------------

  /** Open step `step` of lesson `id` (the course list, the arrows, a link). */
  openStep(id, step) {
    this.wanted = { id, step };
    if (this.connected && !this.following) this.act('lesson', { action: 'open', id, step });
  }

  go(delta) {
    if (!this.open) return;
    const n = this.open.step + delta;
    if (n >= 1 && n <= this.open.steps) this.openStep(this.open.id, n);
  }

  leave() {
    this.wanted = null;
    this.act('lesson', { action: 'leave' });
  }

  check(prediction) {
    if (!this.open) return;
    this.pending = prediction;
    this.act('lesson-check', { action: 'check', id: this.open.id, step: this.open.step, prediction });
  }

  /** The step's action through the page's own controls (the learner could press them too). */
  doAction() {
    const a = this.open && this.open.action;
    if (!a) return;
    if (a.do === 'step') {
      for (let k = 0; k < (a.count || 1); k += 1) this.act(a.unit === 'iteration' ? 'step-iteration' : 'step-phase');
    } else if (a.do === 'play') {
      if (this.playing) this.act('toggle-play'); // the same button pauses
      else this.act('play-at', a.speed);
    } else if (a.do === 'inspect') {
      this.act('inspect', { id: a.id, index: a.index });
    } else if (a.do === 'learn' || a.do === 'csv') {
      // the server learns the pad's drawing (or, with none, a picture of that class) as
      // the step's class, or loads the lesson's example table, then checks: the page
      // holds neither the drawing's pixels nor the example here
      this.act('lesson-check', { action: 'do', id: this.open.id, step: this.open.step });
    }
    // a sheet over the page (a phone): the network moves up, above it, to be watched
    const net = document.getElementById('network');
    if (this.sheet.matches && net) net.scrollIntoView({ block: 'start' });
  }

  // ---- messages -----------------------------------------------------------------------

  update({ kind, msg, model }) {
    this.stepFiles.update({ kind, msg, model });
    if (kind === 'connection') {
      // (back after a drop: the server let this page's class answer go with it)
      if (msg.state === 'open' && !this.connected && this.following) this.rejoined = true;
      this.connected = msg.state === 'open';
      if (this.connected && this.wanted && !this.following) this.openStep(this.wanted.id, this.wanted.step);
    } else if (kind === 'follow-mode') {
      this.following = msg.readOnly;
      this.classCode = msg.code || null;
      // the teacher stopped sharing: the page no longer talks to the class's run
      this.over = msg.status === 'stopped' || msg.status === 'ended';
      if (this.following) this.wanted = null;
      this.renderChrome();
    } else if (kind === 'lesson_step') {
      this.onStep(msg);
    } else if (kind === 'lesson_check') {
      this.onCheck(msg, model);
    } else if (kind === 'lesson_recorded') {
      this.onRecorded(msg);
    } else if (kind === 'lesson_answers') {
      if (this.open && msg.id === this.open.id && msg.step === this.open.step) this.answers = msg;
      this.syncClass();
    } else if (kind === 'share') {
      this.sharing = Boolean(msg.code);
      this.classSize = msg.followers || 0;
      this.syncClass();
    } else if (kind === 'lang') {
      this.renderChrome();
      this.controls.apply(); // (a concealed part's line, in the new language)
      if (this.open) this.load(true);
    } else if (kind === 'state' || kind === 'run') {
      this.playing = Boolean(model.state && model.state.playing);
      if (this.view) this.view.setPlaying(this.playing);
    } else if (kind === 'error' && this.wanted && !this.open && ['id', 'step'].includes(msg.field)) {
      this.wanted = null; // a link to a lesson or step there is not: the notice says so
      this.writeAddress(null);
    }
  }

  onStep(msg) {
    if (!msg.id) {
      // the focus was in the panel going away: to the course's button, where lessons start
      const hadFocus = this.root.contains(document.activeElement);
      if (hadFocus) document.querySelector('.lessons-btn')?.focus();
      this.open = null;
      this.lesson = null;
      this.wanted = null;
      this.view = null;
      this.controls.set(null);
      this.observer.disconnect();
      this.root.hidden = true;
      document.documentElement.classList.remove('lesson-open');
      if (!this.following) this.writeAddress(null);
      return;
    }
    const same = this.open && this.open.id === msg.id && this.open.step === msg.step;
    this.open = msg;
    this.wanted = this.following ? null : { id: msg.id, step: msg.step };
    if (!same) {
      this.state = freshState();
      this.answers = null;
      this.pending = undefined;
      this.focusNext = true;
      this.fold(false);
    }
    this.controls.set(msg.controls, msg.action, this.state.revealed);
    this.observer.observe(document.body, { childList: true, subtree: true });
    this.root.hidden = false;
    document.documentElement.classList.add('lesson-open');
    if (!this.following) this.writeAddress(msg.id, msg.step);
    this.load(false);
    // a student's page back from a reload (or a dropped connection): the answer it had
    // sent to this very step goes again (leaving, the page's answer stopped counting); after
    // the teacher's reveal it is judged at once, and the student sees their verdict again
    const back = this.rejoined;
    this.rejoined = false;
    if ((!same || back) && this.following && !this.state.revealed) {
      const kept = keptAnswer();
      if (kept && kept.code === this.classCode && kept.id === msg.id && kept.step === msg.step
        && kept.step_id === msg.step_id && kept.prediction !== null && kept.prediction !== undefined) {
        this.check(kept.prediction);
      }
    }
  }

  onCheck(msg, model) {
    if (!this.open || msg.id !== this.open.id || msg.step !== this.open.step) return;
    // a goal met at a metrics point (sent just before this check): its iteration, for a
    // step that does not reveal `iteration` itself
    if (msg.trigger === 'goal') {
      const last = model && model.metrics.length ? model.metrics[model.metrics.length - 1] : null;
      this.state.goalAt = last ? last.iteration : null;
    }
    const own = !this.following || (this.pending !== undefined && msg.trigger === 'check' && msg.prediction === this.pending);
    const valued = msg.actual !== null && msg.actual !== undefined;
    // a teacher's check before the value is computed reveals nothing: the class keeps answering
    if (!own && msg.trigger === 'check' && !valued) return;
    if (own) this.pending = undefined;
    const reveal = valued && !this.state.revealed && (!this.following || !own);
    if (reveal) {
      this.state.revealed = true;
      this.controls.reveal(); // (the Numbers panel a step concealed: its answer is out)
    }
    // a student keeps their own verdict when the teacher reveals: the reveal adds the numbers
    const whose = own || msg.trigger === 'goal' ? 'own' : 'teacher';
    if (this.view) {
      this.view.showCheck(msg, whose);
      revealWithin(this.view.verdict); // below the panel's fold, on a small screen
    } else {
      this.state.check = msg;
      this.state.whose = whose;
    }
    this.renderNav();
    if (this.view) {
      this.view.syncReveal();
      this.view.showRecorded();
    }
    this.syncClass();
    // the teacher revealed the result: the answer this student sent is judged now
    if (reveal && this.following && this.state.recorded !== null && msg.trigger !== 'goal') {
      this.check(this.state.recorded);
      return;
    }
    // a play stopped at its goal: the prediction made before it is judged now (not in a
    // class still answering: its value waits for the teacher's reveal)
    if (msg.trigger === 'goal' && this.view && msg.verdict === null && !msg.held) {
      const sent = this.following ? this.state.recorded : null;
      const p = sent !== null ? sent : this.view.prediction();
      if (p !== undefined && p !== null) this.check(p);
    }
  }

  /** A student's answer is recorded for the class (not judged until the teacher's reveal). */
  onRecorded(msg) {
    if (!this.open || msg.id !== this.open.id || msg.step !== this.open.step) return;
    this.pending = undefined;
    this.state.recorded = msg.prediction;
    if (this.view) this.view.showRecorded();
    tabSet(ANSWER_KEY, msg.prediction === null ? null : JSON.stringify(
      { code: this.classCode, id: msg.id, step: msg.step, step_id: msg.step_id, prediction: msg.prediction }));
  }

  /** The teacher's page: the class's answers beside the reveal, while the run is shared. */
  syncClass() {
    if (this.view) {
      this.view.showClass({ sharing: this.sharing && !this.following, answers: this.answers, followers: this.classSize });
    }
  }

  /** Fetch the open lesson's words in the page's language (again if `force`), then render. */
  async load(force) {
    const { id } = this.open;
    const lang = this.i18n.lang;
    if (!force && this.lesson && this.lesson.id === id && this.lesson.lang === lang) {
      this.render();
      return;
    }
    const n = ++this.loads;
    if (!this.view) this.body.replaceChildren(h('p', { class: 'hint' }, this.t('lesson.loading')));
    let body;
    try {
      body = await fetchLessons(`api/lessons/${encodeURIComponent(id)}`, lang);
    } catch {
      if (n === this.loads) this.body.replaceChildren(h('p', { class: 'hint' }, this.t('lessons.failed')));
      return;
    }
    if (n !== this.loads || !this.open || this.open.id !== id) return; // a newer step or language
    this.lesson = { id, lang, body };
    this.render();
    // the verdict's explanation is the server's, in the language it was asked in (a check
    // made before the value was computed has none: asked again, it would judge the answer
    // the learner has not asked to check since, and show what the step conceals)
    const c = this.state.check;
    const valued = c && c.actual !== null && c.actual !== undefined;
    if (force && valued && this.state.whose === 'own' && c.trigger === 'check' && c.prediction !== null) this.check(c.prediction);
  }

  render() {
    const step = this.lesson && this.lesson.body.steps[this.open.step - 1];
    if (!step) return;
    this.view = new StepView(step, this.state, {
      t: this.t,
      i18n: this.i18n,
      stateSymbols: this.stateSymbols,
      lang: this.i18n.lang,
      readOnly: this.following,
      onCheck: (p) => this.check(p),
      onAction: () => this.doAction(),
      // a csv step: the learner's own table (the run it starts becomes the lesson's), or
      // the lesson's example, which can be downloaded to look at
      onCsv: (file) => this.act('csv', file),
      example: this.lesson.body.example ? { name: this.lesson.body.example,
        href: `api/lessons/${encodeURIComponent(this.lesson.id)}/example.csv` } : null,
    });
    this.body.replaceChildren(this.view.root);
    this.view.setPlaying(this.playing);
    this.syncClass();
    this.renderChrome();
    if (this.focusNext) {
      this.focusNext = false;
      // a new step reads from its title (the box kept the last step's place, mid-text)
      const box = scroller(this.view.root);
      if (box) box.scrollTop = 0;
      if (!this.root.classList.contains('is-folded')) this.view.heading.focus({ preventScroll: this.sheet.matches });
      // a sheet (a phone): the network at the top of the screen, above it
      const net = document.getElementById('network');
      if (this.sheet.matches && net) net.scrollIntoView({ block: 'start' });
    }
  }

  renderChrome() {
    const t = this.t;
    this.leaveBtn.textContent = t('lesson.leave');
    this.leaveBtn.hidden = this.following;
    const folded = this.root.classList.contains('is-folded');
    this.foldBtn.textContent = folded ? '▴' : '▾';
    this.foldBtn.setAttribute('aria-label', t(folded ? 'lesson.unfold' : 'lesson.fold'));
    this.foldBtn.title = this.foldBtn.getAttribute('aria-label');
    this.classNote.textContent = !this.following ? '' : t(this.over ? 'lesson.classOver' : 'lesson.classNote');
    this.classNote.hidden = !this.following;
    // (nothing would reach the class now: a press said "Not connected")
    for (const b of this.root.querySelectorAll('.lesson-check, .lesson-choice, .lesson-number')) b.disabled = this.over;
    if (this.open) {
      this.name.replaceChildren(...(this.lesson ? inlineMath(this.lesson.body.title) : []));
      this.progress.textContent = t('lesson.stepOf', { n: this.open.step, of: this.open.steps });
    }
    this.renderNav();
  }

  renderNav() {
    const t = this.t;
    const o = this.open;
    this.nav.hidden = this.following || !o;
    if (!o) return;
    const done = Boolean(this.state.check && this.state.check.done);
    const last = o.step >= o.steps;
    this.prevBtn.textContent = `← ${t('lesson.prev')}`;
    this.prevBtn.disabled = o.step <= 1;
    this.nextBtn.textContent = last ? t(done ? 'lesson.finish' : 'lesson.leave') : `${t('lesson.next')} →`;
    this.nextBtn.classList.toggle('is-ready', done);
  }

  /** "Next step", or on the last step "Done": leave the lesson and offer the course. */
  next() {
    if (!this.open) return;
    if (this.open.step < this.open.steps) {
      this.go(1);
      return;
    }
    this.leave();
    this.act('lessons-open');
  }

  /** Fold the sheet to its header (a phone), or unfold it. */
  fold(on) {
    this.root.classList.toggle('is-folded', on);
    this.foldBtn.setAttribute('aria-expanded', String(!on));
    this.renderChrome();
  }

  onKey(ev) {
    if (!this.view) return;
    if (this.view.closeAnswer() || this.view.hideHints()) {
      ev.preventDefault();
      return;
    }
    if (this.sheet.matches && !this.root.classList.contains('is-folded')) {
      ev.preventDefault();
      this.fold(true);
      this.foldBtn.focus();
    }
  }

  /** The address bar: the open step's link alone (main.js holds the run's address meanwhile),
   * or, leaving, the address without the lesson (the run's comes back). */
  writeAddress(id, step) {
    const here = new URL(window.location.href);
    const href = id === null ? lessonAddress(here.href, null) : `${here.origin}${here.pathname}${lessonHref(id, step)}`;
    if (href !== window.location.href) window.history.replaceState(window.history.state, '', href);
  }
}

/** The answer this tab last sent to a class's lesson step, or null. */
function keptAnswer() {
  try {
    return JSON.parse(tabGet(ANSWER_KEY) || 'null');
  } catch {
    return null;
  }
}
