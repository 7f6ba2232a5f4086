/**
 * The computational graph of a small network (the single neuron, 2-2-1: at
 * most graph-view.js's MAX_UNITS units): every operation a node — w·a, + b,
 * f, the loss — with one sample's value in the forward phase and, in the
 * backward phase, its local derivative and ∂L/∂ of its value; and, for a
 * chosen weight or bias, the chain rule along its path back from the loss,
 * factor by factor, as MathML. The phases animate (Web Animations API): values
 * appear column by column left to right, gradients right to left from the
 * loss, the path's factors one by one as the backward pass reaches them; with
 * reduced motion everything is simply shown.
 *
 * It shows one sample of the batch (row 1 by default; ◀ ▶ pick another, and a
 * training sample focused on the map is shown when it is in the batch) and
 * says which: a batch mean would break the graph's arithmetic (the mean of
 * f(z) is not f of the mean z). L is the batch's loss, so the gradients are
 * this sample's share (1/B inside, as the frames carry them); the chain's
 * product is this sample's term of ∂L/∂w, beside the batch's ∂L/∂w from the
 * backward frame. Numbers come from the frames (graph-values.js says which two
 * are products of numbers shown). Keyboard: one tab stop, arrows move between
 * nodes, Enter on a weight or bias follows its path.
 */

import { sig } from '../format.js';
import { GEOM, layoutGraph, pathOf } from './graph-layout.js';
import { GraphDrawing, namer } from './graph-draw.js';
import { chainFactors, graphNumbers, mergedOutput, perSample } from './graph-values.js';
import { block, m, mi, mn, mo, partial, sym } from './inspector-math.js';

const DEFAULT_PATH = 'w.1.0.0';

/** The graph panel in the "graph" slot, built by graph-view.js for a network it fits. */
export class GraphPanel {
  /**
   * @param {HTMLElement} container the "graph" slot
   * @param {{i18n: {t: Function, has: Function}, act: Function, motion: () => boolean,
   *   catalog: import('../catalog.js').Catalog}} options
   */
  constructor(container, { i18n, act, motion, catalog }) {
    this.container = container;
    this.catalog = catalog;
    this.i18n = i18n;
    this.act = act;
    this.motion = motion || (() => false);
    this.t = (k, p) => i18n.t(k, p);
    this.row = 0;
    this.pathKey = DEFAULT_PATH;
    this.drawing = null;
    this.model = null;
    this.anims = [];
    this.pointed = null;
    this.build();
  }

  build() {
    const h = (tag, cls, text) => {
      const e = document.createElement(tag);
      if (cls) e.className = cls;
      if (text) e.textContent = text;
      return e;
    };
    this.section = h('section', 'panel bpl-graph');
    this.section.dataset.view = 'graph';
    this.section.setAttribute('aria-labelledby', 'bpl-graph-h');
    const head = h('div', 'bpl-graph-head');
    this.title = h('h2');
    this.title.id = 'bpl-graph-h';
    const nav = h('div', 'bpl-graph-nav');
    this.prev = h('button', 'btn btn-small bpl-graph-prev', '◀');
    this.next = h('button', 'btn btn-small bpl-graph-next', '▶');
    this.prev.type = 'button';
    this.next.type = 'button';
    this.sampleLabel = h('span', 'bpl-graph-sample');
    this.sampleLabel.setAttribute('aria-live', 'polite');
    this.prev.addEventListener('click', () => this.setRow(this.row - 1));
    this.next.addEventListener('click', () => this.setRow(this.row + 1));
    nav.append(this.prev, this.sampleLabel, this.next);
    head.append(this.title, nav);
    this.legend = h('p', 'bpl-graph-legend');
    this.scroll = h('div', 'bpl-graph-scroll');
    this.scroll.addEventListener('keydown', (ev) => this.onKey(ev));
    this.scroll.addEventListener('click', (ev) => this.onPick(ev));
    this.scroll.addEventListener('pointerover', (ev) => this.point(ev.target.closest && ev.target.closest('.gnode')));
    this.scroll.addEventListener('focusin', (ev) => this.point(ev.target.closest && ev.target.closest('.gnode')));
    this.focusLine = h('p', 'bpl-graph-focus');
    this.note = h('p', 'bpl-graph-note');
    const chain = h('div', 'bpl-graph-chain');
    const pathRow = h('div', 'bpl-graph-pathrow');
    this.pathLabel = h('span', 'bpl-graph-path');
    this.inspectBtn = h('button', 'btn btn-small bpl-graph-inspect');
    this.inspectBtn.type = 'button';
    this.inspectBtn.addEventListener('click', () => this.inspectPath());
    pathRow.append(this.pathLabel, this.inspectBtn);
    this.math = h('div', 'bpl-graph-math');
    this.sumNote = h('p', 'bpl-graph-sum');
    chain.append(pathRow, this.math, this.sumNote);
    this.section.append(head, this.legend, this.scroll, this.focusLine, this.note, chain);
  }

