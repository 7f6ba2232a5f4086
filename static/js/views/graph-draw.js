/**
 * The computational graph's SVG: builds the nodes and edges graph-layout.js
 * placed, and writes one sample's numbers (graph-values.js) into them. Each
 * operation node is a box: its symbol and its value (forward) on the first
 * line, ∂L/∂(its value) on the second (backward), its local derivative under
 * it. A leaf (x, w, b, t) is a pill above the node it feeds: its name and
 * value, then its gradient — or, after the update, the step it took. Every
 * number element carries its full-precision value in `data-v`.
 */

import { sig } from '../format.js';
import { GEOM } from './graph-layout.js';

const SVG_NS = 'http://www.w3.org/2000/svg';
const SUB = '₀₁₂₃₄₅₆₇₈₉';
const SUP = '⁰¹²³⁴⁵⁶⁷⁸⁹';

function el(tag, attrs = {}, parent = null, text = null) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== null) e.textContent = text;
  if (parent) parent.append(e);
  return e;
}

const sub = (n) => String(n).split('').map((c) => SUB[Number(c)]).join('');
const sup = (n) => String(n).split('').map((c) => SUP[Number(c)]).join('');

/**
 * Names as the page writes them (1-based units, the layer as a superscript);
 * the single neuron's are the textbook's plain x, w, b, y, t.
 * @param {number[]} sizes
 */
export function namer(sizes) {
  const single = sizes.length === 2 && sizes[0] === 1 && sizes[1] === 1;
  const depth = sizes.length - 1;
  return (node) => {
    const { kind, l, i, j, k } = node;
    if (kind === 'x') return single ? 'x' : `x${sub(i + 1)}`;
    if (kind === 't') return sizes[depth] === 1 ? 't' : `t${sub(k + 1)}`;
    if (single) return { w: 'w', b: 'b', mul: 'w·x', add: 'z', f: 'y' }[kind] || 'L';
    if (kind === 'w') return `w${sup(l)}${sub(i + 1)}${sub(j + 1)}`;
    if (kind === 'b') return `b${sup(l)}${sub(j + 1)}`;
    if (kind === 'mul') return `w${sup(l)}${sub(i + 1)}${sub(j + 1)}·a${sup(l - 1)}${sub(i + 1)}`;
    if (kind === 'add') return `z${sup(l)}${sub(j + 1)}`;
    if (kind === 'f') return l === depth ? (sizes[depth] === 1 ? 'y' : `y${sub(j + 1)}`) : `a${sup(l)}${sub(j + 1)}`;
    return 'L';
  };
}

/** The SVG of one graph; `paint` writes numbers, `setPath` marks the chain's path. */
export class GraphDrawing {
  /**
   * @param {ReturnType<import('./graph-layout.js').layoutGraph>} layout
   * @param {{sizes: number[], activations: string[], loss: string}} net
   * @param {(activation: string) => string} glyph the short symbol of an activation node
   */
  constructor(layout, net, glyph) {
    this.layout = layout;
    this.net = net;
    this.glyphOf = glyph;
    this.name = namer(net.sizes);
    const { width, height } = layout;
    this.svg = el('svg', {
      class: 'graph-svg', viewBox: `0 0 ${Math.ceil(width)} ${Math.ceil(height)}`, role: 'group',
    });
    this.svg.dataset.width = String(Math.ceil(width));
    const defs = el('defs', {}, this.svg);
    const marker = el('marker', {
      id: 'bpl-graph-arrow', viewBox: '0 0 8 8', refX: '7', refY: '4', markerWidth: '4.5', markerHeight: '4.5', orient: 'auto',
    }, defs);
    el('path', { d: 'M0,0 L8,4 L0,8 z', class: 'graph-arrowhead' }, marker);
    const edgeLayer = el('g', { class: 'graph-edges' }, this.svg);
    const nodeLayer = el('g', { class: 'graph-nodes' }, this.svg);
    /** key → {g, box, val, grad, local, node} */
    this.parts = new Map();
    this.edges = layout.edges.map((e) => this.drawEdge(edgeLayer, e));
    for (const key of layout.order) this.parts.set(key, this.drawNode(nodeLayer, layout.nodes.get(key)));
  }

  /** Where an edge leaves `node` and where it enters the next. */
  port(node, side) {
    const leaf = node.kind === 'w' || node.kind === 'b' || node.kind === 't' || node.kind === 'x';
    const w = leaf ? GEOM.leafW : GEOM.boxW;
    const h = leaf ? GEOM.leafH : GEOM.boxH;
    if (side === 'bottom') return [node.x, node.y + h / 2];
    if (side === 'top') return [node.x, node.y - h / 2];
    return [node.x + (side === 'right' ? w / 2 : -w / 2), node.y];
  }

  drawEdge(parent, { from, to }) {
    const a = this.layout.nodes.get(from);
    const b = this.layout.nodes.get(to);
    const fromLeafAbove = (a.kind === 'w' || a.kind === 'b' || a.kind === 't');
    const [x1, y1] = this.port(a, fromLeafAbove ? 'bottom' : 'right');
    const [x2, y2] = fromLeafAbove ? [a.x, b.y - GEOM.boxH / 2] : this.port(b, 'left');
    const line = el('line', {
      class: 'graph-edge', x1, y1, x2, y2, 'marker-end': 'url(#bpl-graph-arrow)',
    }, parent);
    line.dataset.from = from;
    line.dataset.to = to;
    return line;
  }

