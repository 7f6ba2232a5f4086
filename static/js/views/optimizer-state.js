/**
 * The optimizer's state as a small per-layer picture under the network: for each
 * layer, one bar per state buffer the optimizer keeps (SGD's momentum velocity b,
 * Adam's and AdamW's m and v, RMSprop's v (and ḡ, b), Adagrad's sum s), its
 * length the buffer's norm over the layer's parameters on a log scale, from
 * the update frame's `L{l}.<state>_norm` (engine/units.py). The buffers and
 * their symbols come from the catalog (`optimizers[].state`: name, symbol,
 * `when` a hyper-parameter must be on); nothing here lists optimizers.
 *
 * A run that never resets its gradients (the catalog's lesson-only
 * `accumulate_grads`) adds one more bar per layer, first: Σg, the sum p.grad holds
 * and the optimizer works on (`L{l}.grad_sum_norm`, the catalog's `accumulated`),
 * beside which the gradient bars' ‖∂L/∂W‖ is only this iteration's; plain SGD
 * then shows that bar alone.
 *
 * Each layer's bars stand under its weights (between columns l − 1 and l of
 * the drawing). The numbers stay from the last update until the next one, and
 * a line says which iteration they are of; each bar's value stands beside it, or
 * inside its track's end where the layer is narrow. An optimizer that keeps no state
 * (plain SGD) shows nothing, unless the gradients accumulate.
 */

import { fmtGrad } from './gradient-bars.js';
import { optimizerInForce } from '../run-model.js';

const SVG_NS = 'http://www.w3.org/2000/svg';
/** Decades shown: 1e−10 … 1e2. */
const LO = -10;
const HI = 2;
const ROW = 17;
/** Height of the row of layer names above the bars. */
const HEAD = 13;

function svgEl(tag, attrs = {}, parent = null) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (parent) parent.appendChild(el);
  return el;
}

/**
 * The catalog's `accumulated` entry ({name, symbol, meaning}) as a one-item list when
 * `model`'s run never resets its gradients (`accumulate_grads`), else [].
 * @param {{json?: object}|null} catalog
 * @param {{config?: object}|null} model
 */
export function accumulatedBuffer(catalog, model) {
  const acc = catalog && catalog.json && catalog.json.accumulated;
  return acc && model && model.config && model.config[acc.when] ? [acc] : [];
}

/** Length of `v` as a fraction of the scale (0 for 0 or less). */
export function stateFraction(v) {
  if (!(v > 0)) return 0;
  return Math.min(1, Math.max(0.02, (Math.log10(v) - LO) / (HI - LO)));
}

/** The optimizer-state strip; built and painted by the network's mechanisms (through optimizer-state-slot.js). */
export class OptimizerStateStrip {
  /** @param {{i18n: object, catalog: object}} options */
  constructor({ i18n, catalog }) {
    this.i18n = i18n;
    this.catalog = catalog;
    this.root = document.createElement('div');
    this.root.className = 'opt-state';
    this.root.dataset.view = 'optimizer-state';
    this.root.hidden = true;
    this.head = document.createElement('p');
    this.head.className = 'opt-state-head';
    this.svg = svgEl('svg', { class: 'opt-state-svg', role: 'group' });
    this.root.append(this.head, this.svg);
    this.settings = null; // the timeline's settings in force (the optimizer may change mid-run)
    this.modelRef = null;
    this.values = null; // the last update frame's norms
    this.iteration = null;
  }

  /** The optimizer in force: {name, …its hyper-parameters set}. */
  optimizer(model) {
    return optimizerInForce(this.settings, model);
  }

  /** The catalog's state buffers the optimizer keeps with these settings, after the
   * accumulated gradient Σg when the run never resets its gradients. */
  buffers(model) {
    const kept = this.catalog && this.catalog.stateBuffers ? this.catalog.stateBuffers(this.optimizer(model)) : [];
    return [...accumulatedBuffer(this.catalog, model), ...kept];
  }

  /** Lay the layers out under the network's columns. */
  build(model, layout) {
    // a new run starts from its own settings (a relayout keeps a mid-run `set`'s)
    if (model.runCount !== this.runCount) this.settings = null;
    this.runCount = model.runCount;
    this.layout = layout;
    this.values = null;
    this.iteration = null;
    this.depth = layout.pos.length - 1;
    this.draw(model);
  }

  /** New settings from the timeline (an optimizer changed with `set`). */
  setSettings(settings, model) {
    // timelines come twice a second while playing: redraw only for another optimizer
    const before = JSON.stringify(this.settings && this.settings.optimizer);
    this.settings = settings;
    if (this.layout && JSON.stringify(settings.optimizer) !== before) this.draw(model);
  }

