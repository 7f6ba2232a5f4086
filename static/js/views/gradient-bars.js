/**
 * Gradient bars: ‖∂L/∂W⁽ˡ⁾‖ of each layer as a bar under the network, on a log
 * scale, from the backward frame (`Ll.gnorm`, the engine's number), so
 * vanishing gradients (8 sigmoid layers: the first layers' bars a few pixels
 * high, decades below the last's) and exploding ones read at a glance.
 *
 * Each bar stands under its weights: between the columns of layers l − 1 and l
 * of the network drawing when that drawing is on the page (found by the
 * neurons' stable ids, `L{l}.a.{j}`), evenly spaced otherwise. The bars are
 * lit from the backward phase of an iteration on; in the next iteration's
 * forward and loss phases they stay, faded, as the previous iteration's. When
 * motion is allowed and the run is stepped or played slowly, they grow from
 * the output layer towards the input, in the order backpropagation computes
 * them (in slow play, within a third of an iteration). A sentence says how many
 * decades apart the first and last layers' gradients are when that is large
 * (vanishing or exploding).
 */

import { h } from '../dom.js';
import { layerColour } from './health-chart.js';

/** Columns closer than this (px) stagger their values on two lines ("1.1e−5" is ~36 px). */
const TIGHT_PX = 42;

/** Decades shown at least (1e−8 … 1e1): the same height means the same number on every run. */
const LO = -8;
const HI = 1;
/** Decades between the first and last layers' gradients worth a sentence. */
const SPREAD = 3;
/** Milliseconds between two layers' bars growing (backward goes from the output down). */
const STAGGER_MS = 90;
/** Milliseconds a bar takes to grow. */
const GROW_MS = 320;

/** A gradient norm, short: "0.42", "3.1e−5". */
export function fmtGrad(g) {
  if (!Number.isFinite(g)) return '—';
  if (g === 0) return '0';
  const s = g >= 0.01 && g < 1000 ? g.toPrecision(2) : g.toExponential(1);
  return s.replace('-', '−');
}

const SUPERSCRIPT = '⁰¹²³⁴⁵⁶⁷⁸⁹';

/** 10 to the power `k` as written: "10⁴". */
function power(k) {
  return `10${String(k).split('').map((d) => SUPERSCRIPT[Number(d)]).join('')}`;
}

/** Height of `g` as a fraction of the scale from 10^lo to 10^hi (0 for 0 or less). */
export function barFraction(g, lo, hi) {
  if (!(g > 0)) return 0;
  return Math.min(1, Math.max(0, (Math.log10(g) - lo) / (hi - lo)));
}

/** The gradient bars panel. */
export class GradientBars {
  /**
   * @param {HTMLElement} container the "gradbars" slot
   * @param {{i18n: {t: Function}, motion?: () => boolean}} options
   */
  constructor(container, { i18n, motion = () => false }) {
    this.i18n = i18n;
    this.motion = motion;
    this.depth = 0;
    this.values = null; // the gnorms shown, layer 1 first
    this.iteration = null; // the 0-based iteration they are of
    this.lit = false;
    this.pending = false;
    this.pace = 1; // the grow's share of its full length (slow play shortens it)
    this.lo = LO;
    this.hi = HI;
    this.title = h('h2', { id: 'gb-h' });
    this.state = h('p', { class: 'gb-state' });
    this.grid = h('div', { class: 'gb-grid', 'aria-hidden': 'true' });
    this.bars = h('ol', { class: 'gb-bars' });
    this.verdict = h('p', { class: 'gb-verdict' });
    this.root = h('section', { class: 'panel gbars', 'aria-labelledby': 'gb-h', dataset: { view: 'gradient-bars' }, hidden: true },
      h('div', { class: 'gb-head' }, this.title, this.state),
      h('div', { class: 'gb-plot' }, this.grid, this.bars),
      this.verdict);
    container.append(this.root);
    this.relabel();
    if (typeof ResizeObserver !== 'undefined') {
      this.resize = new ResizeObserver(() => this.align());
      this.resize.observe(this.bars);
    }
  }

  relabel() {
    this.title.textContent = this.i18n.t('gb.title');
    this.render(false);
  }

