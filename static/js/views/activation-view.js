/**
 * The page's "activation" slot, kept small so the page loads fast: a panel
 * with its title until it comes near the screen, then the activation curve
 * itself (activation-panel.js), loaded once and fed every page event from
 * then on.
 */

/** The "activation" slot's view (see the module comment). */
export class ActivationView {
  /**
   * @param {HTMLElement} container the "activation" slot
   * @param {object} options the page's view options (i18n, catalog)
   */
  constructor(container, options) {
    this.container = container;
    this.options = options;
    this.panel = null;
    this.model = null;
    this.title = document.createElement('h2');
    const section = document.createElement('section');
    section.className = 'panel bpl-act bpl-act-waiting';
    section.append(this.title);
    container.append(section);
    this.title.textContent = options.i18n.t('act.title');
    this.watching = false;
  }

  /** Load the curve, once, and show it the run as it is now. */
  load() {
    if (this.loading) return;
    this.loading = import('./activation-panel.js').then(({ ActivationPanel }) => {
      this.panel = new ActivationPanel(this.container, this.options);
      if (this.model && this.model.net) this.panel.update({ kind: 'run', model: this.model });
    });
  }

  /** Watch for the panel coming near the screen, once the page around it is drawn. */
  watch() {
    this.watching = true;
    if (!('IntersectionObserver' in window)) {
      this.load();
      return;
    }
    requestAnimationFrame(() => {
      const seen = new IntersectionObserver((entries) => {
        if (!entries.some((e) => e.isIntersecting)) return;
        seen.disconnect();
        this.load();
      }, { rootMargin: '100px' });
      seen.observe(this.container);
    });
  }

  /** One page event, for the curve once it is loaded. */
  update(event) {
    this.model = event.model;
    if (this.panel) this.panel.update(event);
    else if (event.kind === 'lang') this.title.textContent = this.options.i18n.t('act.title');
    if (event.kind === 'run' && !this.watching) this.watch();
  }
}
