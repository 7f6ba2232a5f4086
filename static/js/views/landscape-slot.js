/**
 * The page's "landscape" slot, kept small so the page loads fast: the panel's
 * title and its Show button until the landscape is first shown (or a followed
 * teacher shows it), then the loss landscape itself (landscape-view.js and its
 * map, ~10 KB compressed, a third of the page's budget left), loaded once and
 * fed every page event from then on. Until then it keeps the latest run, state
 * and follow-mode events, which the panel is given first.
 */

import { h } from '../dom.js';

/** Events the panel needs from before it was loaded: only the latest of each counts. */
const KEPT = new Set(['run', 'state', 'follow-mode', 'landscape']);

/** The "landscape" slot's view (see the module comment). */
export class LandscapeSlot {
  /**
   * @param {HTMLElement} container the "landscape" slot
   * @param {{t: (key: string, params?: object) => string}} options the page's view options
   */
  constructor(container, options) {
    this.container = container;
    this.options = options;
    this.panel = null;
    this.loading = null;
    this.kept = new Map();
    this.head = h('h2', { id: 'ls-h' });
    this.toggle = h('button', { type: 'button', class: 'btn btn-small ls-toggle', 'aria-expanded': 'false',
      on: { click: () => this.load(true) } });
    this.section = h('section', { class: 'panel bpl-landscape', 'aria-labelledby': 'ls-h', dataset: { view: 'landscape' } },
      h('div', { class: 'ls-head' }, this.head, this.toggle));
    container.append(this.section);
    this.relabel();
  }

  relabel() {
    this.head.textContent = this.options.t('ls.title');
    this.toggle.textContent = this.options.t('ls.show');
  }

  /** Load the landscape (once), give it what it missed, and open it if `open`. */
  load(open) {
    if (!this.loading) {
      this.loading = import('./landscape-view.js').then(({ LandscapePanel }) => {
        const focused = document.activeElement === this.toggle;
        this.section.remove();
        this.panel = new LandscapePanel(this.container, this.options);
        for (const event of this.kept.values()) this.panel.update(event);
        this.kept.clear();
        if (focused) this.panel.toggleBtn.focus();
      });
    }
    return this.loading.then(() => {
      if (open && !this.panel.open) this.panel.setOpen(true);
    });
  }

  /** One page event: the panel's once loaded; before, the few it will need. */
  update(event) {
    if (this.panel) {
      this.panel.update(event);
      return;
    }
    const { kind, msg } = event;
    if (KEPT.has(kind)) this.kept.set(kind, event);
    if (kind === 'lang') this.relabel();
    else if (kind === 'follow-mode') this.toggle.disabled = Boolean(msg.readOnly);
    else if (kind === 'landscape' && msg.open) this.load(false); // a followed teacher's landscape
  }
}
