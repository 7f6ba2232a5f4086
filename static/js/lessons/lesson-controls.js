/**
 * A lesson step's `controls` on the page: `show` (empty: everything) hides the
 * rest, `lock` disables what it names, `conceal` hides a part whose numbers would
 * give the prediction away (the Numbers panel) until the prediction is checked. Names are the catalog's run settings
 * (`lr`, `optimizer`, `batch_size`…) or the page's own controls
 * (server/lessons.py's PAGE_CONTROLS). Where each one is on the page is this
 * module's table: the run buttons and slots by class and slot name, the run
 * settings by the ids views/controls-view.js gives the fields it builds from
 * the catalog (`#ctl-<main>` and `#adv-<path>`).
 *
 * It marks elements, never moves or rebuilds them: `data-lesson-hidden` (the
 * stylesheet hides it, css/lessons.css), `data-lesson-concealed` (css/lesson-panel.css
 * hides its contents and writes the attribute's words instead) and `disabled` plus
 * `data-lesson-locked` on what it disabled itself, so leaving the lesson
 * gives back exactly what was there. Views re-render on their own schedule,
 * so {@link LessonControls#apply} is cheap and called again after each run.
 *
 * {@link LessonControls#allows} tells main.js whether a page action (a
 * shortcut key too) is part of the step: a hidden or locked Play cannot be
 * started with the space bar either.
 */

/** The page's own controls: name → selectors of what they are on the page. */
const PAGE = Object.freeze({
  step_phase: ['.btn-step-phase'],
  step_iteration: ['.btn-step-iteration'],
  play: ['.btn-toggle-play', '.ctl-run .field:has(#ctl-speed)', '.tl-fastest'],
  pause: ['.btn-toggle-play'],
  reset: ['.btn-reset'],
  step_back: ['.tl-back-phase', '.tl-back-iteration'],
  timeline: ['[data-slot="timeline"]'],
  inspector: ['[data-slot="inspector"]', '[data-slot="graph"]'],
  map: ['[data-slot="maps"]'],
  charts: ['[data-slot="charts"]', '[data-slot="activation"]'],
  landscape: ['[data-slot="landscape"]'],
  edit_weight: ['.bpl-insp-edit'],
  add_points: ['.pts-bar'],
  network: ['#network', '[data-slot="gradbars"]'],
  settings: ['.ctl-net', '.ctl-adv'],
});
/** What a step may keep hidden until its prediction is checked (`controls.conceal`). */
const CONCEAL = Object.freeze({ numbers: ['[data-slot="stats"]'] });
/** Shown only when a step shows everything (nothing in a lesson's list names them). */
const EXTRA = Object.freeze(['[data-slot="runs"]']);
/** The run settings the main panel shows, and their fields' ids (views/controls-view.js). */
const MAIN_SETTINGS = Object.freeze({
  dataset: ['#ctl-dataset'], hidden: ['#ctl-layers', '#ctl-neurons'], activation: ['#ctl-activation'], lr: ['#ctl-lr'],
});
/** Page actions (main.js) → the controls they belong to. */
const ACTION_CONTROL = Object.freeze({
  'step-phase': 'step_phase', 'step-iteration': 'step_iteration', reset: 'reset',
  'phase-back': 'step_back', 'step-back': 'step_back', 'play-at': 'play', 'play-fastest': 'play',
  // a click on the network opens the inspector: not where the step hides it (it would take
  // the focus into a hidden panel)
  inspect: 'inspector', edit: 'edit_weight', 'add-points': 'add_points', landscape: 'landscape',
  seek: 'timeline', checkout: 'timeline',
});

/** The fields of run setting `name`: its inputs (by id) and the boxes that hold them. */
function settingFields(root, name) {
  if (MAIN_SETTINGS[name]) return MAIN_SETTINGS[name].map((s) => root.querySelector(s)).filter(Boolean);
  if (name === 'features') return [...root.querySelectorAll('.features')];
  if (name === 'optimizer' || name === 'schedule') return [...root.querySelectorAll(`[id^="adv-${name}-"]`)];
  const el = root.querySelector(`#adv-${CSS.escape(name)}`);
  return el ? [el] : [];
}

/** The box a field sits in (hidden with it). */
function box(el) {
  return el.closest('.field, .features') || el;
}

/** Applies one step's `controls` to the page, and undoes it. */
export class LessonControls {
  /**
   * @param {Document|HTMLElement} root where the page's controls are
   * @param {{settings: Array<{name: string}>}} catalog the catalog (its run settings' names)
   */
  constructor(root, catalog) {
    this.root = root;
    this.settingNames = new Set(catalog.settings.map((p) => p.name));
    /** The open step's controls, or null outside a lesson. */
    this.controls = null;
    /** The open step's action (what it asks for is always allowed). */
    this.action = null;
    /** Whether the open step's prediction is checked (its concealed parts show). */
    this.revealed = false;
    /** The page's words (set by the lesson panel): the concealed part's line. */
    this.say = null;
  }

  /**
   * Set the open step's controls and action (null: no lesson) and apply them; `revealed`:
   * its prediction is checked already (what it conceals shows).
   */
  set(controls, action, revealed = false) {
    this.controls = controls
      ? { show: controls.show || [], lock: controls.lock || [], conceal: controls.conceal || [] } : null;
    this.action = action || null;
    this.revealed = revealed;
    this.apply();
  }

