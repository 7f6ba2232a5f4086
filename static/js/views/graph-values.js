/**
 * The numbers of the computational graph for one sample (one row r of the
 * batch), read from the frames the server sent (run-model.js). The engine's
 * numbers are used as they are: z, a, ℓ, ∂L/∂y, ∂L/∂a, δ = ∂L/∂z, f′(z) (the
 * backward frame's `Ll.dfz`), ∂L/∂x, and the batch's ∂L/∂W, ∂L/∂b. Only two
 * things are products of two numbers shown beside them, since the engine
 * computes them inside a matrix product: a product node's value w·a, and this
 * sample's term δ·a of ∂L/∂w (the batch's ∂L/∂w is their sum; the engine's
 * is shown with it).
 *
 * L = (1/B) Σ_b ℓ_b is the batch's loss, so every gradient here is ∂L/∂… of
 * this sample's value: the 1/B is inside, as in the frames.
 */

/** The value at row `r`, column `j` of a (B, n) frame array, or undefined. */
function at(arr, r, j) {
  return Array.isArray(arr) && Array.isArray(arr[r]) ? arr[r][j] : undefined;
}

/**
 * Whether the output layer differentiates together with its loss (δ = (y − t)/B):
 * a loss that implies its output activation (the catalog's `output`: sigmoid + bce,
 * softmax + cross-entropy) takes δ straight from the logits.
 * @param {import('../catalog.js').Catalog} catalog
 * @param {string} loss
 */
export function mergedOutput(catalog, loss) {
  const e = catalog ? catalog.entry('losses', loss) : null;
  return Boolean(e && e.output);
}

/** Whether the current iteration's frames carry per-sample values (not fast play's batch means). */
export function perSample(model) {
  const f = model.frames.forward;
  return Boolean(f && Array.isArray(f.x));
}

/**
 * Every node's numbers for batch row `r`: key → `{v, g, d, after, total}` where `v`
 * is the forward value, `g` the gradient ∂L/∂(its value), `d` its local derivative
 * (for `mul`: `{w: a_prev, a: w}`, the two inputs'), `after` a parameter's value
 * after the update and `step` the step it took (the update frame's), `total` a
 * parameter's batch gradient (the backward frame's).
 * Undefined where the phase that computes it has not run. Also `B`, `sample` (the
 * data index of row r), `ell` (this sample's own loss ℓ_b) and `phases` (those run).
 * @param {import('../run-model.js').RunModel} model
 * @param {number} r
 * @param {boolean} merged see {@link mergedOutput}
 */