  /** `run` rebuilds, `frame` shows the backward pass's norms, `lang` and `present` relabel. */
  update({ kind, model }) {
    if (kind === 'lang') { this.relabel(); return; }
    if (kind === 'present') { requestAnimationFrame(() => this.align()); return; }
    if (kind === 'run' || kind === 'start') { // (start: back before any backward pass)
      this.values = null;
      this.iteration = null;
    }
    if (kind === 'run') {
      this.depth = model.depth;
      this.build();
      this.root.hidden = this.depth < 1;
    }
    if (kind !== 'frame' && kind !== 'run' && kind !== 'start') return;
    const back = model.frames.backward;
    const fresh = Boolean(back) && (this.iteration !== model.frameIteration || !this.lit);
    if (back) {
      this.values = Array.from({ length: this.depth }, (_, k) => Number(back[`L${k + 1}.gnorm`]));
      this.iteration = model.frameIteration;
    }
    this.lit = Boolean(back);
    if (!model.fast) {
      // played slowly, the bars grow within a third of an iteration (none at all at
      // 4 it/s): each stands at its height before the next backward pass starts it
      // again (the first layer's never did at 4 it/s, and looked the smallest)
      const s = model.state;
      this.pace = s.playing ? Math.min(1, 1000 / s.speed / 3 / (GROW_MS + (this.depth - 1) * STAGGER_MS)) : 1;
      this.render(fresh && this.motion() && this.pace >= 0.25);
      return;
    }
    if (this.pending) return; // fast play: once per animation frame, whatever the frame rate
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.render(false);
    });
  }

  build() {
    this.cols = Array.from({ length: this.depth }, (_, k) => {
      const bar = h('div', { class: 'gb-bar', dataset: { layer: String(k + 1) } });
      bar.style.background = layerColour(k + 1, this.depth);
      const value = h('span', { class: 'gb-value' });
      const li = h('li', { class: 'gb-col', dataset: { layer: String(k + 1) } },
        value, h('div', { class: 'gb-track' }, bar), h('span', { class: 'gb-name' }, `L${k + 1}`));
      return { li, bar, value };
    });
    this.bars.replaceChildren(...this.cols.map((c) => c.li));
    this.align();
  }

  /** Put each bar under its weights in the network drawing, if the drawing is there. */
  align() {
    if (!this.cols || !this.cols.length) return;
    const box = this.bars.getBoundingClientRect();
    const centre = (l) => {
      const nodes = document.querySelectorAll(`.net-svg circle.node[data-id^="L${l}.a."]`);
      if (!nodes.length) return null;
      const r = nodes[0].getBoundingClientRect();
      return r.width > 0 ? (r.left + r.right) / 2 : null;
    };
    const xs = Array.from({ length: this.depth + 1 }, (_, l) => centre(l));
    const ok = box.width > 0 && xs.every((x) => x !== null && x >= box.left - 1 && x <= box.right + 1);
    this.bars.classList.toggle('gb-aligned', ok);
    const mids = this.cols.map((c, k) => (ok ? (xs[k] + xs[k + 1]) / 2 - box.left : (k + 0.5) * box.width / this.depth));
    this.cols.forEach((c, k) => {
      c.li.style.left = ok ? `${mids[k]}px` : '';
    });
    // columns closer than a value's width (9 layers on a phone): every other value a line higher
    const gap = Math.min(Infinity, ...mids.slice(1).map((x, k) => x - mids[k]));
    this.bars.classList.toggle('gb-tight', gap < TIGHT_PX);
  }

  render(animate) {
    if (!this.cols) return;
    const t = (k, p) => this.i18n.t(k, p);
    const v = this.values;
    if (v) {
      const finite = v.filter((g) => g > 0 && Number.isFinite(g));
      this.lo = Math.min(LO, ...finite.map((g) => Math.floor(Math.log10(g))));
      this.hi = Math.max(HI, ...finite.map((g) => Math.ceil(Math.log10(g))));
    }
    this.drawGrid();
    this.cols.forEach((c, k) => {
      const g = v ? v[k] : NaN;
      c.bar.style.height = `${100 * barFraction(g, this.lo, this.hi)}%`;
      c.bar.style.visibility = v ? '' : 'hidden'; // (no tick at the floor before a backward pass)
      c.value.textContent = v ? fmtGrad(g) : '';
      if (animate && g > 0 && c.bar.animate) {
        c.bar.animate([{ transform: 'scaleY(0)' }, { transform: 'scaleY(1)' }],
          { duration: GROW_MS * this.pace, delay: (this.depth - 1 - k) * STAGGER_MS * this.pace, easing: 'ease-out', fill: 'backwards' });
      }
    });
    this.root.classList.toggle('gb-stale', Boolean(v) && !this.lit);
    if (!v) this.state.textContent = t('gb.wait');
    else this.state.textContent = t(this.lit ? 'gb.now' : 'gb.before', { n: this.iteration + 1 });
    this.verdict.textContent = v ? this.say(v) : '';
  }

  drawGrid() {
    const key = `${this.lo}:${this.hi}`;
    if (key === this.gridKey) return;
    this.gridKey = key;
    const span = this.hi - this.lo;
    const every = span > 12 ? 4 : span > 6 ? 2 : 1;
    const lines = [];
    for (let d = this.lo; d <= this.hi; d += every) {
      const line = h('span', { class: 'gb-line' }, d === 0 ? '1' : `1e${String(d).replace('-', '−')}`);
      line.style.bottom = `${(100 * (d - this.lo)) / span}%`;
      lines.push(line);
    }
    this.grid.replaceChildren(...lines);
  }

  /** A sentence when the first and last layers' gradients are decades apart. */
  say(v) {
    const first = v[0];
    const last = v[v.length - 1];
    if (v.length < 2 || !(first > 0) || !(last > 0)) return '';
    const k = Math.round(Math.log10(last / first));
    const n = v.length;
    // the ratio to two figures ("62,000"; "10⁵" said 1.3e−6 against 0.081), a power past a million
    const x = (r) => (r < 1e6 ? Number(r.toPrecision(2)).toLocaleString(this.i18n.lang) : power(Math.round(Math.log10(r))));
    if (k >= SPREAD) return this.i18n.t('gb.vanish', { x: x(last / first), n });
    if (k <= -SPREAD) return this.i18n.t('gb.explode', { x: x(first / last), n });
    return '';
  }
}
