/**
 * The page's "graph" slot, kept small so the page loads fast: it decides
 * whether the run's network is one the computational graph is drawn for (a
 * small plain dense network, such as the single neuron or 2-2-1) and loads the
 * graph itself (graph-panel.js and its helpers) the first time one is; for
 * other networks the slot stays empty and the code is never fetched.
 */

/** The largest network the graph is drawn for: this many units in all, inputs included. */
export const MAX_UNITS = 6;

/**
 * Whether the graph can show this run: at most MAX_UNITS units, and no
 * normalization, dropout or residual connection (operations it does not draw).
 * @param {{sizes: number[]}} net the run's `net`
 * @param {object} config the run's settings
 * @returns {boolean}
 */
export function graphFits(net, config) {
  if (!net || !Array.isArray(net.sizes)) return false;
  const units = net.sizes.reduce((s, n) => s + n, 0);
  const plain = !config || ((config.norm || 'none') === 'none' && !config.dropout && !config.residual);
  return units <= MAX_UNITS && plain;
}

/** The "graph" slot's view (see the module comment). */
export class GraphView {
  /**
   * @param {HTMLElement} container the "graph" slot
   * @param {object} options the page's view options (i18n, act, motion, catalog)
   */
  constructor(container, options) {
    this.container = container;
    this.options = options;
    this.panel = null;
    this.loading = null;
    this.fits = false;
    this.model = null;
  }

  /** One page event: passed to the graph while the run's network fits it. */
  update(event) {
    this.model = event.model;
    if (event.kind === 'run') {
      this.fits = graphFits(event.model.net, event.model.config);
      if (!this.fits) this.container.replaceChildren();
    }
    if (!this.fits) return;
    if (this.panel) {
      this.panel.update(event);
      return;
    }
    if (!this.loading) {
      this.loading = import('./graph-panel.js').then(({ GraphPanel }) => {
        this.panel = new GraphPanel(this.container, this.options);
        // what happened meanwhile: the run as it is now
        if (this.fits) this.panel.update({ kind: 'run', model: this.model });
      });
    }
  }
}
