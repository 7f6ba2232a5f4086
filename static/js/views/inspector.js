/**
 * The inspector: one weight, bias or neuron and its chain rule, with the
 * engine's numbers.
 *
 * For a weight w⁽ˡ⁾ᵢⱼ it writes, as MathML,
 *   ∂L/∂w = ∂L/∂a · ∂a/∂z · ∂z/∂w
 * first in symbols, then with the numbers of the focused sample (or, in
 * batch mode, the sum over the batch with its first rows), then expands
 * ∂L/∂a back to the loss through the δ of every later layer; beside it the
 * finite-difference check and the update the weight received, in the
 * optimizer's own form (SGD, momentum, Adam's m and v …). A number input
 * sets the weight by hand.
 *
 * Data: the server's `inspect` message (server/inspect.py documents every
 * field); the view only lays numbers out. It highlights the factor the
 * current phase computes (forward → ∂z/∂w = a⁽ˡ⁻¹⁾, loss → ∂L/∂y, backward →
 * ∂L/∂a, ∂a/∂z and the product, update → the step).
 */

import { fmt } from '../format.js';

const MATHML = 'http://www.w3.org/1998/Math/MathML';

/** Create a MathML element with children (strings become text). */
export function m(tag, ...children) {
  const el = document.createElementNS(MATHML, tag);
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c);
  return el;
}

/** A token: number, identifier or operator. */
const mi = (s) => m('mi', s);
/** A thin space (between "mean" and what it averages). */
const gap = () => {
  const e = m('mspace');
  e.setAttribute('width', '0.25em');
  return e;
};
const mo = (s) => m('mo', s);
const mn = (s) => m('mn', s);

/** x with subscript `sub` (array of index strings) and layer superscript (l). */
export function sym(base, l, sub) {
  const subRow = sub && sub.length ? m('mrow', ...sub.map((s, k) => (k ? [mo(','), mn(String(s))] : mn(String(s))))) : null;
  const supRow = l === null || l === undefined ? null : m('mrow', mo('('), mn(String(l)), mo(')'));
  const b = mi(base);
  if (subRow && supRow) return m('msubsup', b, subRow, supRow);
  if (subRow) return m('msub', b, subRow);
  if (supRow) return m('msup', b, supRow);
  return b;
}

/** ∂num/∂den as a fraction. */
export function partial(num, den) {
  return m('mfrac', m('mrow', mo('∂'), num), m('mrow', mo('∂'), den));
}

/** A number as MathML (true minus sign, NaN/∞ spelled out). */
export function num(v, digits = 4) {
  return mn(fmt(typeof v === 'string' ? Number(v) : v, digits));
}

/** The symbols of the chain-rule factors, by the key the server uses. */
function factorSymbol(key, ctx) {
  const { l, i, j, loss } = ctx;
  const L = mi(loss ? 'L' : 'ℓ');
  switch (key) {
    case 'dL_da': return partial(L, sym('a', l, [j]));
    case 'dL_dy': return partial(L, sym('y', null, [j]));
    case 'da_dz': return partial(sym('a', l, [j]), sym('z', l, [j]));
    case 'dL_dz': return partial(L, sym('z', l, [j]));
    case 'dz_dw': return partial(sym('z', l, [j]), sym('w', l, [i, j]));
    case 'dz_db': return partial(sym('z', l, [j]), sym('b', l, [j]));
    case 'dz_dgamma': return partial(sym('z̃', l, [j]), sym('γ', l, [j]));
    case 'dz_dbeta': return partial(sym('z̃', l, [j]), sym('β', l, [j]));
    default: return mi(key);
  }
}

/**
 * Layer and 1-based unit numbers as the page shows them (the network diagram
 * counts neurons from 1; ids and indices on the wire count from 0).
 */