export function graphNumbers(model, r, merged) {
  const sizes = model.net.sizes;
  const depth = sizes.length - 1;
  const fr = model.frames;
  const fwd = perSample(model) ? fr.forward : null;
  const lossF = fwd ? fr.loss : null;
  const bwd = fwd ? fr.backward : null;
  const upd = fr.update || null;
  const out = new Map();
  const W = (l, i, j) => {
    const m = upd && upd[`L${l}.W.prev`];
    return m ? m[i][j] : model.weight(l, i, j);
  };
  const bias = (l, j) => {
    const m = upd && upd[`L${l}.b.prev`];
    return m ? m[j] : model.bias(l, j);
  };
  const act = (l, i) => (fwd ? at(fwd[`L${l}.a`], r, i) : undefined);
  const delta = (l, j) => (bwd ? at(bwd[`L${l}.delta`], r, j) : undefined);
  for (let i = 0; i < sizes[0]; i++) {
    out.set(`x.${i}`, { v: act(0, i), g: bwd ? at(bwd['L0.da'], r, i) : undefined });
  }
  for (let l = 1; l <= depth; l++) {
    for (let j = 0; j < sizes[l]; j++) {
      const dj = delta(l, j);
      for (let i = 0; i < sizes[l - 1]; i++) {
        const w = W(l, i, j);
        const a = act(l - 1, i);
        const term = dj === undefined || a === undefined ? undefined : dj * a;
        out.set(`w.${l}.${i}.${j}`, {
          v: w, g: term,
          after: upd && upd[`L${l}.W`] ? upd[`L${l}.W`][i][j] : undefined,
          step: upd && upd[`L${l}.W.step`] ? upd[`L${l}.W.step`][i][j] : undefined,
          total: bwd && bwd[`L${l}.dW`] ? bwd[`L${l}.dW`][i][j] : undefined,
        });
        out.set(`mul.${l}.${i}.${j}`, {
          v: a === undefined || w === undefined ? undefined : w * a,
          g: dj, d: bwd ? { w: a, a: w } : undefined,
        });
      }
      out.set(`b.${l}.${j}`, {
        v: bias(l, j), g: dj,
        after: upd && upd[`L${l}.b`] ? upd[`L${l}.b`][j] : undefined,
        step: upd && upd[`L${l}.b.step`] ? upd[`L${l}.b.step`][j] : undefined,
        total: bwd && bwd[`L${l}.db`] ? bwd[`L${l}.db`][j] : undefined,
      });
      out.set(`add.${l}.${j}`, { v: fwd ? at(fwd[`L${l}.z`], r, j) : undefined, g: dj, d: bwd ? 1 : undefined });
      const output = l === depth;
      const gA = output ? (lossF && bwd ? at(lossF[`L${l}.da`], r, j) : undefined) : (bwd ? at(bwd[`L${l}.da`], r, j) : undefined);
      const dfz = bwd ? at(bwd[`L${l}.dfz`], r, j) : undefined;
      out.set(`f.${l}.${j}`, { v: act(l, j), g: gA, d: output && merged ? null : dfz });
    }
  }
  for (let k = 0; k < sizes[depth]; k++) out.set(`t.${k}`, { v: fwd ? at(fwd.t, r, k) : undefined });
  // the loss node: the batch's L = (1/B) Σ_b ℓ_b; its local derivatives, this sample's
  // ∂L/∂y_k (or ∂L/∂z_k when the output differentiates with it); ∂L/∂L = 1
  const locals = Array.from({ length: sizes[depth] }, (_, k) => {
    if (!bwd) return undefined;
    return merged ? at(bwd[`L${depth}.delta`], r, k) : at(lossF && lossF[`L${depth}.da`], r, k);
  });
  out.set('loss', { v: lossF ? lossF['loss.data'] : undefined, g: bwd ? 1 : undefined, d: bwd ? locals : undefined });
  return {
    nodes: out,
    B: fwd ? fwd.x.length : 0,
    sample: fwd && Array.isArray(fwd.batch) ? fwd.batch[r] : r,
    ell: lossF && Array.isArray(lossF['loss.per_sample']) ? lossF['loss.per_sample'][r] : undefined,
    phases: Object.keys(fr),
  };
}

/**
 * The chain rule along a path (graph-layout.js `pathOf`): one factor per local
 * derivative met from the loss end to the parameter, `{node, kind, value, l, i, j}`
 * with kind `dL_dy` (∂L/∂y of the output), `dL_dz` (∂L/∂z when the output
 * differentiates with its loss), `dL_da` (∂L/∂a where the path starts at a unit
 * feeding several), `df` (f′(z)), `one` (∂z/∂(w·a) or ∂z/∂b), `w` (∂(w·a)/∂a)
 * and `a` (∂(w·a)/∂w). `product`: their product (undefined until every factor is known).
 * @param {{keys: string[], start: string}} path
 * @param {Map<string, object>} nodes from {@link graphNumbers}
 * @param {boolean} merged see {@link mergedOutput}
 */
export function chainFactors(path, nodes, merged) {
  const factors = [];
  const keys = path.keys;
  const outK = (key) => Number(key.split('.')[2]);
  for (let n = 0; n < keys.length; n++) {
    const key = keys[n];
    const [kind, ls, a1, a2] = key.split('.');
    const l = Number(ls);
    const num = nodes.get(key) || {};
    if (kind === 'loss') {
      const k = outK(keys[n + 1]);
      const out = Number(keys[n + 1].split('.')[1]);
      factors.push({ node: key, kind: merged ? 'dL_dz' : 'dL_dy', value: num.d ? num.d[k] : undefined, l: out, j: k });
    } else if (kind === 'f') {
      const j = Number(a1);
      if (key === path.start) factors.push({ node: key, kind: 'dL_da', value: num.g, l, j });
      if (!(merged && keys[0] === 'loss' && n === 1)) factors.push({ node: key, kind: 'df', value: num.d, l, j });
    } else if (kind === 'add') {
      factors.push({ node: key, kind: 'one', value: num.d, l, j: Number(a1) });
    } else if (kind === 'mul') {
      const i = Number(a1);
      const j = Number(a2);
      const viaWeight = n + 1 < keys.length && keys[n + 1].startsWith('w.');
      const d = num.d;
      factors.push(viaWeight
        ? { node: key, kind: 'a', value: d ? d.w : undefined, l: l - 1, i, j }
        : { node: key, kind: 'w', value: d ? d.a : undefined, l, i, j });
    }
  }
  const known = factors.every((f) => typeof f.value === 'number');
  const product = known ? factors.reduce((p, f) => p * f.value, 1) : undefined;
  return { factors, product };
}
