/**
 * The page's "graph" slot, kept small so the page loads fast: it decides
 * whether the run's network is one the computational graph is drawn for (a
 * small plain dense network, such as the single neuron or 2-2-1) and loads the
 * graph itself (graph-panel.js and its helpers, graph-panel.css) the first time one is; for
 * other networks the slot stays empty and the code is never fetched.
 */

import { LazySlot, latestOf, loadStyle } from './lazy-slot.js';

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
export class GraphView extends LazySlot {
  /**
   * @param {HTMLElement} container the "graph" slot
   * @param {object} options the page's view options (i18n, act, motion, catalog)
   */
  constructor(container, options) {
    // what the graph needs from before it loaded: the run (its frames are the model's) and
    // the sample focused on the map
    super(container, options, {
      load: () => Promise.all([import('./graph-panel.js'), loadStyle('static/css/graph-panel.css'),
        options.i18n.need('later')]).then(([m]) => m.GraphPanel),
      keep: latestOf(['run', 'focus']),
    });
    this.fits = false;
  }

  /** One page event: passed to the graph (loaded on the first run it fits) while the run's network fits it. */
  update(event) {
    if (event.kind === 'run') {
      this.fits = graphFits(event.model.net, event.model.config);
      if (!this.fits) {
        this.container.replaceChildren();
        this.kept.clear();
      }
    }
    if (!this.fits) return;
    super.update(event);
    this.load();
  }
}
