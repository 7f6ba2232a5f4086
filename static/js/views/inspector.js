/**
 * The inspector: one weight, bias or neuron and its chain rule, with the
 * engine's numbers (engine/chain.py computes them; this view lays them out).
 *
 * It states the loss the gradient is of — L = (1/B) Σ_b ℓ_b, with ℓ_b the
 * sample's own loss (½ Σ_k (y_k − t_k)² under mse) — so a learner comparing
 * with the textbook ∂ℓ/∂w = (y − t)·f′(z)·x sees where the ½ and the 1/B go.
 * Then, for a weight w⁽ˡ⁾ᵢⱼ,
 *   ∂L/∂w = (1/B) Σ_b ∂ℓ_b/∂a · ∂a/∂z · ∂z/∂w
 * in symbols, with one table row per sample (its factors, their product, and
 * the unit's own z, a = f(z), a norm's û and z̃, a dropout mask, the target),
 * the numbers of the sum, a norm step where there is one (μ, σ², γ, β and its
 * backward rule), δ of every later layer back to the loss, the
 * finite-difference check of that very gradient, and the update the weight
 * received (inspector-update.js). A focused sample shows its own chain in
 * evaluation mode. A number input sets the weight by hand.
 *
 * It highlights what the current phase computes (forward → z, a and ∂z/∂w,
 * loss → y − t, backward → the ∂L/∂… factors and the sum, update → the step).
 */

import { costBlock } from './gradient-cost.js';
import { fmt } from '../format.js';
import { recordIteration, shownIteration } from '../counting.js';
import { CLASS_COLOURS } from '../palette.js';
import {
  block, factorMeaning, factorSymbol, gap, m, mi, mn, mo, num, oneOver, partial, rootVar, sumB, sym,
} from './inspector-math.js';
import { updateParts } from './inspector-update.js';

export { m, num, partial, sym } from './inspector-math.js';

/**
 * Layer and 1-based unit numbers as the page shows them (the network diagram
 * counts neurons from 1; ids and indices on the wire count from 0).
 */
function shownIndex(msg) {
  const [a, b] = msg.index;
  return { l: msg.layer, i: a + 1, j: (msg.kind === 'weight' ? b : a) + 1 };
}

/**
 * The iteration the inspected numbers belong to, counted as on the rest of the
 * page (counting.js): a batch's are its iteration's (a 0-based record index),
 * a focused sample's the weights in use at the point shown.
 */
function inspectedIteration(msg) {
  return msg.mode === 'sample' ? shownIteration(msg.iteration, msg.next_phase) : recordIteration(msg.iteration);
}

/** The parameter's own symbol for the left-hand side. */
function targetSymbol(msg) {
  const [a, b] = msg.index.map((k) => k + 1);
  switch (msg.kind) {
    case 'weight': return sym('w', msg.layer, [a, b]);
    case 'bias': return sym('b', msg.layer, [a]);
    case 'gamma': return sym('γ', msg.layer, [a]);
    case 'beta': return sym('β', msg.layer, [a]);
    default: return sym('a', msg.layer, [a]);
  }
}

/** The class of a one-hot (or soft) target row: its largest entry. */
function classOf(target) {
  let k = 0;
  target.forEach((v, i) => { if (v > target[k]) k = i; });
  return k;
}

/** A small swatch of class `k`'s colour (the map's). */
function swatch(k) {
  const s = document.createElement('span');
  s.className = 'bpl-class-dot';
  s.style.background = CLASS_COLOURS[k % CLASS_COLOURS.length];
  s.setAttribute('aria-hidden', 'true');
  return s;
}

/** The loss part of the sheet (a projector shows its formulas, not its prose: css/screens.css). */
function loss(section) {
  section.classList.add('bpl-insp-loss');
  return section;
}

function para(cls, text) {
  const p = document.createElement('p');
  p.className = cls;
  if (text !== undefined) p.textContent = text;
  return p;
}

/** Tables made so far: each one's note gets an id of its own. */
let rowsId = 0;