  drawNode(parent, node) {
    const pick = node.kind === 'w' || node.kind === 'b';
    const g = el('g', { class: `gnode gnode-${node.kind}`, tabindex: '-1', role: pick ? 'button' : 'img' }, parent);
    g.dataset.key = node.key;
    const leaf = node.kind === 'w' || node.kind === 'b' || node.kind === 't' || node.kind === 'x';
    const w = leaf ? GEOM.leafW : GEOM.boxW;
    const h = leaf ? GEOM.leafH : GEOM.boxH;
    const box = el('rect', {
      class: 'graph-box', x: node.x - w / 2, y: node.y - h / 2, width: w, height: h, rx: leaf ? h / 2 : 6,
    }, g);
    const left = node.x - w / 2 + (leaf ? 7 : 6);
    const right = node.x + w / 2 - (leaf ? 7 : 6);
    const top = node.y - h / 2;
    if (leaf) el('text', { class: 'g-name', x: left, y: top + 12 }, g, this.name(node));
    // an activation's name is longer than × or +: it goes above its box (nothing else is there)
    else if (node.kind === 'f') el('text', { class: 'g-op g-op-above', x: node.x, y: top - 4, 'text-anchor': 'middle' }, g, this.glyph(node));
    else el('text', { class: 'g-op', x: left, y: top + 15 }, g, this.glyph(node));
    const val = el('text', { class: 'g-val', x: right, y: top + (leaf ? 12 : 15), 'text-anchor': 'end' }, g);
    const grad = el('text', { class: 'g-grad', x: right, y: top + (leaf ? 25 : 32), 'text-anchor': 'end' }, g);
    const local = leaf ? null : el('text', { class: 'g-local', x: node.x, y: node.y + h / 2 + 13, 'text-anchor': 'middle' }, g);
    return { g, box, val, grad, local, node };
  }

  glyph(node) {
    if (node.kind === 'mul') return '×';
    if (node.kind === 'add') return '+';
    if (node.kind === 'loss') return 'L';
    return this.glyphOf(this.net.activations[node.l - 1]);
  }

  /**
   * Write the numbers of one sample. `nums` from graph-values.js; `path`
   * (graph-layout.js pathOf) picks each product node's local derivative shown
   * (the one the path goes through; ∂/∂w elsewhere) and the loss's output.
   */
  paint(nums, path, merged, t) {
    const onPath = new Set(path ? path.keys : []);
    const lossOut = path && path.keys[0] === 'loss' ? Number(path.keys[1].split('.')[2]) : 0;
    for (const [key, p] of this.parts) {
      const n = nums.get(key) || {};
      const kind = p.node.kind;
      const leaf = kind === 'w' || kind === 'b' || kind === 'x' || kind === 't';
      const updated = (kind === 'w' || kind === 'b') && n.after !== undefined;
      setNum(p.val, updated ? n.after : n.v);
      p.val.classList.toggle('is-updated', updated);
      if (updated) setNum(p.grad, n.step, 'Δ ', true);
      else setNum(p.grad, n.g, '', true);
      if (!leaf) this.paintLocal(p, n, onPath, path, merged, lossOut, t);
      p.g.classList.toggle('on-path', onPath.has(key));
    }
    for (const e of this.edges) e.classList.toggle('on-path', onPath.has(e.dataset.from) && onPath.has(e.dataset.to));
  }

  /** The local derivative under an operation node (see {@link GraphDrawing#paint}). */
  paintLocal(p, n, onPath, path, merged, lossOut, t) {
    const { kind, l, i, j } = p.node;
    if (kind === 'f' && n.d === null) { // the output differentiates with its loss
      p.local.textContent = n.g === undefined ? '' : t('graph.withLoss');
      p.local.dataset.v = '';
      return;
    }
    if (kind === 'f') setNum(p.local, n.d, 'f′ ');
    else if (kind === 'add') setNum(p.local, n.d, '× ');
    else if (kind === 'loss') setNum(p.local, Array.isArray(n.d) ? n.d[lossOut] : undefined, merged ? '∂L/∂z ' : '∂L/∂y ');
    else if (kind === 'mul') {
      const viaA = onPath.has(p.node.key) && !path.keys.includes(`w.${l}.${i}.${j}`);
      setNum(p.local, n.d ? (viaA ? n.d.a : n.d.w) : undefined, viaA ? '∂/∂a ' : '∂/∂w ');
    }
  }
}

/** Put `v` (a number, or nothing yet) into a text element, its full value in data-v. */
function setNum(text, v, prefix = '', signed = false) {
  if (typeof v !== 'number') {
    text.textContent = '';
    text.dataset.v = '';
    text.classList.remove('g-neg', 'g-pos');
    return;
  }
  text.textContent = `${prefix}${sig(v)}`;
  text.dataset.v = String(v);
  text.classList.toggle('g-neg', signed && v < 0);
  text.classList.toggle('g-pos', signed && v > 0);
}