  /** One page event: a run rebuilds (or hides) the graph, a frame fills it in, lang relabels. */
  update({ kind, model }) {
    this.model = model;
    if (kind === 'run') this.rebuild(model);
    if (!this.drawing) return;
    if (kind === 'frame') {
      this.paint();
      const phase = model.lastPhase;
      if (this.motion() && !model.fast) this.animate(phase);
    } else if (kind === 'lang' || kind === 'edit' || kind === 'run') {
      this.paint();
    } else if (kind === 'focus') {
      this.followFocus(model);
    } else if (kind === 'state') {
      this.paintNote(); // (a repaint would cut the chain's animation short)
    }
  }

  rebuild(model) {
    this.cancelAnims();
    const layout = layoutGraph(model.net.sizes);
    this.layout = layout;
    const i18n = this.i18n;
    const glyph = (act) => (i18n.has(`glyph.${act}`) ? i18n.t(`glyph.${act}`) : act);
    this.drawing = new GraphDrawing(layout, model.net, glyph);
    this.names = namer(model.net.sizes);
    const svg = this.drawing.svg;
    // its natural width, for graph.css: how far it may grow (desk, projector) or shrink (phone)
    svg.style.setProperty('--graph-w', `${Math.round(layout.width)}px`);
    this.scroll.replaceChildren(svg);
    const first = this.drawing.parts.get(layout.order[0]);
    first.g.setAttribute('tabindex', '0');
    this.rover = first.g;
    if (!layout.nodes.has(this.pathKey)) this.pathKey = DEFAULT_PATH;
    this.row = 0;
    if (!this.section.isConnected) this.container.replaceChildren(this.section);
  }

  setRow(r) {
    const B = this.batchSize();
    if (!B) return;
    this.row = Math.max(0, Math.min(B - 1, r));
    this.paint();
  }

  /** A training sample focused on the map that is in this batch: show its row. */
  followFocus(model) {
    const f = model.focus;
    const fwd = model.frames.forward;
    if (!f || f.split !== 'train' || !fwd || !Array.isArray(fwd.batch)) return;
    const r = fwd.batch.indexOf(f.index);
    if (r >= 0) this.setRow(r);
  }

  batchSize() {
    const f = this.model && this.model.frames.forward;
    return f && Array.isArray(f.x) ? f.x.length : 0;
  }

  /** Write every number of the current frames (row `this.row`) into the graph and the chain. */
  paint() {
    const model = this.model;
    if (!this.drawing || !model || !model.net) return;
    const t = this.t;
    this.title.textContent = t('graph.title');
    this.prev.setAttribute('aria-label', t('graph.prev'));
    this.next.setAttribute('aria-label', t('graph.next'));
    this.drawing.svg.setAttribute('aria-label', t('graph.label'));
    this.inspectBtn.textContent = t('graph.inspect');
    const B = this.batchSize();
    if (this.row >= B) this.row = 0;
    const merged = mergedOutput(this.catalog, model.net.loss);
    const nums = graphNumbers(model, this.row, merged);
    this.nums = nums;
    this.path = pathOf(model.net.sizes, this.pathKey);
    this.drawing.paint(nums.nodes, this.path, merged, t);
    this.section.dataset.row = String(this.row);
    this.section.dataset.sample = B ? String(nums.sample) : '';
    this.section.dataset.batch = String(B);
    this.prev.disabled = !B || this.row === 0;
    this.next.disabled = !B || this.row >= B - 1;
    this.sampleLabel.textContent = B
      ? t('graph.sample', { index: nums.sample, r: this.row + 1, B }) + (nums.ell === undefined ? '' : ` · ℓ = ${sig(nums.ell, 4)}`)
      : t('graph.noSample');
    this.legend.textContent = t(merged ? 'graph.legendMerged' : 'graph.legend');
    this.paintNote();
    this.paintChain(nums, merged);
    for (const key of this.drawing.parts.keys()) this.describe(key, key === this.pointed);
  }

  /** Why values are missing, if they are: fast play sends none per sample, or no step yet. */
  paintNote() {
    const model = this.model;
    const t = this.t;
    const fast = model.fast || (model.frames.forward && !perSample(model));
    this.note.textContent = fast ? t('graph.fast') : (this.batchSize() ? '' : t('graph.empty'));
    this.note.hidden = !this.note.textContent;
  }

