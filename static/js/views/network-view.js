/**
 * The network drawn as SVG, animated phase by phase.
 *
 * Nodes are laid out by layer (data-id "L{l}.a.{j}"), edges carry
 * data-id "L{l}.W.{i}.{j}" (from unit i of layer l−1 to unit j of layer l).
 * Edge colour is the sign of the weight (or of ∂L/∂W after the backward
 * phase) and width its magnitude; node fill is the batch-mean activation.
 * Each phase sets the final picture at once and, when motion is allowed,
 * animates towards it with the Web Animations API: forward pulses travel
 * left to right, backward pulses right to left, and the update lets edges
 * settle to their new weights. Hover or keyboard focus shows a tooltip with
 * the element's numbers.
 *
 * A hand edit (`edit` reply) redraws at once the edited weights, and the
 * neurons, output and loss the new weights give on the last batch (the reply's
 * batch means, shown in fills and tooltips until the next frame). A focused sample (`focus` reply) replaces the batch
 * means in the node fills, output labels and tooltips by that sample's own
 * values, with a bar saying which sample and a button back to the batch mean.
 */

import { CLASS_COLOURS, diverging, INK } from '../palette.js';
import { columnMean, fmt } from '../format.js';
import { parseElementId } from '../run-model.js';
import { NetworkMechanisms } from './network-mechanisms.js';
import { fitCaptions } from './layer-captions.js';
import { className, columnName } from '../class-names.js';

const SVG_NS = 'http://www.w3.org/2000/svg';
const IDLE_FILL = '#fafafa';
/** Drawing geometry in SVG units: wide screens, and narrow ones (phones) where text must stay legible. */
const GEOMETRY = Object.freeze({
  wide: { w: 640, h: 380, left: 56, right: 120, top: 26, bottom: 40 },
  narrow: { w: 420, h: 330, left: 44, right: 118, top: 20, bottom: 36 },
});
const NARROW_BELOW_PX = 560;
/** SVG units between two layers at least: a deep network is drawn wider (a phone scrolls it), its layers never on top of each other. */
const MIN_COLUMN = 56;
/** The least distance between two inputs' centres, where the drawing's height allows: their
 * names (x1, x2, a table's columns) stay apart (SVG units). */
const INPUT_GAP = 30;
/** SVG units the captions go down under batch norm's badges (network-mechanisms.js draws them under each column). */
const BADGE_ROOM = 20;

/** Widths (a Latin letter 1, a CJK one 2) an input's name may take beside its node. */
const NAME_WIDTH = 10;

/** `name` cut to {@link NAME_WIDTH}, with "…" where it was cut. */
export function shortName(name) {
  const chars = [...name];
  let width = 0;
  for (let i = 0; i < chars.length; i++) {
    width += chars[i].codePointAt(0) >= 0x2e80 ? 2 : 1;
    if (width > NAME_WIDTH) return `${chars.slice(0, Math.max(1, i - 1)).join('')}…`;
  }
  return name;
}

function svgEl(tag, attrs = {}, parent = null) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (parent) parent.appendChild(el);
  return el;
}

/** Largest |x| over nested arrays (at least `floor`). */
function maxAbs(arrays, floor = 1e-12) {
  let m = floor;
  const walk = (a) => {
    if (Array.isArray(a)) a.forEach(walk);
    else if (Number.isFinite(a)) m = Math.max(m, Math.abs(a));
  };
  arrays.forEach(walk);
  return m;
}

/**
 * What neuron `key` ("L1.a", "L1.z"…) column j shows: right after a hand edit (until
 * the next frame) the batch mean the new weights give (the `edit` reply's
 * `batch.means`), otherwise the model's value (the focused sample's or the batch mean).
 */
function unitValue(model, key, j) {
  const means = !model.focus && model.edit && model.edit.batch && model.edit.batch.means;
  if (means && means[key]) return means[key][j];
  return model.nodeValue(key, j);
}

/** The inspector's halo (inspected-mark.js), loaded with the first weight or neuron inspected. */
let halo = null;
function markInspected(svg, msg) {
  if (!msg && !halo) return; // (none drawn yet: none to remove)
  halo ||= import('./inspected-mark.js');
  halo.then((m) => m.markInspected(svg, msg)); // (in the order asked: one promise)
}

