/**
 * The page's "inspector" slot, kept small so the page loads fast: it opens on
 * a click (or Enter) on any edge or neuron of the network diagram and loads
 * the inspector itself (inspector.js: MathML, tables, the edit form) the first
 * time one is opened. It follows `inspect` and `edit` messages and the phase
 * of each `frame`, and turns edits and closing into actions.
 *
 * Where it opens is the stylesheet's (css/screens.css): beside the network on a
 * desk, a sheet from the bottom on a phone, a column of its own on a projector.
 * On a desk the sheet starts under the map when the map heads its column, so a
 * learner inspecting a neuron clicks a data point to follow that one sample.
 * Opened from this page it takes the focus (a screen reader reads its title;
 * Escape closes it) and, closed, gives the focus back to the neuron or edge that
 * opened it; opened by a teacher on a followed class's run it takes nothing.
 */

import { classPhrase } from '../class-names.js';

/** The least share of the window's height a desk's side sheet keeps when it starts under the map. */
const SHEET_MIN = 0.45;

/** Element id of the network view ("L2.W.1.0", "L1.a.3") → an inspect target. */
export function targetOf(elementId) {
  const mm = /^L(\d+)\.(W|a|b)\.(\d+)(?:\.(\d+))?$/.exec(elementId || '');
  if (!mm) return null;
  const l = Number(mm[1]);
  if (mm[2] === 'W') return { id: `L${l}.W`, index: [Number(mm[3]), Number(mm[4])] };
  if (l === 0) return null;
  return { id: `L${l}.${mm[2]}`, index: [Number(mm[3])] };
}