  /** The chain rule of the chosen parameter, as MathML, and its batch total. */
  paintChain(nums, merged) {
    const t = this.t;
    const leaf = this.layout.nodes.get(this.pathKey);
    const name = this.names(leaf);
    this.pathLabel.textContent = t('graph.path', { name });
    const chain = chainFactors(this.path, nums.nodes, merged);
    this.chain = chain;
    const K = this.model.net.sizes[this.model.net.sizes.length - 1];
    const single = this.names({ kind: 'w', l: 1, i: 0, j: 0 }) === 'w';
    const symbols = chain.factors.map((f) => factorSymbol(f, K, single));
    const numbers = chain.factors.map((f) => {
      const e = typeof f.value === 'number' ? mn(sig(f.value, 4)) : mi('…');
      e.dataset.node = f.node;
      return e;
    });
    const lhs = partial(mi('L'), paramSymbol(leaf, single));
    const join = (parts, op) => parts.flatMap((p, k) => (k ? [mo(op), p] : [p]));
    const result = typeof chain.product === 'number' ? mn(sig(chain.product, 4)) : mi('…');
    result.classList.add('bpl-graph-product');
    // two lines: the factors' symbols, then their numbers and the product
    const symbolsLine = block(m('mrow', lhs, mo('='), ...join(symbols, '·')));
    const numbersLine = block(m('mrow', mo('='), ...join(numbers.map((e) => m('mrow', mo('('), e, mo(')'))), '×'), mo('='), result));
    numbersLine.dataset.product = typeof chain.product === 'number' ? String(chain.product) : '';
    numbersLine.classList.add('bpl-graph-numbers');
    this.mathNumbers = numbers;
    this.mathResult = result;
    this.math.replaceChildren(symbolsLine, numbersLine);
    const n = nums.nodes.get(this.pathKey) || {};
    const B = nums.B;
    this.sumNote.dataset.total = typeof n.total === 'number' ? String(n.total) : '';
    if (!B || typeof n.total !== 'number') {
      this.sumNote.textContent = t('graph.sumLater');
    } else {
      const reg = this.model.config && (this.model.config.l1 || this.model.config.l2) && leaf.kind === 'w';
      this.sumNote.textContent = t(B === 1 ? 'graph.sumOne' : 'graph.sum', { B, name, total: sig(n.total, 4) })
        + (reg ? ` ${t('graph.reg')}` : '');
    }
  }

  // ---- pointing, keyboard, choosing the path ---------------------------------------

  point(g) {
    if (!g || !this.drawing) return;
    this.pointed = g.dataset.key;
    this.describe(this.pointed);
  }

  /** What node `key` is and its numbers: its aria-label, and the line under the graph when `show`. */
  describe(key, show = true) {
    const p = this.drawing && this.drawing.parts.get(key);
    if (!p) return;
    const t = this.t;
    const name = this.names(p.node);
    const bits = [name];
    const read = (text) => (text && text.textContent ? text.textContent : '—');
    bits.push(`${t('graph.value')} ${read(p.val)}`);
    if (p.local) bits.push(`${t('graph.local')} ${read(p.local)}`);
    bits.push(`${t('graph.grad')} ${read(p.grad)}`);
    const line = bits.join(' · ');
    if (show) this.focusLine.textContent = line;
    p.g.setAttribute('aria-label', line + ((p.node.kind === 'w' || p.node.kind === 'b') ? ` — ${t('graph.choose')}` : ''));
  }

  onPick(ev) {
    const g = ev.target.closest && ev.target.closest('.gnode');
    if (!g) return;
    this.setRover(g);
    this.choose(g.dataset.key);
  }

  choose(key) {
    const kind = key.split('.')[0];
    if (kind !== 'w' && kind !== 'b') return;
    this.pathKey = key;
    this.paint();
  }

  inspectPath() {
    const [kind, l, a, b] = this.pathKey.split('.');
    const index = kind === 'w' ? [Number(a), Number(b)] : [Number(a)];
    this.act('inspect', { id: `L${l}.${kind === 'w' ? 'W' : 'b'}`, index });
  }

  setRover(g) {
    if (this.rover && this.rover !== g) this.rover.setAttribute('tabindex', '-1');
    g.setAttribute('tabindex', '0');
    this.rover = g;
  }