  /** The step's prediction is checked: what the step concealed (its numbers) shows again. */
  reveal() {
    if (this.revealed) return;
    this.revealed = true;
    this.apply();
  }

  /** Whether control `name` is on screen in this step. */
  shows(name) {
    const c = this.controls;
    if (!c || !c.show.length || c.show.includes(name)) return true;
    if (name === 'pause') return c.show.includes('play');
    if (name === 'timeline') return c.show.includes('step_back');
    if (this.settingNames.has(name)) return c.show.includes('settings');
    return false;
  }

  /** Whether control `name` may be used in this step (shown, not locked, or the step's own action). */
  usable(name) {
    const c = this.controls;
    if (!c) return true;
    if (this.actionNeeds(name)) return true;
    return this.shows(name) && !c.lock.includes(name);
  }

  /** Whether the step's action is done with control `name`. */
  actionNeeds(name) {
    const a = this.action;
    if (!a) return false;
    if (a.do === 'step') return name === (a.unit === 'iteration' ? 'step_iteration' : 'step_phase');
    if (a.do === 'play') return name === 'play' || name === 'pause';
    if (a.do === 'inspect') return name === 'inspector' || name === 'network';
    if (a.do === 'edit') return ['inspector', 'network', 'edit_weight'].includes(name);
    return false;
  }

  /**
   * Whether page action `name` (main.js's table) may run in this step.
   * @param {string} name
   * @param {{playing?: boolean}} state the run's state (Play pauses while playing)
   */
  allows(name, state) {
    if (!this.controls) return true;
    if (name === 'toggle-play') return this.usable(state && state.playing ? 'pause' : 'play');
    const control = ACTION_CONTROL[name];
    return !control || this.usable(control);
  }

  /** Mark the page as the open step says (again: views may have rebuilt their parts). */
  apply() {
    const root = this.root;
    for (const el of root.querySelectorAll('[data-lesson-hidden]')) el.removeAttribute('data-lesson-hidden');
    for (const el of root.querySelectorAll('[data-lesson-concealed]')) el.removeAttribute('data-lesson-concealed');
    for (const el of root.querySelectorAll('[data-lesson-locked]')) {
      el.disabled = el.dataset.lessonLocked === 'was-disabled';
      el.removeAttribute('data-lesson-locked');
    }
    document.documentElement.classList.toggle('lesson-controls', Boolean(this.controls));
    if (!this.controls) {
      document.documentElement.classList.remove('lesson-no-controls', 'lesson-buttons-only');
      return;
    }
    const hide = (el) => el.setAttribute('data-lesson-hidden', '');
    const lock = (el) => {
      if (el.dataset.lessonLocked) return;
      el.dataset.lessonLocked = el.disabled ? 'was-disabled' : 'yes';
      el.disabled = true;
    };
    const all = (selectors) => selectors.flatMap((s) => [...root.querySelectorAll(s)]);
    const showing = this.controls.show.length > 0;
    for (const [name, selectors] of Object.entries(PAGE)) {
      if (name === 'pause' || name === 'settings') continue;
      const els = all(selectors);
      if (!this.shows(name) && !this.actionNeeds(name)) els.forEach(hide);
      else if (!this.usable(name)) els.forEach(lock);
    }
    if (showing) all(EXTRA).forEach(hide);
    // concealed: the part's contents hidden, a line in their place saying why (an attribute,
    // not an element: added elements would set the panel's observer marking the page again)
    if (!this.revealed) {
      const why = this.say ? this.say('lesson.concealed') : '';
      for (const name of this.controls.conceal) all(CONCEAL[name] || []).forEach((el) => el.setAttribute('data-lesson-concealed', why));
    }
    // the run settings: each field shown or hidden, locked or not; a section with
    // nothing left in it goes too, an advanced one with something in it opens
    const everySetting = this.shows('settings');
    for (const name of this.settingNames) {
      const fields = settingFields(root, name);
      if (!this.shows(name)) fields.forEach((f) => hide(box(f)));
      else if (!this.usable(name)) fields.forEach(lock);
    }
    if (!everySetting) {
      const net = root.querySelector('.ctl-net');
      const adv = root.querySelector('.ctl-adv');
      const visible = (sec) => [...sec.querySelectorAll('.field, .features')].some((f) => !f.closest('[data-lesson-hidden]') && !f.hidden);
      if (net && !visible(net)) hide(net);
      else if (net) net.querySelectorAll('.hint').forEach(hide);
      if (adv) {
        if (!visible(adv)) hide(adv);
        else {
          adv.open = true;
          for (const g of adv.querySelectorAll('.adv-group')) if (!visible(g)) hide(g);
        }
      }
    }
    const run = root.querySelector('.ctl-run');
    if (run && ![...run.querySelectorAll('.btn')].some((b) => !b.closest('[data-lesson-hidden]'))) hide(run);
    // nothing left in the controls' panel: the stylesheet gives its place to the lesson
    const left = ['.ctl-run', '.ctl-net', '.ctl-adv'].some((s) => {
      const el = root.querySelector(s);
      return el && !el.hasAttribute('data-lesson-hidden');
    });
    document.documentElement.classList.toggle('lesson-no-controls', !left);
    // only run buttons left (a phone keeps them in its bottom bar): no empty panel around them
    const fields = [...root.querySelectorAll('.controls .field, .controls .features')]
      .some((f) => !f.closest('[data-lesson-hidden]') && !f.hidden);
    document.documentElement.classList.toggle('lesson-buttons-only', left && !fields);
  }
}