/** The "inspector" slot's view (see the module comment). */
export class InspectorPanel {
  /**
   * @param {HTMLElement} container the "inspector" slot
   * @param {{i18n: {t: Function}, act: (name: string, arg?: any) => void}} options
   */
  constructor(container, { i18n, act }) {
    this.act = act;
    this.container = container;
    this.i18n = i18n;
    this.inspector = null;
    this.loading = null;
    this.queue = [];
    /** The run's settings (a learner's CSV names its classes there). */
    this.config = null;
    /** "Download: NumPy script / PyTorch script / notebook" of the iteration shown, under what
     * is inspected (step-downloads.js, loaded with the inspector), and the event it needs. */
    this.stepFiles = null;
    this.lastEvent = null;
    /** What opened the inspector from this page, to give the focus back to on closing. */
    this.opener = null;
    /** Whether the next inspector shown was asked for here (it then takes the focus). */
    this.asked = false;
    const open = (ev) => {
      const el = ev.target.closest && ev.target.closest('.net-svg [data-id]');
      if (!el) return;
      const target = targetOf(el.dataset.id);
      if (!target) return;
      this.opener = el;
      this.asked = true;
      act('inspect', target);
    };
    document.addEventListener('click', open);
    // a side sheet (a desk) starts under the header while the header is in sight, so the
    // language, presentation and help buttons stay within reach, and under a class's follow
    // bar (its Rejoin, Leave, copy buttons are on the right, where the sheet is: a teacher's
    // inspector stays open on a student's page after sharing stops), and under a notice in
    // sight (its × that dismisses it is on the right too); and under the map when
    // the map heads the sheet's column (css/screens.css puts it there while inspecting) and
    // leaves the sheet room, so a click on a data point still follows that one sample
    const below = () => {
      let top = 8;
      for (const el of document.querySelectorAll('.app-bar, .follow-bar, [data-slot="notices"] .notice:not([hidden])')) {
        const r = el.getBoundingClientRect();
        if (r.height > 0) top = Math.max(top, r.bottom + 8);
      }
      const sheet = this.inspector && !this.inspector.root.hidden ? this.inspector.root : null;
      const map = sheet ? document.querySelector('.bpl-maps .bpl-map-canvas') : null;
      if (map) {
        const s = sheet.getBoundingClientRect();
        const r = map.getBoundingClientRect();
        const inColumn = r.width > 0 && r.right > s.left && r.left < s.right;
        if (inColumn && r.bottom > top && window.innerHeight - (r.bottom + 8) >= SHEET_MIN * window.innerHeight) {
          top = r.bottom + 8;
        }
      }
      document.documentElement.style.setProperty('--sheet-top', `${Math.round(top)}px`);
    };
    window.addEventListener('scroll', below, { passive: true });
    window.addEventListener('resize', below);
    // what is above the map may grow or shrink (a notice, the language of the map's title)
    const watch = new ResizeObserver(below);
    for (const sel of ['.app-bar', '[data-slot="notices"]', '[data-slot="follow"]', '[data-slot="maps"]']) {
      const el = document.querySelector(sel);
      if (el) watch.observe(el);
    }
    this.placeSheet = below;
    document.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter') open(ev);
    });
  }

  /** Load inspector.js and its words (strings-*-later.js) and build the view (once). */
  load() {
    if (!this.loading) {
      const { i18n, act } = this;
      this.loading = Promise.all([import('./inspector.js'), import('./step-downloads.js'),
        i18n.need('later')]).then(([{ Inspector }, { StepDownloads }]) => {
        this.stepFiles = new StepDownloads(document.createElement('div'), { i18n });
        if (this.lastEvent) this.stepFiles.update(this.lastEvent);
        this.inspector = new Inspector(this.container, {
          t: (k, p) => i18n.t(k, p),
          onEdit: (e) => act('edit', e),
          onClose: () => (this.following ? this.dismiss() : act('inspect', null)),
          onInspect: (target) => act('inspect', target),
          onBatch: () => act('focus', null),
          // a row of the per-sample table: that (training) sample, as a click on the map picks it
          onFollow: (index) => act('focus', { split: 'train', index }),
          classPhrase: (k) => classPhrase((key, p) => i18n.t(key, p), this.config, k),
        });
        for (const event of this.queue.splice(0)) this.update(event);
      });
    }
    return this.loading;
  }

  /** A follower closes the teacher's inspector on their page only, while it shows the same target. */
  dismiss() {
    const m = this.inspector.msg;
    this.dismissed = m ? `${m.id}/${m.index}` : null;
    this.show({ id: null });
  }

  /** Show or close the inspector as an `inspect` message says, moving the focus with it. */
  show(msg) {
    const root = this.inspector.root;
    const hadFocus = root.contains(document.activeElement);
    if (msg.id === null || msg.id === undefined) {
      if (msg.type) this.dismissed = null;
    } else if (this.dismissed === `${msg.id}/${msg.index}`) return;
    else this.dismissed = null;
    this.inspector.update(msg);
    this.keepFiles();
    this.placeSheet();
    if (msg.id === null || msg.id === undefined) {
      this.asked = false;
      const back = this.opener;
      this.opener = null;
      // the focus was in the panel just hidden: back where the learner was
      if (back && back.isConnected && (hadFocus || document.activeElement === document.body)) back.focus();
      return;
    }
    if (this.asked && !hadFocus) {
      this.asked = false;
      root.tabIndex = -1;
      root.focus({ preventScroll: true });
      root.scrollTop = 0;
      root.scrollIntoView({ block: 'nearest' });
      // a sheet over the drawing (a phone): the drawing moves up, above the sheet
      const figure = this.opener && this.opener.isConnected ? this.opener.closest('figure, svg') : null;
      const a = root.getBoundingClientRect();
      const b = figure ? figure.getBoundingClientRect() : null;
      if (b && a.top < b.bottom && b.top < a.bottom && a.left < b.right && b.left < a.right) {
        figure.scrollIntoView({ block: 'start' });
      }
    }
  }

  /** One page event. */
  update(event) {
    this.lastEvent = event;
    if (event.kind === 'follow-mode') this.following = Boolean(event.msg.readOnly);
    if (this.stepFiles) this.stepFiles.update(event);
    if (event.model) this.config = event.model.config;
    if (!this.inspector) {
      if (event.kind === 'inspect' && event.msg.id !== null) {
        this.queue.push(event);
        this.load();
      } else if (this.loading && event.kind === 'frame') {
        this.queue.push(event);
      }
      return;
    }
    const { kind, msg } = event;
    if (kind === 'inspect') {
      this.show(msg);
    } else if (kind === 'edit') {
      this.inspector.showEdit(msg);
    } else if (kind === 'frame') {
      this.inspector.setPhase(msg.phase);
    } else if (kind === 'run') {
      this.inspector.setPhase(null);
    } else if (kind === 'lang' && this.inspector.msg) {
      this.inspector.render(false);
    }
    this.keepFiles();
  }

  /** The step downloads after what the inspector drew (it redraws on each phase). */
  keepFiles() {
    const root = this.inspector.root;
    if (this.inspector.msg && root.lastElementChild !== this.stepFiles.root) root.append(this.stepFiles.root);
  }
}