  /** Arrows move to the nearest node that way; Enter or Space on a weight or bias follows its path. */
  onKey(ev) {
    const g = ev.target.closest && ev.target.closest('.gnode');
    if (!g || ev.altKey || ev.ctrlKey || ev.metaKey) return;
    if (ev.key === 'Enter' || ev.key === ' ') {
      ev.preventDefault();
      this.choose(g.dataset.key);
      return;
    }
    const dirs = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    const d = dirs[ev.key];
    if (!d) return;
    ev.preventDefault();
    const from = this.layout.nodes.get(g.dataset.key);
    let best = null;
    let bestScore = Infinity;
    for (const n of this.layout.nodes.values()) {
      const dx = n.x - from.x;
      const dy = n.y - from.y;
      const along = dx * d[0] + dy * d[1];
      if (along <= 1) continue;
      const across = Math.abs(d[0] ? dy : dx);
      const score = along + 2 * across;
      if (score < bestScore) { bestScore = score; best = n; }
    }
    if (!best) return;
    const target = this.drawing.parts.get(best.key).g;
    this.setRover(target);
    target.focus();
  }

  // ---- motion -----------------------------------------------------------------------

  cancelAnims() {
    for (const a of this.anims) a.cancel();
    this.anims = [];
  }

  phaseDuration() {
    const s = this.model.state;
    return s.playing ? Math.min(900, (1000 / (4 * s.speed)) * 0.85) : 900;
  }

  /** Values appear left to right (forward), gradients right to left (backward). */
  animate(phase) {
    this.cancelAnims();
    const dur = this.phaseDuration();
    const cols = Math.max(...[...this.layout.nodes.values()].map((n) => colOf(n))) + 1;
    const seg = dur / cols;
    const anim = (el, keyframes, delay, duration = seg * 1.2) => {
      if (el) this.anims.push(el.animate(keyframes, { duration, delay, fill: 'backwards', easing: 'ease-out' }));
    };
    const appear = [{ opacity: 0 }, { opacity: 1 }];
    // a node lights up when the pass reaches it (and is plain until then)
    const flash = [{ fill: 'var(--panel)' }, { fill: 'var(--graph-flash)', offset: 0.25 }, { fill: 'var(--panel)' }];
    for (const p of this.drawing.parts.values()) {
      const c = colOf(p.node);
      const leaf = p.local === null;
      if (phase === 'forward') {
        anim(p.val, appear, c * seg);
        if (!leaf) anim(p.box, flash, c * seg);
      } else if (phase === 'loss' && (p.node.kind === 'loss' || p.node.kind === 't')) {
        anim(p.val, appear, 0, dur / 2);
        anim(p.box, flash, 0, dur / 2);
      } else if (phase === 'backward') {
        const delay = (cols - 1 - c) * seg;
        anim(p.grad, appear, delay);
        anim(p.local, appear, delay);
        if (p.g.classList.contains('on-path')) anim(p.box, flash, delay);
      } else if (phase === 'update' && (p.node.kind === 'w' || p.node.kind === 'b')) {
        anim(p.val, appear, 0, dur / 2);
        anim(p.grad, appear, 0, dur / 2);
        anim(p.box, flash, 0, dur);
      }
    }
    if (phase === 'backward') {
      // the chain's factors as the backward pass reaches their nodes, then the product
      for (const e of this.mathNumbers || []) {
        const n = this.layout.nodes.get(e.dataset.node);
        anim(e, appear, (cols - 1 - colOf(n)) * seg);
      }
      if (this.mathResult) anim(this.mathResult, appear, dur);
    }
  }
}

/** The column of a node (0: the inputs). */
function colOf(n) {
  return Math.round((n.x - GEOM.left) / GEOM.dx);
}

/** A parameter's symbol (the single neuron's plain w and b). */
function paramSymbol(leaf, single) {
  if (single) return mi(leaf.kind);
  return leaf.kind === 'w' ? sym('w', leaf.l, [leaf.i + 1, leaf.j + 1]) : sym('b', leaf.l, [leaf.j + 1]);
}

/** The symbol of one factor of the chain (graph-values.js `chainFactors`). */
function factorSymbol(f, K, single) {
  const L = mi('L');
  const idx = (n) => (single ? null : [n + 1]);
  switch (f.kind) {
    case 'dL_dy': return partial(L, single || K === 1 ? mi('y') : sym('y', null, [f.j + 1]));
    case 'dL_dz': return partial(L, single ? mi('z') : sym('z', f.l, [f.j + 1]));
    case 'dL_da': return partial(L, sym('a', f.l, [f.j + 1]));
    case 'df': return m('mrow', mi('f'), mo('′'), mo('('), single ? mi('z') : sym('z', f.l, idx(f.j)), mo(')'));
    case 'one': return mn('1');
    case 'w': return sym('w', f.l, [f.i + 1, f.j + 1]);
    case 'a':
      if (single) return mi('x');
      return f.l === 0 ? sym('x', null, [f.i + 1]) : sym('a', f.l, [f.i + 1]);
    default: return mi('?');
  }
}
