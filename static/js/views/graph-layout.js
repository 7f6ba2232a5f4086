/**
 * Where the computational graph puts its nodes: pure geometry from the
 * network's shape, no DOM and no numbers (graph-view.js draws it, graph-values.js
 * fills it in).
 *
 * Every operation of a small dense network is a node, left to right: the
 * inputs xᵢ, then per layer l one product node w·a per weight (its weight
 * w⁽ˡ⁾ᵢⱼ a leaf above it), one sum node Σ + b per unit (its bias a leaf above
 * it, giving z), one activation node f per unit (giving a), and at the end
 * the loss node ℓ (each target t a leaf above it). Product nodes are grouped
 * by the unit they feed; each column is centred on the tallest one.
 */

/** Drawing constants in SVG units (graph.css sizes the text to match). */
export const GEOM = Object.freeze({
  dx: 88, // column spacing
  slot: 100, // row spacing: leaf, node and its local-derivative line
  boxW: 70, boxH: 40, // an operation node
  leafW: 84, leafH: 30, // a parameter or target leaf above its node
  leafGap: 8, // between a leaf and its node
  left: 44, top: 62, right: 12, bottom: 22,
});

/**
 * The graph of a network with layer widths `sizes` (inputs first).
 * Node kinds: `x` (input leaf), `w`, `b` (parameter leaves), `mul`, `add`, `f`,
 * `loss`, `t` (target leaf). Each node: `{key, kind, l, i, j, k, x, y}` where
 * `key` is unique ("mul.1.0.1" = w⁽¹⁾₀₁·a⁽⁰⁾₀, "add.2.0", "f.1.1", "w.1.0.1",
 * "b.2.0", "x.0", "t.0", "loss"). Edges: `{from, to}` keys, in data-flow order.
 * `order`: the node keys in reading order (keyboard navigation).
 * @param {number[]} sizes
 * @returns {{nodes: Map<string, object>, edges: {from: string, to: string}[], order: string[], width: number, height: number}}
 */
export function layoutGraph(sizes) {
  const g = GEOM;
  const depth = sizes.length - 1;
  const rows = Math.max(1, ...sizes.slice(1).map((n, k) => n * sizes[k]));
  const nodes = new Map();
  const edges = [];
  const order = [];
  const add = (node) => { nodes.set(node.key, node); order.push(node.key); return node; };
  const colX = (c) => g.left + c * g.dx;
  const rowY = (r) => g.top + r * g.slot;
  const mean = (ys) => ys.reduce((s, v) => s + v, 0) / ys.length;
  // the product nodes of each layer first, so the columns before them can centre on them
  const mulY = [];
  for (let l = 1; l <= depth; l++) {
    const nIn = sizes[l - 1];
    const count = nIn * sizes[l];
    const off = (rows - count) / 2;
    mulY[l] = Array.from({ length: sizes[l] }, (_, j) => Array.from({ length: nIn }, (_, i) => rowY(off + j * nIn + i)));
  }
  for (let i = 0; i < sizes[0]; i++) {
    const ys = mulY[1].map((col) => col[i]);
    add({ key: `x.${i}`, kind: 'x', l: 0, i, x: colX(0), y: mean(ys) });
  }
  for (let l = 1; l <= depth; l++) {
    const nIn = sizes[l - 1];
    const base = 3 * l - 2;
    for (let j = 0; j < sizes[l]; j++) {
      const keys = [];
      for (let i = 0; i < nIn; i++) {
        const y = mulY[l][j][i];
        add({ key: `w.${l}.${i}.${j}`, kind: 'w', l, i, j, x: colX(base), y: leafY(y) });
        const m = add({ key: `mul.${l}.${i}.${j}`, kind: 'mul', l, i, j, x: colX(base), y });
        edges.push({ from: `w.${l}.${i}.${j}`, to: m.key });
        edges.push({ from: l === 1 ? `x.${i}` : `f.${l - 1}.${i}`, to: m.key });
        keys.push(m.key);
      }
      const y = mean(mulY[l][j]);
      add({ key: `b.${l}.${j}`, kind: 'b', l, j, x: colX(base + 1), y: leafY(y) });
      const s = add({ key: `add.${l}.${j}`, kind: 'add', l, j, x: colX(base + 1), y });
      for (const k of keys) edges.push({ from: k, to: s.key });
      edges.push({ from: `b.${l}.${j}`, to: s.key });
      add({ key: `f.${l}.${j}`, kind: 'f', l, j, x: colX(base + 2), y });
      edges.push({ from: s.key, to: `f.${l}.${j}` });
    }
  }
  const outs = Array.from({ length: sizes[depth] }, (_, k) => nodes.get(`f.${depth}.${k}`));
  const loss = add({ key: 'loss', kind: 'loss', l: depth + 1, x: colX(3 * depth + 1), y: mean(outs.map((n) => n.y)) });
  // one target leaf per output, side by side above the loss
  const K = sizes[depth];
  for (let k = 0; k < K; k++) {
    const tx = loss.x + (k - (K - 1) / 2) * (g.leafW + 4);
    add({ key: `t.${k}`, kind: 't', k, x: tx, y: leafY(loss.y) });
    edges.push({ from: `t.${k}`, to: 'loss' });
  }
  for (const o of outs) edges.push({ from: o.key, to: 'loss' });
  const width = colX(3 * depth + 1) + Math.max(g.boxW / 2, (K * (g.leafW + 4)) / 2) + g.right;
  const height = rowY(rows - 1) + g.boxH / 2 + g.bottom;
  return { nodes, edges, order, width, height };
}

/** The y of a leaf above a node at `y`. */
function leafY(y) {
  return y - GEOM.boxH / 2 - GEOM.leafGap - GEOM.leafH / 2;
}

/**
 * The path from a parameter leaf back towards the loss, as node keys from the
 * loss end to the leaf: it runs while each unit feeds exactly one next unit
 * (one path, so its local derivatives multiply); where a unit feeds several,
 * it starts at that unit's a, whose ∂L/∂a already sums the paths.
 * `start`: the key of the f node whose gradient opens the chain (the loss when
 * the path reaches it).
 * @param {number[]} sizes
 * @param {string} leaf "w.l.i.j" or "b.l.j"
 * @returns {{keys: string[], start: string}}
 */
export function pathOf(sizes, leaf) {
  const parts = leaf.split('.');
  const kind = parts[0];
  const l = Number(parts[1]);
  const j = Number(kind === 'w' ? parts[3] : parts[2]);
  const depth = sizes.length - 1;
  const up = [kind === 'w' ? `mul.${l}.${parts[2]}.${j}` : null, `add.${l}.${j}`, `f.${l}.${j}`].filter(Boolean);
  let unit = j;
  let layer = l;
  const keys = [leaf, ...up];
  while (layer < depth && sizes[layer + 1] === 1) {
    keys.push(`mul.${layer + 1}.${unit}.0`, `add.${layer + 1}.0`, `f.${layer + 1}.0`);
    layer += 1;
    unit = 0;
  }
  const reaches = layer === depth;
  if (reaches) keys.push('loss');
  return { keys: keys.reverse(), start: reaches ? 'loss' : `f.${layer}.${unit}` };
}
