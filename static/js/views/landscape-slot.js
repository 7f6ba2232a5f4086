/**
 * The page's "landscape" slot, kept small so the page loads fast: the panel's
 * title and its Show button until the landscape is first shown (or a followed
 * teacher shows it), then the loss landscape itself (landscape-view.js and its
 * map, ~10 KB compressed, a third of the page's budget left), loaded once and
 * fed every page event from then on. Until then it keeps the latest run, state
 * and follow-mode events, which the panel is given first.
 */

import { h } from '../dom.js';
import { LazySlot, latestOf, loadStyle } from './lazy-slot.js';

/** The "landscape" slot's view (see the module comment). */
export class LandscapeSlot extends LazySlot {
  /**
   * @param {HTMLElement} container the "landscape" slot
   * @param {{t: (key: string, params?: object) => string, i18n: import('../i18n.js').I18n}} options the page's view options
   */
  constructor(container, options) {
    // the events the panel needs from before it was loaded: only the latest of each counts
    super(container, options, {
      load: () => Promise.all([import('./landscape-view.js'), loadStyle('static/css/landscape-panel.css'),
        options.i18n.need('later')]).then(([m]) => m.LandscapePanel),
      keep: latestOf(['run', 'state', 'follow-mode', 'landscape']),
    });
    this.head = h('h2', { id: 'ls-h' });
    this.toggle = h('button', { type: 'button', class: 'btn btn-small ls-toggle', 'aria-expanded': 'false',
      on: { click: () => this.reveal(true) } });
    this.hint = h('p', { class: 'hint ls-closed' });
    this.section = h('section', { class: 'panel bpl-landscape', 'aria-labelledby': 'ls-h', dataset: { view: 'landscape' } },
      h('div', { class: 'ls-head' }, this.head, this.toggle), this.hint);
    container.append(this.section);
    this.relabel();
  }

  relabel() {
    this.head.textContent = this.options.t('ls.title');
    this.toggle.textContent = this.options.t('ls.show');
    if (this.toggle.disabled) this.toggle.title = this.options.t('ls.teacherOpens');
    this.hint.textContent = this.options.t(this.toggle.disabled ? 'ls.teacherOpens' : 'ls.closed');
  }

  /** Load the landscape (once), give it what it missed, and open it if `open`. */
  reveal(open) {
    let focused = false;
    return this.load(() => {
      focused = document.activeElement === this.toggle;
      this.section.remove();
    }).then((panel) => {
      if (focused) panel.toggleBtn.focus();
      if (open && !panel.open) panel.setOpen(true);
    });
  }

  /** One page event: the panel's once loaded; before, the few it will need. */
  update(event) {
    super.update(event);
    if (this.view) return;
    const { kind, msg } = event;
    if (kind === 'lang') this.relabel();
    else if (kind === 'follow-mode') {
      this.toggle.disabled = Boolean(msg.readOnly);
      this.relabel();
      if (!msg.readOnly) this.toggle.title = '';
    }
    else if (kind === 'landscape' && msg.open) this.reveal(false); // a followed teacher's landscape
  }
}
