/**
 * The optimizer-state strip's stand-in under the network, so the page's first
 * load stays light: plain SGD (the default) keeps no state and the strip shows
 * nothing, so its drawing (optimizer-state.js) is fetched the first time the
 * optimizer in force keeps some (momentum, Adam, RMSprop, Adagrad…), or a run
 * never resets its gradients (it then shows their sum Σg). Until
 * then this keeps the latest layout, run and timeline settings, and hands them
 * over, in that order, once the strip is built. The network's mechanisms
 * (network-mechanisms.js) call it as they would the strip.
 */

import { optimizerInForce } from '../run-model.js';

/** Stands in for optimizer-state.js's OptimizerStateStrip (see the module comment). */
export class OptimizerStateSlot {
  /** @param {{i18n: object, catalog: import('../catalog.js').Catalog}} options */
  constructor(options) {
    this.options = options;
    this.strip = null;
    this.loading = null;
    this.root = document.createElement('div'); // the strip's place under the network
    this.root.hidden = true;
    this.settings = null;
    this.runCount = null;
    this.model = null;
    this.layout = null;
  }

  /** Fetch and build the strip (once) when the optimizer in force keeps a state buffer,
   * or the run's gradients accumulate (the catalog's `accumulated`, lesson 16). */
  loadIfKept(model) {
    const { catalog } = this.options;
    if (this.loading || !this.layout) return;
    const acc = catalog.json && catalog.json.accumulated;
    const summed = Boolean(acc && model && model.config && model.config[acc.when]);
    if (!summed && !catalog.stateBuffers(optimizerInForce(this.settings, model)).length) return;
    this.loading = Promise.all([import('./optimizer-state.js'), this.options.i18n.need('later').catch(() => {})]).then(([{ OptimizerStateStrip }]) => {
      this.strip = new OptimizerStateStrip(this.options);
      this.root.replaceWith(this.strip.root);
      this.root = this.strip.root;
      this.strip.build(this.model, this.layout);
      if (this.settings) this.strip.setSettings(this.settings, this.model);
    });
  }

  /** A new layout (a run, a relayout): as the strip's build. */
  build(model, layout) {
    this.model = model;
    this.layout = layout;
    if (this.strip) {
      this.strip.build(model, layout);
      return;
    }
    if (model.runCount !== this.runCount) this.settings = null; // a new run starts from its own
    this.runCount = model.runCount;
    this.loadIfKept(model);
  }

  /** New settings from the timeline (an optimizer changed with `set`). */
  setSettings(settings, model) {
    this.model = model;
    if (this.strip) {
      this.strip.setSettings(settings, model);
      return;
    }
    this.settings = settings;
    this.loadIfKept(model);
  }

  paint(model) {
    this.model = model;
    if (this.strip) this.strip.paint(model);
  }

  relabel() {
    if (this.strip) this.strip.relabel();
  }
}