/** The SVG network diagram; `update({kind, model})` follows the run. */
export class NetworkView {
  /**
   * @param {HTMLElement} container the "network" slot
   * @param {{i18n: object, motion: () => boolean}} options motion() says whether to animate
   */
  constructor(container, { i18n, motion, act, catalog }) {
    this.container = container;
    this.catalog = catalog || null;
    this.i18n = i18n;
    this.motion = motion;
    this.act = act;
    this.sizes = null;
    this.nodes = [];
    this.edges = [];
    this.anims = [];
    this.mode = 'W';
    this.hoverId = null;
    this.model = null;
    this.rafPending = false;
    this.tipPending = false;
    this.tipKey = null; // what the tooltip shows now (its text), so an unchanged one is not rebuilt
    this.inspected = null; // the open inspector's target (its `inspect` message), marked in the drawing

    this.svg = svgEl('svg', { class: 'net-svg', role: 'group', 'data-mode': 'W' });
    this.geometry = null;
    this.legend = document.createElement('p');
    this.legend.className = 'net-legend';
    this.tip = document.createElement('div');
    this.tip.className = 'net-tip';
    this.tip.id = 'net-tip';
    this.tip.setAttribute('role', 'tooltip');
    this.tip.hidden = true;
    // Which sample the nodes show (only while one is focused), with the way back.
    this.focusText = document.createElement('span');
    this.focusBack = document.createElement('button');
    this.focusBack.type = 'button';
    this.focusBack.className = 'btn btn-small net-focus-back';
    this.focusBack.addEventListener('click', () => this.act && this.act('focus', null));
    this.focusBar = document.createElement('p');
    this.focusBar.className = 'net-focus';
    this.focusBar.setAttribute('aria-live', 'polite');
    this.focusBar.hidden = true;
    this.focusBar.append(this.focusText, this.focusBack);
    // a deep network on a narrow screen scrolls sideways inside this (css/screens.css)
    this.scroller = document.createElement('div');
    this.scroller.className = 'net-scroll';
    this.scroller.append(this.svg);
    // ...and says so while layers are out of sight
    this.more = document.createElement('p');
    this.more.className = 'net-more';
    this.more.hidden = true;
    this.scroller.addEventListener('scroll', () => this.sayMore(), { passive: true });
    container.append(this.focusBar, this.scroller, this.more, this.legend, this.tip);
    // captions measured on the screen: laid out again when the drawing's size changes
    if (typeof ResizeObserver !== 'undefined') {
      new ResizeObserver(() => { this.fitCaptions(); this.fitInputs(); this.sayMore(); }).observe(this.svg);
    }

    // batch norm, residual skips, dropout, dead/saturated units, optimizer state
    this.mech = new NetworkMechanisms({ svg: this.svg, container, i18n, catalog });

    // An element with data-id, or the edge whose wide invisible hit line was touched.
    const owner = (t) => {
      if (!t.closest) return null;
      const hit = t.closest('[data-hit]');
      if (hit) return this.svg.querySelector(`line.edge[data-id="${hit.dataset.hit}"]`);
      return t.closest('[data-id]');
    };
    const enter = (ev) => {
      const el = owner(ev.target);
      if (!el || !this.svg.contains(el)) return;
      if (ev.type === 'focusin') {
        this.setRover(el);
        if (this.touched) return; // (focus handed back after a tap: no tooltip)
      }
      this.showTip(el);
    };
    const leave = (ev) => {
      // A finger lifts right after tapping: keep the numbers up until the next tap elsewhere.
      if (ev.pointerType === 'touch') return;
      const el = owner(ev.target);
      if (el && el.dataset.id === this.hoverId) this.hideTip();
    };
    // whether the last input was a finger (not a key): see `enter`
    document.addEventListener('keydown', () => { this.touched = false; }, true);
    document.addEventListener('pointerdown', (ev) => {
      this.touched = ev.pointerType === 'touch';
      if (this.hoverId && !(ev.target.closest && ev.target.closest('.net-svg [data-id], .net-svg [data-hit]'))) this.hideTip();
    });
    // A click on a hit line counts as a click on its edge (e.g. to open the inspector).
    this.svg.addEventListener('click', (ev) => {
      const hit = ev.target.closest && ev.target.closest('[data-hit]');
      if (!hit) return;
      ev.stopPropagation();
      owner(hit).dispatchEvent(new MouseEvent('click', { bubbles: true, clientX: ev.clientX, clientY: ev.clientY }));
    });
    this.svg.addEventListener('pointerover', enter);
    this.svg.addEventListener('pointerout', leave);
    this.svg.addEventListener('focusin', enter);
    this.svg.addEventListener('focusout', leave);
    // Re-layout when the panel crosses the phone/desktop width.
    new ResizeObserver(() => {
      if (!this.model || !this.model.net || this.geometry === this.pickGeometry()) return;
      this.sizes = null;
      this.build(this.model);
      this.paintClasses(this.model);
      this.paintIdle(this.model);
      this.paintState(this.model);
      markInspected(this.svg, this.inspected);
    }).observe(container);
    container.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape') this.hideTip();
      else this.moveFocus(ev);
    });
  }

  // ---- keyboard: two roving tab stops, one for neurons and one for weights ----------

  /** Make `el` the tab stop of its group (neurons or weights). */
  setRover(el) {
    const group = el.classList.contains('edge') ? 'edgeRover' : 'nodeRover';
    if (this[group] && this[group] !== el) this[group].setAttribute('tabindex', '-1');
    el.setAttribute('tabindex', '0');
    this[group] = el;
  }

  /**
   * Arrow keys inside the diagram move between its elements instead of stepping
   * the run: neurons — ↑/↓ within a layer, ←/→ across layers; weights — ↑/↓
   * through a layer's weights, ←/→ across layers. Tab goes from neurons to weights.
   */
  moveFocus(ev) {
    const keys = { ArrowUp: [0, -1], ArrowDown: [0, 1], ArrowLeft: [-1, 0], ArrowRight: [1, 0] };
    const d = keys[ev.key];
    const el = ev.target;
    if (!d || !this.sizes || !el.dataset || !el.dataset.id || ev.altKey || ev.ctrlKey || ev.metaKey) return;
    const p = parseElementId(el.dataset.id);
    if (!p) return;
    let next = null;
    const clamp = (v, n) => Math.max(0, Math.min(n - 1, v));
    const n = this.sizes.length - 1;
    if (p.kind === 'node') {
      const l = clamp(p.l + d[0], n + 1);
      next = this.nodes[l][clamp(d[0] ? p.j : p.j + d[1], this.sizes[l])];
    } else if (p.kind === 'edge') {
      const l = Math.max(1, Math.min(n, p.l + d[0]));
      const cols = this.sizes[l];
      const k = d[0] ? 0 : clamp(p.i * this.sizes[p.l] + p.j + d[1], this.sizes[l - 1] * cols);
      const i = d[0] ? clamp(p.i, this.sizes[l - 1]) : Math.floor(k / cols);
      const j = d[0] ? clamp(p.j, cols) : k % cols;
      next = this.edges[l][i][j];
    }
    if (!next) return;
    // Handled here: the page's arrow shortcuts (step phase) must not fire too.
    ev.preventDefault();
    ev.stopPropagation();
    this.setRover(next);
    next.focus();
  }

  /** Follow the run: rebuild on `run`, repaint and animate on `frame`, relabel on `lang`. */
  update({ kind, model, msg }) {
    this.model = model;
    if (kind === 'run') {
      this.build(model);
      this.paintClasses(model);
      this.paintIdle(model);
      markInspected(this.svg, this.inspected);
      // a real table's inputs are named in the page's language with the later words
      const ds = this.catalog && model.config ? this.catalog.entry('datasets', model.config.dataset) : null;
      if (ds && ds.real) this.i18n.need('later').then(() => this.relabel(), () => {});
    } else if (kind === 'inspect') {
      this.inspected = msg && msg.id !== null && msg.id !== undefined ? msg : null;
      markInspected(this.svg, this.inspected);
    } else if (kind === 'frame') {
      this.showFrame(model, msg.phase);
    } else if (kind === 'start') {
      this.paintIdle(model); // back at the start: its weights, no phase's values
    } else if (kind === 'edit') {
      if (msg.applied) this.showEdit(model, msg);
    } else if (kind === 'focus') {
      this.showFocus(model);
    } else if (kind === 'lang') {
      this.relabel();
    } else if (kind === 'present') {
      this.fitCaptions(); // the projector's larger type: the loss placed again,
      this.fitInputs(); // more room for the input names
    } else if (kind === 'timeline' && msg.settings) {
      this.mech.strip.setSettings(msg.settings, model);
    }
    if (this.hoverId) this.scheduleTip();
  }

  /** Refresh the tooltip after this burst of messages: at most once per animation frame. */
  scheduleTip() {
    if (this.tipPending) return;
    this.tipPending = true;
    requestAnimationFrame(() => {
      this.tipPending = false;
      this.refreshTip();
    });
  }

  /** Input `j`'s name: a real table's column in the page's language once its words are
   * loaded ("がく片の長さ (cm)"), a CSV's header as written, else x₁, x₂ … */
  inputName(j) {
    const name = this.features && this.features[j];
    return name ? columnName(this.i18n, this.model && this.model.config, name) : `x${j + 1}`;
  }

  /** Show the output neurons' class rings when each output is a class (multiclass). */
  paintClasses(model) {
    const multi = Boolean(model && model.net && model.net.task === 'multiclass');
    for (const ring of this.classRings || []) ring.setAttribute('visibility', multi ? 'visible' : 'hidden');
    // and each says which class it is, in the node, where the name is short (digits' 0…9)
    (this.classNames || []).forEach((el, k) => {
      const name = multi ? className(model.config, k, (key) => this.i18n.t(key)) : '';
      const fits = name.length > 0 && name.length <= 2 && this.r >= 5;
      el.textContent = fits ? name : '';
      el.setAttribute('visibility', fits ? 'visible' : 'hidden');
    });
  }

  // ---- layout ---------------------------------------------------------------------

  pickGeometry() {
    return this.container.clientWidth && this.container.clientWidth < NARROW_BELOW_PX ? GEOMETRY.narrow : GEOMETRY.wide;
  }

  build(model) {
    const sizes = model.net.sizes;
    const same = this.sizes && this.sizes.length === sizes.length && this.sizes.every((s, k) => s === sizes[k]);
    this.features = model.net.features;
    // the pixels of a picture (digits: 8×8) are drawn as that picture, not as a column of 64
    const ds = this.catalog && model.config ? this.catalog.entry('datasets', model.config.dataset) : null;
    const image = ds && ds.image && ds.image[0] * ds.image[1] === sizes[0] ? ds.image : null;
    const sameImage = String(image) === String(this.image);
    this.image = image;
    if (same && sameImage) {
      // the same shape may come with other mechanisms (norm, dropout, residual)
      this.svg.querySelectorAll('.mech-skips, .mech-marks').forEach((g) => g.remove());
      this.badgeRoom(model);
      this.mech.build(model, { pos: this.pos, r: this.r, width: this.geometry.w, height: this.svgHeight });
      this.relabel();
      return;
    }
    this.cancelAnims();
    this.hideTip();
    this.sizes = sizes.slice();
    this.svg.replaceChildren();
    const n = sizes.length - 1;
    const G0 = this.pickGeometry();
    const G = { ...G0, w: Math.max(G0.w, G0.left + G0.right + (sizes.length - 1) * MIN_COLUMN) };
    this.geometry = G;
    const innerW = G.w - G.left - G.right;
    const maxUnits = Math.max(...(image ? sizes.slice(1) : sizes));
    // A small network gets a shorter drawing rather than empty space above and below it.
    const innerH = Math.min(G.h - G.top - G.bottom, 64 * Math.max(3, maxUnits));
    const H = innerH + G.top + G.bottom;
    this.svgHeight = H;
    this.baseHeight = H;
    this.grow = [0, 0]; // on the left for the input names, on the right for the loss
    this.setViewBox();
    this.captionY = H - 12;
    const gap = Math.min(64, innerH / Math.max(1, maxUnits));
    this.r = Math.max(4, Math.min(17, gap * 0.34));
    const pos = sizes.map((k, l) => {
      const x = G.left + (n === 0 ? 0 : (l * innerW) / n);
      // beside a picture's input, a small layer (ten digits) spreads out so its labels fit;
      // so do the inputs' names beside a wide layer (x1 over x2, 11 px apart beside 32 units)
      const fit = Math.min(64, innerH / Math.max(1, k));
      const g = image ? fit : l === 0 ? Math.max(gap, Math.min(fit, INPUT_GAP)) : gap;
      return Array.from({ length: k }, (_, j) => [x, G.top + innerH / 2 + (j - (k - 1) / 2) * g]);
    });
    if (image) {
      // the input layer as the picture: one small node per pixel, row by row, centred where
      // the input column would be
      const [rows, cols] = image;
      const cell = Math.min(13, innerH / rows, (2 * G.left - 8) / cols);
      this.pixel = cell;
      pos[0] = Array.from({ length: rows * cols }, (_, k) => [
        G.left + ((k % cols) - (cols - 1) / 2) * cell,
        G.top + innerH / 2 + (Math.floor(k / cols) - (rows - 1) / 2) * cell]);
    }
    this.pos = pos;

    // Thin edges are hard to point at: each has a wide transparent hit line underneath.
    const gHits = svgEl('g', { class: 'edge-hits', 'aria-hidden': 'true' }, this.svg);
    const gNodes = svgEl('g', { class: 'nodes' }, this.svg);
    const gEdges = svgEl('g', { class: 'edges' }, this.svg);
    const gPulses = svgEl('g', { class: 'pulses', 'aria-hidden': 'true' }, this.svg);
    const gLabels = svgEl('g', { class: 'labels', 'aria-hidden': 'true' }, this.svg);
    // Nodes come first in the DOM so Tab visits neurons before the many edges;
    // edges stop at the node rims, so drawing them later hides nothing.
    this.nodes = pos.map((layer, l) => layer.map(([x, y], j) => svgEl('circle', {
      cx: x, cy: y, r: l === 0 && image ? this.pixel * 0.5 : this.r,
      class: l === 0 ? (image ? 'node input pixel' : 'node input') : (l === n ? 'node output' : 'node'),
      'data-id': `L${l}.a.${j}`, tabindex: '-1', 'aria-describedby': 'net-tip',
    }, gNodes)));
    this.edges = [null];
    this.pulses = [null];
    for (let l = 1; l <= n; l++) {
      const layerEdges = [];
      const layerPulses = [];
      pos[l - 1].forEach(([x1, y1], i) => {
        const row = [];
        const prow = [];
        pos[l].forEach(([x2, y2], j) => {
          const len = Math.hypot(x2 - x1, y2 - y1) || 1;
          const ux = (x2 - x1) / len;
          const uy = (y2 - y1) / len;
          const r = this.r + 1;
          svgEl('line', {
            x1: x1 + ux * r, y1: y1 + uy * r, x2: x2 - ux * r, y2: y2 - uy * r, class: 'edge-hit',
            'data-hit': `L${l}.W.${i}.${j}`,
          }, gHits);
          row.push(svgEl('line', {
            x1: x1 + ux * r, y1: y1 + uy * r, x2: x2 - ux * r, y2: y2 - uy * r, class: 'edge',
            'data-id': `L${l}.W.${i}.${j}`, tabindex: '-1', 'aria-describedby': 'net-tip',
          }, gEdges));
          prow.push(svgEl('circle', { r: Math.max(2.5, this.r * 0.28), cx: 0, cy: 0, class: 'pulse' }, gPulses));
        });
        layerEdges.push(row);
        layerPulses.push(prow);
      });
      this.edges.push(layerEdges);
      this.pulses.push(layerPulses);
    }
    this.layerCaptions = sizes.map((_, l) => svgEl('text', {
      x: l === 0 && image ? G.left : pos[l][0][0], y: H - 12, class: 'layer-caption', 'text-anchor': 'middle',
    }, gLabels));
    if (image) {
      // the picture on top of its thousands of edges (which start under it)
      const gPixels = svgEl('g', { class: 'pixels' }, this.svg);
      this.nodes[0].forEach((el) => gPixels.appendChild(el));
    }
    this.inputLabels = pos[0].map(([x, y]) => svgEl('text', {
      x: x - this.r - 6, y: y + 4, class: 'io-label', 'text-anchor': 'end',
    }, gLabels));
    const xo = pos[n][0][0] + this.r + 10;
    this.outGap = pos[n].length > 1 ? pos[n][1][1] - pos[n][0][1] : Infinity;
    this.outOneLine = false; // (placeLoss decides, in the type in use)
    this.outLabels = pos[n].map(([, y]) => {
      const text = svgEl('text', { x: xo + 12, y: y - 3, class: 'out-label' }, gLabels);
      return [svgEl('tspan', { x: xo + 12 }, text), svgEl('tspan', { x: xo + 12, dy: '1.15em' }, text)];
    });
    // a softmax output neuron stands for one class: a ring in the map's colour for it
    // (the node's own fill and rim show values)
    this.classRings = pos[n].map(([x, y], k) => svgEl('circle', {
      cx: x, cy: y, r: this.r + 4, class: 'class-ring', 'data-class': String(k),
      stroke: CLASS_COLOURS[k % CLASS_COLOURS.length], visibility: 'hidden',
    }, gLabels));
    this.classNames = pos[n].map(([x, y]) => svgEl('text', {
      x, y, dy: '0.35em', class: 'class-name', 'text-anchor': 'middle', visibility: 'hidden',
      'font-size': `${Math.max(8, Math.round(this.r * 1.3))}px`,
    }, gLabels));
    this.targets = pos[n].map(([, y]) => svgEl('path', {
      d: 'M0,-5 L5,0 L0,5 L-5,0 Z', class: 'target', transform: `translate(${xo},${y})`, opacity: '0',
    }, gLabels));
    this.lossLabel = svgEl('text', { y: H - 12, class: 'loss-label' }, gLabels);
    this.lossFits = 0;
    this.targetX = xo;
    this.nodeRover = null;
    this.edgeRover = null;
    this.setRover(this.nodes[0][0]);
    if (n > 0) this.setRover(this.edges[1][0][0]);
    this.badgeRoom(model);
    this.mech.build(model, { pos, r: this.r, width: G.w, height: H });
    this.relabel();
  }

  /** The sideways-scroll cue: shown while part of the drawing is out of the scroller's sight. */
  sayMore() {
    const s = this.scroller;
    this.more.hidden = s.scrollWidth - s.clientWidth - s.scrollLeft < 8;
    if (!this.more.hidden) this.more.textContent = this.i18n.t('net.more');
  }

  relabel() {
    this.sayMore();
    if (!this.sizes) return;
    const t = (k, p) => this.i18n.t(k, p);
    const n = this.sizes.length - 1;
    this.svg.setAttribute('aria-label', t('net.label'));
    this.fitCaptions();
    // a real table's long column names ("alcalinity_of_ash") are cut beside a node ("alcalin…":
    // more than x₄ says), whole in the node's title and the map's menus
    this.inputLabels.forEach((el, j) => {
      el.textContent = this.image ? '' : shortName(this.inputName(j));
    });
    this.fitInputs();
    this.nodes.forEach((layer, l) => layer.forEach((el, j) => {
      el.setAttribute('aria-label', l === 0
        ? t('net.inputNode', { name: this.inputName(j) })
        : t('net.node', { l, j: j + 1 }));
    }));
    for (let l = 1; l <= n; l++) {
      this.edges[l].forEach((row, i) => row.forEach((el, j) => {
        el.setAttribute('aria-label', t('net.edge', { l, i: i + 1, j: j + 1 }));
      }));
    }
    this.paintLegend();
    this.paintFocusBar();
    this.mech.relabel();
  }

  /**
   * Input names wholly in the drawing (a CSV's "height" was cut to "eight" at the left
   * edge): the view box grows on the left by what the widest name needs, measured in SVG
   * units at the type in use (the projector's is larger), so the drawing shrinks a little
   * rather than cutting a name. Measuring in SVG units makes this stable under resizing.
   */
  fitInputs() {
    if (!this.sizes || !this.geometry || !this.inputLabels) return;
    let left = Infinity;
    for (const el of this.inputLabels) {
      if (!el.textContent) continue;
      let box = null;
      try {
        box = el.getBBox();
      } catch {
        box = null; // not rendered (a folded panel): measured again when it shows
      }
      if (box && box.width > 0) left = Math.min(left, box.x);
    }
    if (left === Infinity) return;
    this.grow[0] = Math.max(0, Math.ceil(2 - left));
    this.setViewBox();
  }

  /** Batch norm's badges sit under their columns: the captions go below them (they ran
   * into the captions' upper, staggered line). */
  badgeRoom(model) {
    const room = model.net.norm && model.net.norm.includes('batch') ? BADGE_ROOM : 0;
    this.svgHeight = this.baseHeight + room;
    this.captionY = this.baseHeight - 12 + room;
    this.setViewBox();
  }

  setViewBox() {
    const [left, right] = this.grow;
    const w = this.geometry.w + left + right;
    this.svg.setAttribute('viewBox', `${-left} 0 ${w} ${this.svgHeight}`);
    this.svg.style.setProperty('--units', String(w)); // a phone's narrowest drawing (css/screens.css)
  }

  /** The loss after the output's caption, on the captions' lower line (under the lowest
   * output it lay on that caption: digits' ten outputs); the view box grows if need be,
   * for it and for the outputs' one-line labels. */
  placeLoss() {
    const el = this.lossLabel;
    const text = el.textContent;
    el.textContent = text.length > 10 ? text : 'L = 0.0000';
    let cap = null;
    let w = 0;
    try {
      cap = this.layerCaptions[this.sizes.length - 1].getBBox();
      w = el.getBBox().width;
    } catch { /* not rendered: placed when it shows */ }
    el.textContent = text;
    if (!w) return;
    const x = cap.x + cap.width + 8;
    el.setAttribute('x', String(x));
    this.lossFits = Math.max(10, text.length);
    this.layOutputLabels();
    let need = x + w + 4;
    if (this.outOneLine) { // (the widest the outputs' line gets, measured in this type)
      const [ly, lt] = this.outLabels[0];
      const was = [ly.textContent, lt.textContent];
      ly.textContent = 'ȳ = 0.00';
      lt.textContent = 't̄ = 0.00';
      const box = ly.parentNode.getBBox();
      [ly.textContent, lt.textContent] = was;
      need = Math.max(need, box.x + box.width + 4);
    }
    const right = Math.max(0, Math.ceil(need - this.geometry.w));
    if (right !== this.grow[1]) {
      this.grow[1] = right;
      this.setViewBox();
    }
  }

  /** Outputs closer than two lines of the labels' type (digits' ten, on a projector): ȳ and
   * t̄ on one line, the drawing narrower to make room (placeLoss); each ran into the next. */
  layOutputLabels() {
    const first = this.outLabels[0];
    if (!first) return;
    const one = this.outGap < 2.2 * (parseFloat(getComputedStyle(first[0].parentNode).fontSize) || 12);
    if (one === this.outOneLine) return;
    this.outOneLine = one;
    for (const [ly, lt] of this.outLabels) {
      const y = Number(ly.parentNode.getAttribute('y')) + (one ? 7 : -7);
      ly.parentNode.setAttribute('y', String(y));
      if (one) lt.setAttribute('dx', '0.6em');
      else lt.removeAttribute('dx');
      for (const [k, v] of [['x', ly.getAttribute('x')], ['dy', '1.15em']]) {
        if (one) lt.removeAttribute(k);
        else lt.setAttribute(k, v);
      }
    }
  }

  showLoss(text) {
    this.lossLabel.textContent = text;
    if (text.length > this.lossFits) this.placeLoss();
  }

  /** Layer captions that never overlap (layer-captions.js), in this language. */
  fitCaptions() {
    if (!this.sizes) return;
    const t = (k, p) => this.i18n.t(k, p);
    const n = this.sizes.length - 1;
    fitCaptions(this.layerCaptions, this.captionY, (l, short) => {
      const s = short ? 'Short' : '';
      return l === 0 ? t(`net.input${s}`) : l === n ? t(`net.output${s}`) : t(`net.hidden${s}`, { l });
    });
    this.placeLoss();
  }

  paintFocusBar() {
    const f = this.model && this.model.focus;
    this.focusBar.hidden = !f;
    if (!f) return;
    const t = (k, p) => this.i18n.t(k, p);
    this.focusText.textContent = t('net.focused', { split: t(`insp.split.${f.split}`), index: f.index });
    this.focusBack.textContent = t('net.backToMean');
  }

  paintLegend() {
    const t = (k) => this.i18n.t(k);
    this.legend.replaceChildren();
    const item = (cls, text) => {
      const s = document.createElement('span');
      s.className = `swatch ${cls}`;
      const l = document.createElement('span');
      l.textContent = text;
      this.legend.append(s, l);
    };
    const mode = document.createElement('strong');
    mode.textContent = t(this.mode === 'W' ? 'net.showsW' : 'net.showsDW');
    mode.className = 'net-mode';
    this.legend.append(mode);
    item('neg', t('net.legendNeg'));
    item('pos', t('net.legendPos'));
    item('width', t('net.legendWidth'));
    // the mechanisms' keys on the same line (network-mechanisms.js keeps them current)
    if (this.mech) this.legend.append(this.mech.legend);
  }

  // ---- painting -------------------------------------------------------------------

  /** Edges show weights, nodes neutral: a fresh run before any phase. */
  paintIdle(model) {
    this.cancelAnims();
    this.setMode('W');
    this.paintEdges(model, 'W');
    for (const layer of this.nodes) for (const el of layer) { el.style.fill = ''; el.style.stroke = ''; }
    this.clearLoss();
  }

  setMode(mode) {
    if (mode === this.mode) return;
    this.mode = mode;
    this.svg.setAttribute('data-mode', mode);
    this.paintLegend();
  }

  /** Final edge styles for 'W' (weights) or 'dW' (gradients); returns the previous styles. */
  paintEdges(model, what, layers = null) {
    const n = this.sizes.length - 1;
    const key = what === 'W' ? 'W' : 'dW';
    const src = what === 'W' ? model.params : (model.frames.backward || {});
    const mats = [];
    for (let l = 1; l <= n; l++) mats.push(src[`L${l}.${key}`]);
    const scale = maxAbs(mats.filter(Boolean));
    const before = [];
    for (let l = 1; l <= n; l++) {
      if (layers && !layers.includes(l)) continue;
      const M = src[`L${l}.${key}`];
      if (!M) continue;
      this.edges[l].forEach((row, i) => row.forEach((el, j) => {
        const v = M[i][j] / scale;
        before.push([el, el.style.stroke, el.style.strokeWidth, l]);
        el.style.stroke = diverging(v);
        // a picture's thousands of edges stay hairlines: its unit images show the weights
        const wide = l === 1 && this.image ? 1.2 : 5.4;
        el.style.strokeWidth = ((wide / 9) + wide * Math.min(1, Math.abs(v) || 0)).toFixed(2);
      }));
    }
    return before;
  }

  /** Node fills from the forward frame; returns previous fills per layer. */
  paintNodes(model) {
    const before = [];
    this.nodes.forEach((layer, l) => {
      const means = layer.map((_, j) => unitValue(model, `L${l}.a`, j));
      const scale = Math.max(1, ...means.filter(Number.isFinite).map(Math.abs));
      layer.forEach((el, j) => {
        before.push([el, el.style.fill, l]);
        el.style.fill = means[j] === undefined ? '' : diverging(means[j] / scale);
        el.style.stroke = '';
      });
    });
    return before;
  }

  paintDeltas(model) {
    for (let l = 1; l < this.nodes.length; l++) {
      const means = this.nodes[l].map((_, j) => model.nodeMean(`L${l}.delta`, j));
      const scale = Math.max(1e-12, ...means.filter(Number.isFinite).map(Math.abs));
      this.nodes[l].forEach((el, j) => {
        el.style.stroke = means[j] === undefined ? '' : diverging(means[j] / scale);
      });
    }
  }

  clearLoss() {
    if (this.model && this.model.focus) {
      this.paintFocusOutput(this.model.focus);
      return;
    }
    this.lossLabel.textContent = '';
    this.outLabels.forEach(([a, b]) => { a.textContent = ''; b.textContent = ''; });
    this.targets.forEach((el) => el.setAttribute('opacity', '0'));
  }

  paintLoss(model) {
    if (model.focus) {
      this.paintFocusOutput(model.focus);
      return;
    }
    const f = model.frames.loss;
    if (!f) return;
    this.outLabels.forEach(([ly, lt], k) => {
      ly.textContent = `ȳ = ${fmt(model.nodeMean('y', k), 2)}`;
      lt.textContent = `t̄ = ${fmt(model.nodeMean('t', k), 2)}`;
    });
    this.targets.forEach((el, k) => {
      el.setAttribute('opacity', '1');
      el.style.fill = diverging((model.nodeMean('t', k) ?? 0) * 2 - 1);
    });
    this.showLoss(`L = ${fmt(f['loss.total'])}`);
  }

  /** Output, target and loss of the focused sample (its `focus` message). */
  paintFocusOutput(f) {
    const y = f.values.y || [];
    const tt = Array.isArray(f.t) ? f.t : [f.t];
    this.outLabels.forEach(([ly, lt], k) => {
      ly.textContent = `y = ${fmt(y[k], 2)}`;
      lt.textContent = `t = ${fmt(tt[k], 2)}`;
    });
    this.targets.forEach((el, k) => {
      el.setAttribute('opacity', '1');
      el.style.fill = diverging((Number(tt[k]) || 0) * 2 - 1);
    });
    this.showLoss(`ℓ = ${fmt(f.loss)}`);
  }

  /** A sample was focused or unfocused: repaint nodes and outputs from its values or the batch. */
  showFocus(model) {
    this.paintFocusBar();
    if (!this.sizes) return;
    this.mech.paint(model);
    this.cancelAnims();
    if (model.focus) {
      this.paintNodes(model);
      this.paintFocusOutput(model.focus);
    } else {
      if (!model.frames.forward) for (const layer of this.nodes) for (const el of layer) el.style.fill = '';
      this.paintState(model);
    }
  }

  /**
   * An applied hand edit (`edit` reply): the edited weights redrawn at once from the
   * reply's params, and the output and loss the new weights give on the last batch.
   */
  showEdit(model, msg) {
    if (!this.sizes) return;
    this.cancelAnims();
    this.setMode('W');
    const prev = this.paintEdges(model, 'W');
    if (this.motion()) {
      for (const [el, oldStroke, oldWidth] of prev) {
        if (oldStroke === el.style.stroke && oldWidth === el.style.strokeWidth) continue;
        this.anim(el, [{ stroke: oldStroke, strokeWidth: oldWidth }, { stroke: el.style.stroke, strokeWidth: el.style.strokeWidth }],
          { duration: 400, easing: 'ease-out' });
      }
    }
    if (model.focus) return; // the focused sample's own output follows in its `focus` reply
    const b = msg.batch;
    if (!b || !b.y || !b.y.length) return;
    // the hidden units downstream of the edited weight, as the new weights give them
    const nodes = this.paintNodes(model);
    if (this.motion()) {
      for (const [el, old] of nodes) {
        if (old === el.style.fill) continue;
        this.anim(el, [{ fill: old || IDLE_FILL }, { fill: el.style.fill }], { duration: 400, easing: 'ease-out' });
      }
    }
    this.outLabels.forEach(([ly, lt], k) => {
      ly.textContent = `ȳ = ${fmt(columnMean(b.y, k), 2)}`;
      const tk = model.nodeMean('t', k);
      lt.textContent = tk === undefined ? '' : `t̄ = ${fmt(tk, 2)}`;
    });
    this.showLoss(`L = ${fmt(b.loss)}`);
  }

  // ---- phases ---------------------------------------------------------------------

  showFrame(model, phase) {
    if (!this.sizes) return;
    const animate = this.motion() && !model.fast;
    if (!animate) {
      // Fast play: several frames may arrive per tick; paint only the latest, once per frame.
      this.cancelAnims();
      if (!this.rafPending) {
        this.rafPending = true;
        requestAnimationFrame(() => {
          this.rafPending = false;
          this.paintState(this.model);
        });
      }
      return;
    }
    this.cancelAnims();
    const dur = this.phaseDuration(model);
    const prev = this.paintPhase(model, phase);
    this.animatePhase(phase, prev, dur);
  }

  /**
   * The whole picture after the iteration's latest phase, painted once: node
   * fills from its forward frame, edges as gradients right after backward
   * and as weights otherwise, the loss while it is current. Used when frames
   * arrive faster than they can be animated (fast play, reduced motion).
   */
  paintState(model) {
    if (!model || !this.sizes) return;
    const last = model.lastPhase;
    if (model.frames.forward) this.paintNodes(model);
    const grads = last === 'backward' && model.frames.backward;
    this.setMode(grads ? 'dW' : 'W');
    this.paintEdges(model, grads ? 'dW' : 'W');
    if (grads) this.paintDeltas(model);
    else this.nodes.forEach((layer) => layer.forEach((el) => { el.style.stroke = ''; }));
    if (last === 'loss' || last === 'backward') this.paintLoss(model);
    else this.clearLoss();
    this.mech.paint(model);
  }

  /** Set the final picture of `phase`; returns what changed (for animation). */
  paintPhase(model, phase) {
    if (!model || !phase || !this.sizes) return {};
    const out = {};
    if (phase === 'forward') {
      this.clearLoss();
      this.setMode('W');
      out.edges = this.paintEdges(model, 'W');
      out.nodes = this.paintNodes(model);
    } else if (phase === 'loss') {
      this.paintLoss(model);
    } else if (phase === 'backward') {
      this.setMode('dW');
      out.edges = this.paintEdges(model, 'dW');
      this.paintDeltas(model);
    } else if (phase === 'update') {
      this.setMode('W');
      out.edges = this.paintEdges(model, 'W');
      this.nodes.forEach((layer) => layer.forEach((el) => { el.style.stroke = ''; }));
      this.clearLoss();
    }
    this.mech.paint(model);
    return out;
  }

  phaseDuration(model) {
    const s = model.state;
    if (s.playing) return Math.min(900, (1000 / (4 * s.speed)) * 0.85);
    return 900;
  }

  cancelAnims() {
    for (const a of this.anims) a.cancel();
    this.anims = [];
  }

  anim(el, keyframes, opts) {
    this.anims.push(el.animate(keyframes, { fill: 'backwards', ...opts }));
  }

  /** Pulses along every edge of layer l, forwards (l−1 → l) or backwards. */
  pulseLayer(l, backwards, delay, duration, colourOf) {
    this.edges[l].forEach((row, i) => row.forEach((edge, j) => {
      const [x1, y1] = this.pos[l - 1][i];
      const [x2, y2] = this.pos[l][j];
      const [a, b] = backwards ? [[x2, y2], [x1, y1]] : [[x1, y1], [x2, y2]];
      const p = this.pulses[l][i][j];
      p.style.fill = colourOf ? colourOf(edge) : INK;
      this.anim(p, [
        { transform: `translate(${a[0]}px,${a[1]}px)`, opacity: 0 },
        { opacity: 0.9, offset: 0.15 },
        { opacity: 0.9, offset: 0.85 },
        { transform: `translate(${b[0]}px,${b[1]}px)`, opacity: 0 },
      ], { duration, delay, easing: 'ease-in-out', fill: 'none' });
    }));
  }

  animatePhase(phase, prev, dur) {
    const n = this.sizes.length - 1;
    const seg = dur / Math.max(1, n);
    if (phase === 'forward') {
      for (let l = 1; l <= n; l++) this.pulseLayer(l, false, (l - 1) * seg, seg);
      for (const [el, old, l] of prev.nodes || []) {
        if (l === 0 || old === el.style.fill) continue;
        this.anim(el, [{ fill: old || IDLE_FILL }, { fill: el.style.fill }], { duration: seg * 0.4, delay: l * seg - seg * 0.4 });
      }
    } else if (phase === 'loss') {
      this.targets.forEach((el) => {
        const [, y] = this.pos[n][this.targets.indexOf(el)];
        this.anim(el, [
          { transform: `translate(${this.targetX + 90}px,${y}px)`, opacity: 0 },
          { transform: `translate(${this.targetX}px,${y}px)`, opacity: 1 },
        ], { duration: dur * 0.6, easing: 'ease-out' });
      });
      this.anim(this.lossLabel, [{ opacity: 0 }, { opacity: 1 }], { duration: dur * 0.5, delay: dur * 0.5 });
    } else if (phase === 'backward') {
      for (let l = n; l >= 1; l--) {
        const delay = (n - l) * seg;
        this.pulseLayer(l, true, delay, seg, (edge) => edge.style.stroke);
        for (const [el, oldStroke, oldWidth, ll] of prev.edges || []) {
          if (ll !== l) continue;
          this.anim(el, [{ stroke: oldStroke, strokeWidth: oldWidth }, { stroke: el.style.stroke, strokeWidth: el.style.strokeWidth }],
            { duration: seg * 0.5, delay: delay + seg * 0.5 });
        }
      }
    } else if (phase === 'update') {
      for (const [el, oldStroke, oldWidth] of prev.edges || []) {
        this.anim(el, [{ stroke: oldStroke, strokeWidth: oldWidth }, { stroke: el.style.stroke, strokeWidth: el.style.strokeWidth }],
          { duration: dur, easing: 'ease-out' });
      }
    }
  }

  // ---- tooltip --------------------------------------------------------------------

  showTip(el) {
    if (this.tipAnchor) this.tipAnchor.classList.remove('is-pointed');
    el.classList.add('is-pointed');
    this.hoverId = el.dataset.id;
    this.tipAnchor = el;
    this.refreshTip();
    this.tip.hidden = false;
    const box = this.container.getBoundingClientRect();
    const r = el.getBoundingClientRect();
    const x = r.left + r.width / 2 - box.left;
    const y = r.top - box.top;
    const w = this.tip.offsetWidth;
    this.tip.style.left = `${Math.max(4, Math.min(box.width - w - 4, x - w / 2))}px`;
    const above = y - this.tip.offsetHeight - 8;
    this.tip.style.top = `${above >= 0 ? above : r.bottom - box.top + 8}px`;
  }

  hideTip() {
    if (this.tipAnchor) this.tipAnchor.classList.remove('is-pointed');
    this.hoverId = null;
    this.tip.hidden = true;
  }

  refreshTip() {
    if (!this.model || !this.hoverId) return;
    const d = this.model.describe(this.hoverId);
    if (!d) return;
    if (d.kind === 'node' && d.l > 0) {
      // after a hand edit: the new weights' numbers, not the last frame's; δ belongs
      // to the old weights and comes again with the next backward pass
      const m = this.model;
      if (!m.focus && m.edit && m.edit.batch && m.edit.batch.means) delete d.delta;
      d.z = unitValue(m, `L${d.l}.z`, d.j);
      d.a = unitValue(m, `L${d.l}.a`, d.j);
    }
    const t = (k, p) => this.i18n.t(k, p);
    const lines = [];
    let title;
    if (d.kind === 'edge') {
      title = t('net.edge', { l: d.l, i: d.i + 1, j: d.j + 1 });
      lines.push(['w', t('tip.weight'), d.w, 'w']);
      if (d.dW !== undefined) lines.push(['∂L/∂w', t('tip.grad'), d.dW, 'dw']);
      if (d.step !== undefined) lines.push(['Δw', t('tip.step'), d.step, 'step']);
    } else {
      const p = parseElementId(this.hoverId);
      title = p.l === 0 ? t('net.inputNode', { name: this.inputName(p.j) }) : t('net.node', { l: p.l, j: p.j + 1 });
      if (d.z !== undefined) lines.push(['z', t('tip.pre'), d.z, 'z']);
      lines.push(['a', t('tip.act'), d.a, 'a']);
      if (d.delta !== undefined) lines.push(['δ', t('tip.delta'), d.delta, 'delta']);
      if (d.b !== undefined) lines.push(['b', t('tip.bias'), d.b, 'b']);
    }
    const texts = lines.map(([sym, name, v]) => `${sym} = ${v === undefined ? t('net.unknown') : fmt(v)}  (${name})`);
    // the unit's mechanisms this iteration (batch norm, dropout, dead, saturated)
    const notes = d.kind === 'node' ? this.mech.tipNotes(d.l, d.j) : [];
    for (const [key, text] of notes) {
      lines.push([null, null, null, `mech-${key}`]);
      texts.push(text);
    }
    const noteText = d.kind === 'edge' ? '' : (d.sample !== undefined
      ? t('net.sampleNote', { split: t(`insp.split.${d.split}`), index: d.sample }) : t('net.mean'));
    // Most messages (state, metrics, timeline…) leave the numbers as they are: keep the DOM.
    const key = JSON.stringify([this.hoverId, title, texts, noteText]);
    if (key === this.tipKey) return;
    this.tipKey = key;
    const h = document.createElement('strong');
    h.textContent = title;
    const rows = lines.map(([, , , valueKey], k) => {
      const div = document.createElement('div');
      div.dataset.value = valueKey;
      div.textContent = texts[k];
      return div;
    });
    const note = document.createElement('small');
    note.textContent = noteText;
    this.tip.replaceChildren(h, ...rows, note);
    // Screen readers read the label on focus: keep the numbers in it too.
    if (this.tipAnchor) this.tipAnchor.setAttribute('aria-label', `${title}: ${texts.join(', ')}`);
  }
}