function shownIndex(msg) {
  const [a, b] = msg.index;
  return { l: msg.layer, i: a + 1, j: (msg.kind === 'weight' ? b : a) + 1 };
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

/** The inspector panel; see the module comment. */
export class Inspector {
  /**
   * @param {HTMLElement} container
   * @param {{t?: (key: string, vars?: object) => string, onEdit?: Function, onClose?: Function, onInspect?: Function, onBatch?: Function}} [options]
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

  /** The phase just run (highlights the factor it computes). */
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
    const parts = [];
    parts.push(this.header(msg));
    if (msg.kind === 'unit') parts.push(this.forwardSection(msg));
    parts.push(this.chainSection(msg));
    if ((msg.path && msg.path.length) || msg.sum) parts.push(this.pathSection(msg));
    if (msg.check) parts.push(this.checkSection(msg));
    if (msg.kind !== 'unit') parts.push(this.updateSection(msg));
    if (msg.kind !== 'unit') parts.push(this.editSection(msg));
    this.root.replaceChildren(...parts.filter(Boolean));
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
          : t('insp.param', { id: msg.id, j: msg.index[0] + 1 });
    h.textContent = `${t('insp.title')}: ${desc}`;
    this.root.setAttribute('aria-labelledby', h.id);
    const close = document.createElement('button');
    close.type = 'button';
    close.className = 'icon-btn bpl-insp-close';
    close.textContent = '×';
    close.setAttribute('aria-label', t('insp.close'));
    close.addEventListener('click', () => this.opts.onClose && this.opts.onClose());
    head.append(h, close);
    const meta = document.createElement('p');
    meta.className = 'bpl-insp-meta';
    const where = msg.mode === 'sample'
      ? t('insp.sample', { split: t(`insp.split.${msg.sample.split}`), index: msg.sample.index })
      : t('insp.batch', { B: msg.batch_size });
    meta.textContent = msg.mode === 'batch' && !msg.batch_size
      ? t('insp.notYet')
      : `${where} · ${t('chart.iteration')} ${msg.iteration} · ${t('insp.value')} ${fmt(Number(msg.value))}`;
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
    s.append(h, ...children);
    return s;
  }

  /** For a unit: z = Σᵢ aᵢ wᵢⱼ + b and a = f(z) with the numbers (one sample's); over a
   * batch, the means of z and of a = f(z) — not f of the mean z — with each sample's own
   * z and a in the chain rule's table. */
  forwardSection(msg) {
    const l = msg.layer; const j = msg.index[0] + 1;
    const f = msg.forward || {};
    if (msg.mode === 'batch') {
      const mean = () => m('mrow', m('munder', mi('mean'), mi('b')), gap());
      const e1 = m('math');
      e1.setAttribute('display', 'block');
      e1.append(mean(), sym('z', l, [j]), mo('='), num(f.z));
      const e2 = m('math');
      e2.setAttribute('display', 'block');
      e2.append(mean(), mi(msg.activation || 'f'), mo('('), sym('z', l, [j]), mo(')'), mo('='), num(f.a));
      for (const e of [e1, e2]) e.dataset.phase = 'forward';
      const note = document.createElement('p');
      note.className = 'bpl-insp-note';
      note.textContent = this.t('insp.meanNote', { f: msg.activation || 'f' });
      return this.section('insp.forward', e1, e2, note);
    }
    const eq1 = m('math');
    eq1.setAttribute('display', 'block');
    eq1.append(sym('z', l, [j]), mo('='), m('munder', mo('∑'), mi('i')), sym('a', l - 1, ['i']), mo('·'), sym('w', l, ['i', j]), mo('+'), sym('b', l, [j]),
      mo('='), num(f.z));
    const eq2 = m('math');
    eq2.setAttribute('display', 'block');
    eq2.append(sym('a', l, [j]), mo('='), mi(msg.activation || 'f'), mo('('), sym('z', l, [j]), mo(')'), mo('='), num(f.a));
    for (const e of [eq1, eq2]) e.dataset.phase = 'forward';
    return this.section('insp.forward', eq1, eq2);
  }

  chainSection(msg) {
    const ctx = { ...shownIndex(msg), loss: msg.mode !== 'sample' };
    const unitSum = msg.kind === 'unit' && msg.mode === 'batch'; // Σ_b ∂L/∂z_b (= ∂L/∂b)
    const lhs = msg.kind === 'unit'
      ? m('mrow', ...(unitSum ? [m('munder', mo('∑'), mi('b'))] : []), partial(mi(ctx.loss ? 'L' : 'ℓ'), sym('z', msg.layer, [ctx.j])))
      : partial(mi(ctx.loss ? 'L' : 'ℓ'), targetSymbol(msg));
    const symbolic = m('math');
    symbolic.setAttribute('display', 'block');
    symbolic.append(lhs, mo('='));
    const numeric = m('math');
    numeric.setAttribute('display', 'block');
    numeric.dataset.field = 'chain-numbers';
    numeric.append(mo('='));
    const factors = msg.factors || [];
    if (msg.mode === 'batch' && factors.length) {
      symbolic.append(m('munder', mo('∑'), mi('b')));
    }
    factors.forEach((f, k) => {
      if (k) { symbolic.append(mo('·')); numeric.append(mo('×')); }
      const s = m('mrow', factorSymbol(f.key, ctx));
      s.dataset.phase = f.phase;
      s.classList.add('bpl-factor');
      symbolic.append(s);
      const v = m('mrow', f.value === null || f.value === undefined ? mi('…') : num(f.value));
      v.dataset.phase = f.phase;
      v.dataset.factor = f.key;
      v.classList.add('bpl-factor');
      numeric.append(v);
    });
    if (msg.reg) { symbolic.append(mo('+'), mi('λ')); numeric.append(mo('+'), num(msg.reg)); }
    const result = m('mrow', mo('='), msg.grad === null || msg.grad === undefined ? mi('…') : num(msg.grad, 6));
    result.dataset.phase = 'backward';
    result.dataset.field = 'grad';
    result.classList.add('bpl-factor');
    numeric.append(result);
    const children = [symbolic];
    if (msg.mode === 'batch') {
      if (factors.length) children.push(this.batchTable(msg));
      const total = m('math');
      total.setAttribute('display', 'block');
      total.append(lhs.cloneNode(true), result.cloneNode(true));
      total.lastChild.dataset.phase = 'backward';
      children.push(total);
      if (unitSum && msg.grad !== null && msg.grad !== undefined && msg.batch_size) {
        // the tooltip's δ is the batch mean: the same sum over B
        const mean = m('math');
        mean.setAttribute('display', 'block');
        mean.append(m('munder', mi('mean'), mi('b')), gap(), sym('δ', msg.layer, [ctx.j]), mo('='),
          num(msg.grad / msg.batch_size, 6));
        mean.dataset.phase = 'backward';
        children.push(mean);
      }
    } else {
      children.push(numeric);
    }
    return this.section('insp.chain', ...children);
  }

  /** Batch mode: one row per sample (the first few), the factors and their product. */
  batchTable(msg) {
    const t = this.t;
    const table = document.createElement('table');
    table.className = 'bpl-insp-table';
    const cap = document.createElement('caption');
    cap.textContent = t('insp.rows', { shown: (msg.rows || []).length, B: msg.batch_size });
    const head = document.createElement('tr');
    const unit = msg.kind === 'unit' && (msg.rows || []).some((r) => r.z !== undefined);
    const cols = ['b', ...(unit ? ['z', 'a'] : []), ...(msg.factors || []).map((f) => f.key), 'product'];
    for (const c of cols) {
      const th = document.createElement('th');
      th.scope = 'col';
      if (c === 'b' || c === 'product') th.textContent = t(`insp.col.${c}`);
      else if (c === 'z' || c === 'a') {
        const mm = m('math');
        const { j } = shownIndex(msg);
        mm.append(sym(c, msg.layer, [j]));
        if (c === 'a') mm.append(mo('='), mi(msg.activation || 'f'), mo('('), sym('z', msg.layer, [j]), mo(')'));
        th.append(mm);
      } else {
        const mm = m('math');
        mm.append(factorSymbol(c, { ...shownIndex(msg), loss: true }));
        th.append(mm);
      }
      head.append(th);
    }
    table.append(cap, head);
    for (const r of msg.rows || []) {
      const tr = document.createElement('tr');
      const cells = [String(r.sample), ...(unit ? [fmt(Number(r.z)), fmt(Number(r.a))] : []),
        ...r.factors.map((v) => fmt(Number(v))), fmt(Number(r.product), 6)];
      for (const c of cells) {
        const td = document.createElement('td');
        td.textContent = c;
        tr.append(td);
      }
      table.append(tr);
    }
    return table;
  }

  /** ∂L/∂a⁽ˡ⁾ back to the loss: the sum over the next layer, then δ of each later layer. */
  pathSection(msg) {
    const t = this.t;
    const list = document.createElement('div');
    list.className = 'bpl-insp-path';
    const sm = msg.sum;
    if (sm) {
      const { j } = shownIndex(msg);
      const e = m('math');
      e.setAttribute('display', 'block');
      e.dataset.phase = 'backward';
      e.dataset.field = 'sum';
      e.append(partial(mi('ℓ'), sym('a', msg.layer, [j])), mo('='),
        m('munder', mo('∑'), mi('k')), sym('w', sm.layer, [j, 'k']), sym('δ', sm.layer, ['k']), mo('='));
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
      const e = m('math');
      e.setAttribute('display', 'block');
      e.dataset.phase = step.phase || 'backward';
      const label = step.kind === 'dy' ? partial(mi('L'), mi('y')) : sym('δ', step.layer, null);
      e.append(label, mo('='), mo('['), ...step.values.slice(0, 8).flatMap((v, k) => (k ? [mo(','), num(v)] : [num(v)])),
        step.values.length > 8 ? mo('…') : null, mo(']'));
      list.append(e);
    }
    const note = document.createElement('p');
    note.className = 'bpl-insp-note';
    note.textContent = t(msg.mode === 'sample' ? 'insp.pathNoteSample' : 'insp.pathNote');
    return this.section('insp.path', note, list);
  }

  checkSection(msg) {
    const t = this.t;
    const c = msg.check;
    const p = document.createElement('p');
    p.className = 'bpl-insp-check';
    p.dataset.field = 'check';
    const ok = Number(c.rel_error) < 1e-4;
    p.textContent = t('insp.checkLine', { bp: fmt(Number(c.backprop), 8), fd: fmt(Number(c.numeric), 8), err: Number(c.rel_error).toExponential(1) })
      + (ok ? ` ✓ ${t('insp.agree')}` : ` ✗ ${t('insp.disagree')}`);
    const note = document.createElement('p');
    note.className = 'bpl-insp-note';
    note.textContent = t('insp.checkNote', { h: Number(c.h).toExponential(0) });
    return this.section('insp.check', p, note);
  }

  updateSection(msg) {
    const t = this.t;
    const u = msg.update;
    if (!u) {
      const p = document.createElement('p');
      p.className = 'bpl-insp-note';
      p.textContent = t('insp.noUpdate');
      return this.section('insp.update', p);
    }
    const sy = targetSymbol(msg);
    const e = m('math');
    e.setAttribute('display', 'block');
    e.dataset.phase = 'update';
    e.dataset.field = 'update';
    const g = mi('g');
    const rule = [];
    const st = u.state || {};
    const eta = mi('η');
    if (u.optimizer === 'adam' || u.optimizer === 'adamw') {
      rule.push(m('math', mi('m'), mo('='), num(st.exp_avg)), m('math', mi('v'), mo('='), num(st.exp_avg_sq, 6)));
      e.append(sy, mo('←'), sy.cloneNode(true), mo('−'), eta, mo('·'), m('mfrac', m('mover', mi('m'), mo('^')), m('mrow', m('msqrt', m('mover', mi('v'), mo('^'))), mo('+'), mi('ε'))));
    } else if ('momentum_buffer' in st) {
      rule.push(m('math', mi('v'), mo('='), num(st.momentum_buffer)));
      e.append(sy, mo('←'), sy.cloneNode(true), mo('−'), eta, mo('·'), mi('v'));
    } else if ('square_avg' in st || 'sum' in st) {
      const k = 'square_avg' in st ? 'square_avg' : 'sum';
      rule.push(m('math', mi(k === 'sum' ? 's' : 'v'), mo('='), num(st[k], 6)));
      e.append(sy, mo('←'), sy.cloneNode(true), mo('−'), eta, mo('·'), m('mfrac', g, m('mrow', m('msqrt', mi(k === 'sum' ? 's' : 'v')), mo('+'), mi('ε'))));
    } else {
      e.append(sy, mo('←'), sy.cloneNode(true), mo('−'), eta, mo('·'), g);
    }
    const nums = m('math');
    nums.setAttribute('display', 'block');
    nums.dataset.phase = 'update';
    nums.append(num(u.prev, 6), mo('+'), m('mrow', mo('('), num(u.step, 6), mo(')')), mo('='), num(u.new, 6));
    const lr = m('math');
    lr.append(mi('η'), mo('='), num(u.lr, 6));
    const extra = document.createElement('p');
    extra.className = 'bpl-insp-state';
    extra.append(lr, ...rule.flatMap((r) => [document.createTextNode('  '), r]));
    const name = document.createElement('p');
    name.className = 'bpl-insp-note';
    name.textContent = t('insp.optimizer', { name: u.optimizer, it: u.iteration });
    return this.section('insp.update', name, e, nums, extra);
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
    const note = document.createElement('p');
    note.id = 'bpl-insp-edit-note';
    note.className = 'bpl-insp-note';
    note.textContent = t('insp.editNote');
    const status = document.createElement('p');
    status.className = 'bpl-insp-edited';
    status.setAttribute('role', 'status');
    status.dataset.field = 'edited';
    const e = this.lastEdit;
    if (e && e.id === msg.id && String(e.index) === String(msg.index)) {
      status.textContent = e.applied
        ? t('insp.edited', { old: fmt(Number(e.old)), value: fmt(Number(e.value)), train: fmt(Number(e.train_loss)), test: fmt(Number(e.test_loss)) })
        : t('insp.pending');
    }
    form.append(label, btn, note, status);
    form.addEventListener('submit', (e) => {
      e.preventDefault();
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