  draw(model) {
    this.modelRef = model;
    const bufs = this.buffers(model);
    this.bufs = bufs;
    this.svg.replaceChildren();
    this.layers = [];
    this.root.hidden = bufs.length === 0;
    if (!bufs.length) return;
    const { pos, width } = this.layout;
    const H = HEAD + bufs.length * ROW + 4;
    this.svg.setAttribute('viewBox', `0 0 ${width} ${H}`);
    for (let l = 1; l <= this.depth; l++) {
      const x1 = pos[l - 1][0][0];
      const x2 = pos[l][0][0];
      const w = Math.max(30, (x2 - x1) * 0.8);
      const x0 = (x1 + x2) / 2 - w / 2;
      const g = svgEl('g', { class: 'opt-layer', 'data-layer': String(l), tabindex: '0', role: 'img' }, this.svg);
      const showText = w >= 110;
      const label = 16;
      const barW = w - label - (showText ? 52 : 0);
      // the layer's name, as under the gradient bars (L1 = the weights into layer 1)
      svgEl('text', { x: x0 + label + barW / 2, y: HEAD - 3, 'text-anchor': 'middle', class: 'opt-layer-name' }, g).textContent = `L${l}`;
      const rows = bufs.map((b, k) => {
        const y = HEAD + k * ROW;
        svgEl('text', { x: x0 + label - 3, y: y + 12, 'text-anchor': 'end', class: 'opt-sym' }, g).textContent = b.symbol;
        svgEl('rect', { x: x0 + label, y: y + 2, width: barW, height: 12, class: 'opt-track' }, g);
        const bar = svgEl('rect', { x: x0 + label, y: y + 2, width: 0, height: 12, class: 'opt-bar', 'data-state': b.name }, g);
        // the value beside the bar; where the layer is narrow (a phone), inside its track's
        // end, if the track holds it (else the layer's label says it, for a screen reader)
        const text = showText || barW >= 40 ? svgEl('text', showText
          ? { x: x0 + w, y: y + 12, 'text-anchor': 'end', class: 'opt-value', 'data-state': b.name }
          : { x: x0 + label + barW - 2, y: y + 11.5, 'text-anchor': 'end', class: 'opt-value opt-value-in', 'data-state': b.name }, g) : null;
        return { name: b.name, symbol: b.symbol, bar, text, barW };
      });
      this.layers.push({ l, g, rows });
    }
    this.paint(model);
  }

  paint(model) {
    this.modelRef = model;
    if (!this.layout || !this.bufs || !this.bufs.length) return;
    const upd = model.frames && model.frames.update;
    if (upd) {
      const found = {};
      for (let l = 1; l <= this.depth; l++) {
        for (const b of this.bufs) {
          const v = upd[`L${l}.${b.name}_norm`];
          if (v !== undefined) found[`${l}.${b.name}`] = Number(v);
        }
      }
      if (Object.keys(found).length) {
        this.values = found;
        this.iteration = model.frameIteration;
      }
    }
    const t = (k, p) => this.i18n.t(k, p);
    for (const layer of this.layers) {
      const parts = [];
      for (const row of layer.rows) {
        const v = this.values ? this.values[`${layer.l}.${row.name}`] : undefined;
        row.bar.setAttribute('width', String(v === undefined ? 0 : stateFraction(v) * row.barW));
        row.bar.dataset.value = v === undefined ? '' : String(v);
        if (row.text) row.text.textContent = v === undefined ? '' : fmtGrad(v);
        parts.push(`‖${row.symbol}‖ = ${v === undefined ? '—' : fmtGrad(v)}`);
      }
      layer.g.setAttribute('aria-label', t('ostate.layer', { l: layer.l, values: parts.join(', ') }));
    }
    this.relabel();
  }

  relabel() {
    if (!this.bufs || !this.bufs.length) return;
    const t = (k, p) => this.i18n.t(k, p);
    const opt = this.optimizer(this.modelRef || {});
    const names = this.bufs.map((b) => `${b.symbol}: ${this.i18n.has(`insp.state.${b.name}`) ? t(`insp.state.${b.name}`) : b.meaning}`).join(' · ');
    const when = this.iteration === null ? t('ostate.wait') : t('ostate.after', { n: this.iteration + 1 });
    const entry = this.catalog.optimizer(opt.name);
    const summed = accumulatedBuffer(this.catalog, this.modelRef).length > 0;
    const key = JSON.stringify([opt.name, when, names, summed]);
    if (key === this.headKey) return; // repainted on every frame while playing
    this.headKey = key;
    const title = document.createElement('strong');
    title.textContent = `${t(summed ? 'ostate.titleAcc' : 'ostate.title', { name: entry ? entry.torch : opt.name })} — ${when}`;
    const meaning = document.createElement('span');
    meaning.className = 'opt-state-names';
    meaning.textContent = `‖·‖: ${t('ostate.norm')} · ${names}`;
    this.head.replaceChildren(title, meaning);
    this.svg.setAttribute('aria-label', t('ostate.title', { name: opt.name }));
  }
}
