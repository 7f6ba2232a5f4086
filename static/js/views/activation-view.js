/**
 * The page's "activation" slot, kept small so the page loads fast: until the
 * panel comes into view (or a run is shown on a page without
 * IntersectionObserver) it holds a placeholder of the panel's own size — its
 * title, the curve's box, room for its lines — so nothing below moves when the
 * activation curve itself (activation-panel.js) is loaded in its place; the
 * curve is then handed the latest run and focus and fed every page event.
 */

import { h } from '../dom.js';
import { LazySlot, latestOf } from './lazy-slot.js';

/** The curve's drawing box, as activation-panel.js's G draws in it: the placeholder reserves it
 * (test_lazy_views.py checks the two heights agree). */
const CURVE_BOX = Object.freeze({ w: 360, h: 292 });

/** The "activation" slot's view (see the module comment). */
export class ActivationView extends LazySlot {
  /**
   * @param {HTMLElement} container the "activation" slot
   * @param {object} options the page's view options (i18n, catalog)
   */
  constructor(container, options) {
    super(container, options, {
      load: () => import('./activation-panel.js').then((m) => m.ActivationPanel),
      keep: latestOf(['run', 'focus']),
    });
    // the panel's parts, empty: its title and layer menu, the curve's box, its two lines of notes
    // (not a .bpl-act: what looks for the curve never finds the placeholder)
    this.title = h('h2');
    this.pickText = h('span');
    const box = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    box.setAttribute('class', 'act-svg');
    box.setAttribute('viewBox', `0 0 ${CURVE_BOX.w} ${CURVE_BOX.h}`);
    box.setAttribute('aria-hidden', 'true');
    container.append(h('section', { class: 'panel bpl-act-waiting' },
      h('div', { class: 'bpl-act-head' }, this.title,
        h('label', { class: 'bpl-act-pick' }, this.pickText, h('select', { class: 'bpl-act-layer', disabled: true }))),
      box, h('p', { class: 'bpl-act-share' }, '\u00a0'), h('p', { class: 'bpl-act-note' }, '\u00a0')));
    this.relabel();
  }

  relabel() {
    this.title.textContent = this.options.i18n.t('act.title');
    this.pickText.textContent = this.options.i18n.t('act.layer');
  }

  /** One page event: the curve's once loaded; before, kept, and the first run starts watching. */
  update(event) {
    super.update(event);
    if (this.view) return;
    if (event.kind === 'lang') this.relabel();
    // once the page around it is drawn: where the slot is then says whether it is near the screen
    if (event.kind === 'run') requestAnimationFrame(() => this.loadWhenSeen(this.container, '0px'));
  }
}