/** The inspector panel; see the module comment. */
export class Inspector {
  /**
   * @param {HTMLElement} container
   * @param {{t?: (key: string, vars?: object) => string, onEdit?: Function, onClose?: Function, onInspect?: Function, onBatch?: Function,
   *   onFollow?: (index: number) => void, classPhrase?: (k: number) => string}} [options] `onFollow`: a row's
   *   sample (a training sample's index) to follow; `classPhrase`: class k as the run names it ("class 3", "cat")
   */
  constructor(container, options = {}) {
    this.t = options.t || ((k) => k);
    this.opts = options;
    this.msg = null;
    this.phase = null;
    this.lastEdit = null;
    this.editInput = null;
    this.root = document.createElement('section');
    this.root.className = 'panel bpl-inspector';
    this.root.dataset.view = 'inspector';
    this.root.hidden = true;
    this.root.setAttribute('aria-live', 'off');
    this.root.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && this.opts.onClose) { e.stopPropagation(); this.opts.onClose(); }
    });
    container.append(this.root);
    // a sheet that changes width (presentation mode, a phone turned) fits its formulas again
    let width = 0;
    new ResizeObserver(() => {
      const w = this.root.clientWidth;
      if (w !== width && !this.root.hidden) this.fit();
      width = w;
    }).observe(this.root);
  }

  /** Shrink each formula wider than the sheet to its width (to 12 px at the least; past
   * that it scrolls with its section): on a projector's column a cut-off formula read as
   * a whole one ("∂ℓ/∂z = y" with its "− t" out of sight). */
  fit() {
    // all reset, then all measured, then all set: one layout, not one a formula
    const maths = [...this.root.querySelectorAll('math[display="block"]')];
    for (const e of maths) e.style.fontSize = '';
    const sizes = maths.map((e) => {
      let lo = Infinity;
      let hi = -Infinity;
      for (const c of e.children) {
        const r = c.getBoundingClientRect();
        lo = Math.min(lo, r.left);
        hi = Math.max(hi, r.right);
      }
      // (a margin: spacing and the highlight's padding do not all shrink with the font)
      const fits = 0.95 * parseFloat(getComputedStyle(e).fontSize) * e.clientWidth / (hi - lo);
      return hi - lo > e.clientWidth ? Math.max(12, fits) : null;
    });
    maths.forEach((e, k) => { if (sizes[k] !== null) e.style.fontSize = `${sizes[k]}px`; });
  }

  /** Show an `inspect` message (id null: close). */
  update(msg) {
    if (!msg || msg.id === null || msg.id === undefined) {
      this.msg = null;
      this.root.hidden = true;
      this.root.replaceChildren();
      return;
    }
    const sameTarget = this.msg && this.msg.id === msg.id && String(this.msg.index) === String(msg.index);
    this.msg = msg;
    this.root.hidden = false;
    this.render(sameTarget);
  }

  /** Show the server's answer to an edit (an `edit` message) under the number input. */
  showEdit(msg) {
    this.lastEdit = msg;
    if (this.msg) this.render(false);
  }

  /** The phase just run (highlights what it computes). */
  setPhase(phase) {
    this.phase = phase;
    for (const el of this.root.querySelectorAll('[data-phase]')) {
      el.classList.toggle('bpl-active', el.dataset.phase === phase);
    }
  }

  render(keepEdit) {
    const msg = this.msg;
    const editing = keepEdit && this.editInput && document.activeElement === this.editInput;
    const pendingValue = editing ? this.editInput.value : null;
    const parts = [this.header(msg)];
    const unit = msg.kind === 'unit';
    // a unit's story runs forward (z, its norm, a) then back; a parameter's starts at
    // the loss, and a norm explains its δ after the chain
    if (unit) parts.push(this.forwardSection(msg));
    if (unit && msg.norm) parts.push(this.normSection(msg));
    if (msg.batch_size) parts.push(this.lossSection(msg));
    parts.push(this.chainSection(msg));
    if (!unit && msg.norm) parts.push(this.normSection(msg));
    if ((msg.path && msg.path.length) || msg.sum) parts.push(this.pathSection(msg));
    if (msg.check) parts.push(this.checkSection(msg));
    if (msg.kind !== 'unit') {
      parts.push(this.section('insp.update', ...updateParts(msg, this.t, targetSymbol(msg))));
      parts.push(this.editSection(msg));
    }
    this.root.replaceChildren(...parts.filter(Boolean));
    this.fit();
    this.setPhase(this.phase);
    if (editing) {
      this.editInput.value = pendingValue;
      this.editInput.focus();
    }
  }

  header(msg) {
    const t = this.t;
    const head = document.createElement('div');
    head.className = 'bpl-insp-head';
    const h = document.createElement('h2');
    h.id = 'bpl-insp-title';
    const desc = msg.kind === 'weight'
      ? t(msg.layer === 1 ? 'insp.weightInput' : 'insp.weight', { l: msg.layer, i: msg.index[0] + 1, j: msg.index[1] + 1, p: msg.layer - 1 })
      : msg.kind === 'bias' ? t('insp.bias', { l: msg.layer, j: msg.index[0] + 1 })
        : msg.kind === 'unit' ? t('insp.unit', { l: msg.layer, j: msg.index[0] + 1 })
          : t(`insp.${msg.kind}`, { l: msg.layer, j: msg.index[0] + 1 });
    h.textContent = `${t('insp.title')}: ${desc}`;
    if (msg.layer === msg.depth && msg.loss === 'cross_entropy') {
      // an output neuron of a softmax stands for one class: the map's colour for it
      const k = msg.kind === 'weight' ? msg.index[1] : msg.index[0];
      const cls = document.createElement('span');
      cls.className = 'bpl-insp-class';
      cls.dataset.field = 'class';
      const name = this.opts.classPhrase ? this.opts.classPhrase(k) : t('data.class', { k });
      cls.append(swatch(k), t('insp.class', { name }));
      h.append(' ', cls);
    }
    this.root.setAttribute('aria-labelledby', h.id);
    const close = document.createElement('button');
    close.type = 'button';
    close.className = 'icon-btn bpl-insp-close';
    close.textContent = '×';
    close.setAttribute('aria-label', t('insp.close'));
    close.addEventListener('click', () => this.opts.onClose && this.opts.onClose());
    head.append(h, close);
    const meta = para('bpl-insp-meta');
    const where = msg.mode === 'sample'
      ? t('insp.sample', { split: t(`insp.split.${msg.sample.split}`), index: msg.sample.index })
      : t(msg.batch_size === 1 ? 'insp.batchOne' : 'insp.batch', { B: msg.batch_size });
    meta.textContent = msg.mode === 'batch' && !msg.batch_size
      ? t('insp.notYet')
      : `${where} · ${t('chart.iteration')} ${inspectedIteration(msg)} · ${t('insp.value')} ${fmt(Number(msg.value))}`;
    meta.dataset.field = 'meta';
    const box = document.createElement('div');
    box.append(head, meta);
    if (msg.mode === 'sample' && this.opts.onBatch) {
      const back = document.createElement('button');
      back.type = 'button';
      back.className = 'btn bpl-insp-batch';
      back.textContent = t('insp.toBatch');
      back.addEventListener('click', () => this.opts.onBatch());
      box.append(back);
    }
    if (msg.kind === 'unit' && this.opts.onInspect) {
      const bias = document.createElement('button');
      bias.type = 'button';
      bias.className = 'btn bpl-insp-bias';
      bias.textContent = t('insp.itsBias');
      bias.addEventListener('click', () => this.opts.onInspect({ id: `L${msg.layer}.b`, index: [msg.index[0]] }));
      box.append(bias);
    }
    return box;
  }

  section(titleKey, ...children) {
    const s = document.createElement('div');
    s.className = 'bpl-insp-section';
    const h = document.createElement('h3');
    h.className = 'bpl-subhead';
    h.textContent = this.t(titleKey);
    s.append(h, ...children.filter(Boolean)); // (a part this formula lacks: null)
    return s;
  }

  /** The right-hand side of a = … for unit j of layer l, as the row's values say it was computed. */
  activationExpr(msg, row) {
    const { l, j } = shownIndex(msg);
    const f = msg.activation || 'f';
    const arg = msg.norm ? sym('z̃', l, [j]) : sym('z', l, [j]);
    const fz = m('mrow', mi(f), mo('('), arg, mo(')'));
    if (!row || row.h === undefined) return fz;
    const out = [fz];
    if (row.mask !== undefined) out.push(mo('·'), m('mfrac', sym('m', l, [j]), m('mrow', mn('1'), mo('−'), mi('p'))));
    if (row.skip !== undefined) out.push(mo('+'), sym('a', l - 1, [j]));
    return m('mrow', ...out);
  }

  /** For a unit: z = Σᵢ aᵢ wᵢⱼ + b, the norm step if any, and a = f(…) with the numbers (one
   * sample's); over a batch, the means of z and of a — not f of the mean z — with each
   * sample's own values in the chain rule's table. */
  forwardSection(msg) {
    const l = msg.layer; const j = msg.index[0] + 1;
    const f = msg.forward || {};
    const row = (msg.rows || [])[0];
    if (msg.mode === 'batch') {
      const mean = () => m('mrow', m('munder', mi('mean'), mi('b')), gap());
      const e1 = block(mean(), sym('z', l, [j]), mo('='), num(f.z));
      const e2 = block(mean(), sym('a', l, [j]), mo('='), num(f.a));
      for (const e of [e1, e2]) e.dataset.phase = 'forward';
      const note = para('bpl-insp-note', this.t('insp.meanNote', { f: msg.activation || 'f' }));
      return this.section('insp.forward', e1, e2, note);
    }
    const eq1 = block(sym('z', l, [j]), mo('='), m('munder', mo('∑'), mi('i')), sym('a', l - 1, ['i']), mo('·'), sym('w', l, ['i', j]), mo('+'), sym('b', l, [j]),
      mo('='), num(f.z));
    const eqs = [eq1];
    if (msg.norm && row && row.zn !== undefined) {
      const nb = msg.norm;
      const mu = nb.kind === 'layer' ? row.mu : nb.mean;
      const v = nb.kind === 'layer' ? row.var : nb.var;
      eqs.push(block(sym('û', l, [j]), mo('='), m('mfrac', m('mrow', sym('z', l, [j]), mo('−'), mi('μ')), rootVar(null)), mo('='),
        m('mfrac', m('mrow', num(f.z), mo('−'), num(mu)), m('msqrt', num(v), mo('+'), num(nb.eps))), mo('='), num(row.u)));
      eqs.push(block(sym('z̃', l, [j]), mo('='), mi('γ'), sym('û', l, [j]), mo('+'), mi('β'), mo('='), num(nb.gamma), mo('·'), num(row.u), mo('+'), num(nb.beta),
        mo('='), num(row.zn)));
    }
    eqs.push(block(sym('a', l, [j]), mo('='), this.activationExpr(msg, row), mo('='), num(f.a)));
    for (const e of eqs) e.dataset.phase = 'forward';
    return this.section('insp.forward', ...eqs);
  }

  /** The norm step of the unit: its statistics, γ and β, and (batch statistics) its backward rule. */
  normSection(msg) {
    const t = this.t;
    const nb = msg.norm;
    const { l, j } = shownIndex(msg);
    const parts = [para('bpl-insp-note', t(`insp.norm.${nb.kind === 'layer' ? 'layer' : nb.stats}`, { B: msg.batch_size }))];
    const formula = block(sym('û', l, [j]), mo('='), m('mfrac', m('mrow', sym('z', l, [j]), mo('−'), mi('μ')), rootVar(null)), mo(','), gap(),
      sym('z̃', l, [j]), mo('='), mi('γ'), mo('·'), sym('û', l, [j]), mo('+'), mi('β'));
    formula.dataset.phase = 'forward';
    parts.push(formula);
    if (nb.kind === 'batch') {
      const stats = block(sym('μ', l, [j]), mo('='), num(nb.mean), mo(','), gap(),
        m('msubsup', mi('σ'), mn(String(j)), mn('2')), mo('='), num(nb.var), mo(','), gap(),
        m('mfrac', mn('1'), rootVar(null)), mo('='), num(nb.inv_std));
      stats.dataset.field = 'norm-stats';
      stats.dataset.phase = 'forward';
      parts.push(stats);
    }
    const vals = block(sym('γ', l, [j]), mo('='), num(nb.gamma), mo(','), gap(), sym('β', l, [j]), mo('='), num(nb.beta),
      mo(','), gap(), mi('ε'), mo('='), num(nb.eps, 1));
    vals.dataset.field = 'norm';
    vals.dataset.phase = 'forward';
    parts.push(vals);
    if (nb.stats === 'batch' && msg.kind !== 'gamma' && msg.kind !== 'beta') {
      // δ through the batch's statistics: every sample's z moved μ and σ²
      const dzn = () => partial(mi('L'), sym('z̃', l, ['b']));
      const m1 = () => m('msub', mi('m'), mn('1'));
      const m2 = () => m('msub', mi('m'), mn('2'));
      const meanB = () => m('munder', mi('mean'), mi('b'));
      const rule = block(sym('δ', l, ['b']), mo('='), m('mfrac',
        m('mrow', mi('γ'), dzn(), mo('−'), m1(), mo('−'), sym('û', null, ['b']), mo('·'), m2()), rootVar(null)));
      const means = block(m1(), mo('='), meanB(), gap(), mi('γ'), dzn(), mo('='), num(nb.du_mean, 6), mo(','), gap(),
        m2(), mo('='), meanB(), gap(), mi('γ'), dzn(), sym('û', null, ['b']), mo('='), num(nb.duu_mean, 6));
      for (const e of [rule, means]) e.dataset.phase = 'backward';
      means.dataset.field = 'norm-backward';
      parts.push(para('bpl-insp-note', t('insp.norm.backward')), rule, means);
    } else if (nb.stats === 'running') {
      parts.push(para('bpl-insp-note', t('insp.norm.affine')));
    }
    return this.section('insp.norm', ...parts);
  }

  /** Which loss the gradient is of: L = (1/B) Σ_b ℓ_b (+ R), ℓ_b as defined for this loss. */
  lossSection(msg) {
    const t = this.t;
    const batch = msg.mode === 'batch';
    const b = batch ? 'b' : null;
    const yk = sym('y', null, batch ? ['b', 'k'] : ['k']);
    const tk = sym('t', null, batch ? ['b', 'k'] : ['k']);
    const zk = sym('z', null, batch ? ['b', 'k'] : ['k']);
    const ell = sym('ℓ', null, b ? [b] : null);
    const sumK = () => m('munder', mo('∑'), mi('k'));
    const def = block(ell, mo('='));
    const deriv = block();
    let cont = null; // a second line, where one is wider than a desk's sheet
    if (msg.loss === 'mse') {
      def.append(m('mfrac', mn('1'), mn('2')), sumK(), m('msup', m('mrow', mo('('), yk, mo('−'), tk, mo(')')), mn('2')));
      deriv.append(partial(ell.cloneNode(true), yk.cloneNode(true)), mo('='), yk.cloneNode(true), mo('−'), tk.cloneNode(true));
    } else {
      const ce = msg.loss === 'cross_entropy';
      def.append(mo('−'), sumK(), ...(ce ? [tk, mi('log'), yk] : [mo('['), tk, mi('log'), yk]));
      if (!ce) {
        cont = block(mo('+'), m('mrow', mo('('), mn('1'), mo('−'), tk.cloneNode(true), mo(')')),
          mi('log'), m('mrow', mo('('), mn('1'), mo('−'), yk.cloneNode(true), mo(')')), mo(']'));
      }
      deriv.append(mi('y'), mo('='), mi(ce ? 'softmax' : 'σ'), mo('('), mi('z'), mo(')'), mo('⇒'),
        partial(ell.cloneNode(true), zk), mo('='), yk.cloneNode(true), mo('−'), tk.cloneNode(true));
    }
    def.dataset.field = 'loss-def';
    for (const e of [def, cont, deriv]) if (e) e.dataset.phase = 'loss';
    const why = para('bpl-insp-note', t(`insp.lossDef.${msg.loss}`));
    if (!batch) return loss(this.section('insp.loss', def, cont, deriv, why, para('bpl-insp-note', t('insp.lossSample'))));
    const mean = block(mi('L'), mo('='), oneOver('B'), sumB(), sym('ℓ', null, ['b']), ...(msg.regularized ? [mo('+'), mi('R')] : []),
      mo(','), gap(), mi('B'), mo('='), mn(String(msg.batch_size)));
    mean.dataset.field = 'loss-mean';
    const key = !msg.per_sample ? 'insp.lossCoupled' : msg.batch_size === 1 ? 'insp.lossMeanOne' : 'insp.lossMean';
    const note = para('bpl-insp-note', t(key, { B: msg.batch_size }));
    note.dataset.field = 'loss-note';
    const parts = [mean, def, cont, deriv, why, note];
    if (msg.regularized) parts.push(para('bpl-insp-note', t('insp.regTerm')));
    return loss(this.section('insp.loss', ...parts));
  }

  chainSection(msg) {
    const ctx = { ...shownIndex(msg), output: msg.layer === msg.depth };
    const batch = msg.mode === 'batch';
    const perSample = msg.per_sample !== false;
    const rowL = perSample ? 'ℓ' : 'L';
    const L = batch ? 'L' : 'ℓ';
    const unit = msg.kind === 'unit';
    const lhs = unit
      ? m('mrow', ...(batch ? [sumB()] : []), partial(mi(L), sym('z', msg.layer, [ctx.j])))
      : partial(mi(L), targetSymbol(msg));
    const factors = msg.factors || [];
    const symbolic = block(lhs.cloneNode(true), mo('='));
    if (batch && factors.length) {
      if (perSample) symbolic.append(oneOver('B'));
      symbolic.append(sumB());
    }
    // δ through a norm's backward rule is no product: name it, the Normalization part gives it
    const viaNorm = factors.length >= 1 && factors[0].key === 'dL_dz' && msg.norm;
    factors.forEach((f, k) => {
      if (k) symbolic.append(mo('·'));
      const s = m('mrow', viaNorm && k === 0 ? sym('δ', msg.layer, batch ? ['b'] : null)
        : factorSymbol(f.key, { ...ctx, L: batch ? (perSample ? 'ℓ' : 'L') : 'ℓ' }));
      // y − t is a difference: bracketed as one factor of a product, or under Σ_b
      // (the sum takes the whole product after it, as written by hand)
      if (f.key === 'y_minus_t' && (batch || factors.length > 1)) {
        s.prepend(mo('('));
        s.append(mo(')'));
      }
      s.dataset.phase = f.phase;
      s.classList.add('bpl-factor');
      symbolic.append(s);
    });
    if (viaNorm) symbolic.append(mo(','), gap(), m('mtext', this.t('insp.seeNorm')));
    if (msg.reg) symbolic.append(mo('+'), partial(mi('R'), targetSymbol(msg)));
    const result = m('mrow', mo('='), num(msg.grad, 6));
    result.dataset.phase = 'backward';
    result.dataset.field = 'grad';
    result.classList.add('bpl-factor');
    const children = [symbolic];
    if (batch) {
      if (factors.length) children.push(this.batchTable(msg, ctx, rowL));
      // the sum's numbers: (1/B)·Σ_b … (+ the L1/L2 term) = ∂L/∂θ
      const total = block(lhs.cloneNode(true));
      total.dataset.field = 'sum-numbers';
      if (msg.row_sum !== null && msg.row_sum !== undefined) {
        total.append(mo('='));
        if (perSample) total.append(oneOver(msg.batch_size), mo('·'));
        total.append(mo('('), num(msg.row_sum, 6), mo(')'));
        if (msg.reg) total.append(mo('+'), num(msg.reg, 6));
      }
      total.append(result);
      total.dataset.phase = 'backward';
      children.push(total);
      if (unit && msg.grad !== null && msg.grad !== undefined && msg.batch_size) {
        // the tooltip's δ is the batch mean: the same sum over B
        const mean = block(m('munder', mi('mean'), mi('b')), gap(), sym('δ', msg.layer, [ctx.j]), mo('='),
          num(msg.grad / msg.batch_size, 6));
        mean.dataset.phase = 'backward';
        // why a second number, B times smaller: it is the one the tooltip shows
        const why = para('bpl-insp-note', this.t('insp.tipMean', { B: msg.batch_size }));
        why.dataset.field = 'tip-mean';
        children.push(mean, why);
      }
    } else {
      const numeric = block(mo('='));
      numeric.dataset.field = 'chain-numbers';
      factors.forEach((f, k) => {
        if (k) numeric.append(mo('×'));
        const v = m('mrow', num(f.value));
        v.dataset.phase = f.phase;
        v.dataset.factor = f.key;
        v.classList.add('bpl-factor');
        numeric.append(v);
      });
      numeric.append(result);
      children.push(numeric);
    }
    return this.section('insp.chain', ...children);
  }

  /** The table's columns: the unit's forward values that explain its factors, then the factors. */
  columns(msg) {
    const rows = msg.rows || [];
    const has = (k) => rows.some((r) => r[k] !== undefined);
    const keys = msg.factors.map((f) => f.key);
    const extras = ['z', 'mu', 'var', 'u', 'zn', 'h', 'mask', 'skip', 'a', 'y', 't', 'target', 'dzn']
      .filter((k) => has(k) && !(k === 'mask' && keys.includes('mask')));
    return extras;
  }

  /** A row's sample number: a button that follows that sample (its own chain rule) where the page can. */
  sampleCell(index) {
    if (index === null || index === undefined) return this.t('insp.drawnRow'); // a drawing learned: no data index
    if (!this.opts.onFollow) return String(index);
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'bpl-insp-follow';
    b.textContent = String(index);
    b.title = this.t('insp.follow', { index });
    b.setAttribute('aria-label', b.title);
    b.addEventListener('click', () => this.opts.onFollow(index));
    return b;
  }

  /** Batch mode: one row per sample (the first few), the forward values, the factors and their
   * product, under the note that names them. */
  batchTable(msg, ctx, rowL) {
    const t = this.t;
    const table = document.createElement('table');
    table.className = 'bpl-insp-table';
    table.dataset.field = 'rows';
    // its caption, a note above it that wraps to the sheet (a caption is as wide as its
    // table, which scrolls sideways on a desk's sheet): the table's name all the same
    const cap = document.createElement('p');
    cap.className = 'bpl-insp-note';
    cap.id = `bpl-insp-rows-${++rowsId}`;
    table.setAttribute('aria-labelledby', cap.id);
    // a batch of one has no "first 1 of 1 samples": its one row, said so
    const shown = (msg.rows || []).length;
    const rowsKey = `${msg.per_sample === false ? 'insp.rowsCoupled' : 'insp.rowsPerSample'}${
      msg.batch_size === 1 ? 'One' : shown === msg.batch_size ? 'All' : ''}`;
    cap.textContent = t(rowsKey, { shown, B: msg.batch_size });
    const { l, j } = ctx;
    const extras = this.columns(msg);
    const first = (msg.rows || [])[0];
    const head = document.createElement('tr');
    const th = (key, ...content) => {
      const cell = document.createElement('th');
      cell.scope = 'col';
      cell.dataset.col = key;
      cell.append(...content);
      head.append(cell);
    };
    th('b', t('insp.col.b'));
    const heads = {
      z: () => sym('z', l, [j]),
      mu: () => m('msub', mi('μ'), mi('b')),
      var: () => m('msubsup', mi('σ'), mi('b'), mn('2')),
      u: () => sym('û', l, [j]),
      zn: () => m('mrow', sym('z̃', l, [j]), mo('='), mi('γ'), sym('û', null, null), mo('+'), mi('β')),
      h: () => m('mrow', mi(msg.activation || 'f'), mo('('), msg.norm ? sym('z̃', l, [j]) : sym('z', l, [j]), mo(')')),
      mask: () => m('mfrac', sym('m', l, [j]), m('mrow', mn('1'), mo('−'), mi('p'))),
      skip: () => sym('a', l - 1, [j]),
      a: () => m('mrow', sym(ctx.output ? 'y' : 'a', ctx.output ? null : l, [j]), mo('='), this.activationExpr(msg, first)),
      y: () => sym('y', null, [j]),
      t: () => sym('t', null, [j]),
      target: () => mi('t'),
      dzn: () => partial(mi(rowL), sym('z̃', l, [j])),
    };
    for (const k of extras) {
      if (k === 'target') th(k, t('insp.col.target'));
      else th(k, m('math', heads[k]()));
    }
    for (const f of msg.factors) {
      // y − t is ∂ℓ/∂z of a sigmoid or softmax output: say which derivative it is
      const mm = m('math', f.key === 'y_minus_t' ? factorSymbol('dL_dz', { ...ctx, L: rowL })
        : factorSymbol(f.key, { ...ctx, L: rowL }));
      const meaning = factorMeaning(f.key, ctx);
      // (what it equals on a line of its own: one line, the factors' columns took a desk's
      // sheet past its width, the product's column out of sight)
      if (meaning) th(f.key, mm, document.createElement('br'), m('math', mo('='), meaning));
      else th(f.key, mm);
      head.lastChild.dataset.phase = f.phase;
    }
    th('product', t(msg.per_sample === false ? 'insp.col.term' : 'insp.col.product'));
    table.append(head);
    for (const r of msg.rows || []) {
      const tr = document.createElement('tr');
      const td = (content, phase) => {
        const cell = document.createElement('td');
        cell.append(content);
        if (phase) cell.dataset.phase = phase;
        tr.append(cell);
        return cell;
      };
      td(this.sampleCell(r.sample));
      for (const k of extras) {
        const v = r[k];
        if (k === 'target' && Array.isArray(v)) {
          const box = document.createElement('span');
          box.className = 'bpl-onehot';
          box.append(swatch(classOf(v)), `[${v.map((e) => fmt(e, 0)).join(', ')}]`);
          td(box).dataset.col = 'target';
        } else {
          td(v === undefined ? '' : fmt(v), k === 'dzn' ? 'backward' : 'forward').dataset.col = k;
        }
      }
      r.factors.forEach((v, k) => { td(v === null ? '…' : fmt(v), msg.factors[k].phase).dataset.col = msg.factors[k].key; });
      td(r.product === null ? '…' : fmt(r.product, 6), 'backward').dataset.col = 'product';
      table.append(tr);
    }
    const scroll = document.createElement('div');
    scroll.className = 'bpl-insp-scroll';
    scroll.append(table);
    const rows = document.createElement('div');
    rows.append(cap, scroll);
    return rows;
  }

  /** ∂L/∂a⁽ˡ⁾ back to the loss: the sum over the next layer, then δ of each later layer. */
  pathSection(msg) {
    const t = this.t;
    const list = document.createElement('div');
    list.className = 'bpl-insp-path';
    const sm = msg.sum;
    if (sm) {
      const { j } = shownIndex(msg);
      const e = block(partial(mi('ℓ'), sym('a', msg.layer, [j])), mo('='),
        m('munder', mo('∑'), mi('k')), sym('w', sm.layer, [j, 'k']), sym('δ', sm.layer, ['k']), mo('='));
      e.dataset.phase = 'backward';
      e.dataset.field = 'sum';
      sm.terms.forEach((term, k) => {
        if (k) e.append(mo('+'));
        e.append(mo('('), num(term.w), mo(')'), mo('·'), mo('('), num(term.delta), mo(')'));
      });
      if (sm.count > sm.terms.length) e.append(mo('+'), mi('…'));
      if (sm.residual !== null && sm.residual !== undefined) e.append(mo('+'), num(sm.residual));
      e.append(mo('='), num(sm.value, 6));
      list.append(e);
    }
    for (const step of msg.path) {
      const e = block(sym('δ', step.layer, null), mo('='), mo('['),
        ...step.values.slice(0, 8).flatMap((v, k) => (k ? [mo(','), num(v)] : [num(v)])),
        step.values.length > 8 ? mo('…') : null, mo(']'));
      e.dataset.phase = step.phase || 'backward';
      list.append(e);
    }
    const note = para('bpl-insp-note', t(msg.mode === 'sample' ? 'insp.pathNoteSample' : 'insp.pathNote'));
    return this.section('insp.path', note, list);
  }

  checkSection(msg) {
    const t = this.t;
    const c = msg.check;
    const p = para('bpl-insp-check');
    p.dataset.field = 'check';
    const ok = Number(c.rel_error) < 1e-4;
    p.textContent = t('insp.checkLine', { bp: fmt(Number(c.backprop), 8), fd: fmt(Number(c.numeric), 8), err: Number(c.rel_error).toExponential(1) })
      + (ok ? ` ✓ ${t('insp.agree')}` : ` ✗ ${t('insp.disagree')}`);
    const note = para('bpl-insp-note', t('insp.checkNote', { h: Number(c.h).toExponential(0) }));
    const mode = para('bpl-insp-note', t(`insp.checkMode.${c.mode}`));
    mode.dataset.field = 'check-mode';
    // beside the check: what every gradient would cost that way, against backprop
    return this.section('insp.check', p, note, mode, ...[costBlock(msg.cost, t)].filter(Boolean));
  }

  editSection(msg) {
    const t = this.t;
    const form = document.createElement('form');
    form.className = 'bpl-insp-edit';
    const label = document.createElement('label');
    label.textContent = t('insp.edit');
    const input = document.createElement('input');
    input.type = 'number';
    input.step = 'any';
    input.required = true;
    input.value = String(Number(Number(msg.value).toPrecision(6)));
    input.setAttribute('aria-describedby', 'bpl-insp-edit-note');
    label.append(input);
    this.editInput = input;
    const btn = document.createElement('button');
    btn.type = 'submit';
    btn.className = 'btn';
    btn.textContent = t('insp.set');
    const note = para('bpl-insp-note', t('insp.editNote'));
    note.id = 'bpl-insp-edit-note';
    const status = para('bpl-insp-edited');
    status.setAttribute('role', 'status');
    status.dataset.field = 'edited';
    const e = this.lastEdit;
    if (e && e.id === msg.id && String(e.index) === String(msg.index)) {
      status.textContent = e.applied
        ? t('insp.edited', { old: fmt(Number(e.old)), value: fmt(Number(e.value)), train: fmt(Number(e.train_loss)), test: fmt(Number(e.test_loss)) })
        : t('insp.pending');
    }
    form.append(label, btn, note, status);
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const v = Number(input.value);
      if (!Number.isFinite(v) || input.value.trim() === '') {
        input.setCustomValidity(t('insp.badNumber'));
        input.reportValidity();
        return;
      }
      input.setCustomValidity('');
      if (this.opts.onEdit) this.opts.onEdit({ id: msg.id, index: msg.index, value: v });
    });
    return this.section('insp.editTitle', form);
  }
}
