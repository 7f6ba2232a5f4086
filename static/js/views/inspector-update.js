/**
 * The inspector's "Update" part: the rule the optimizer applied, the gradient it
 * received (clipping said in words, with its factor or clamp; when the run never
 * resets its gradients — lesson 16's switch — this iteration's gradient g, the sum
 * Σg that p.grad holds and the optimizer works on, and why they differ), its state under
 * the names the engine's update record carries (labelled through i18n keys
 * `insp.state.<name>`, so a renamed state needs only its label), the rate and
 * settings, and prev + step = new — everything needed to redo the step by hand.
 * Data: the `update` part of an `inspect` message (engine/chain.py's
 * explain_update); no maths here.
 */

import { fmt } from '../format.js';
import { recordIteration } from '../counting.js';
import { block, m, mi, mo, num, partial } from './inspector-math.js';

function p(cls, text) {
  const e = document.createElement('p');
  e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** A label for a state or setting: its i18n text, else its own name. */
function label(t, key, name) {
  try {
    return t(key);
  } catch {
    return name;
  }
}

/**
 * The children of the update section for `msg` (an `inspect` message of a
 * parameter). `t` translates; `target` is the parameter's MathML symbol.
 */
export function updateParts(msg, t, target) {
  const u = msg.update;
  if (!u) return [p('bpl-insp-note', t('insp.noUpdate'))];
  const parts = [p('bpl-insp-note', t('insp.optimizer', { name: label(t, `opt.${u.optimizer}`, u.optimizer), it: recordIteration(u.iteration) }))];
  const rule = document.createElement('div');
  rule.className = 'bpl-insp-rule';
  rule.dataset.field = 'rule';
  rule.dataset.phase = 'update';
  for (const line of u.rule || []) rule.append(p('bpl-insp-rule-line', line));
  parts.push(rule);

  // the gradient: from backward, then (gradients never reset) the sum p.grad holds,
  // then what clipping made of it
  const dL = partial(mi('L'), target.cloneNode(true));
  const c = u.clip;
  const summed = u.grad_sum !== null && u.grad_sum !== undefined;
  const sumSymbol = () => mi((u.symbols && u.symbols.grad_sum) || 'Σg');
  if (summed) {
    const grad = block(dL, mo('='), num(u.grad, 6));
    grad.dataset.field = 'update-grad';
    const sum = block(sumSymbol(), mo('='), num(u.grad_sum, 6));
    sum.dataset.field = 'grad-sum';
    sum.dataset.phase = 'update';
    parts.push(grad, p('bpl-insp-note', t('insp.gradThis')), sum, p('bpl-insp-note bpl-insp-accumulated', t('insp.gradSum')));
  }
  // the value clipping acted on: the sum when gradients accumulate
  const before = summed ? u.grad_sum : u.grad;
  if (c) {
    const lines = [];
    if (c.value !== null && c.value !== undefined) {
      const changed = c.after_value !== null && c.after_value !== before;
      lines.push(t(changed ? 'insp.clip.value' : 'insp.clip.valueNot', {
        c: fmt(c.value, 6), g: fmt(before, 6), v: fmt(c.after_value, 6),
      }));
    }
    if (c.total_norm !== null && c.total_norm !== undefined) {
      lines.push(t(c.factor < 1 ? 'insp.clip.norm' : 'insp.clip.normNot', {
        total: fmt(c.total_norm, 6), max: fmt(c.max_norm, 6), factor: fmt(c.factor, 6),
      }));
    }
    const note = p('bpl-insp-clip', lines.join(' '));
    note.dataset.field = 'clip';
    if (!summed) {
      const grad = block(dL, mo('='), num(u.grad, 6));
      grad.dataset.field = 'update-grad';
      parts.push(grad);
    }
    parts.push(note);
  }
  // what the optimizer received: ∂L/∂θ itself, the sum, or either once clipped
  const same = summed ? (c ? [] : [sumSymbol(), mo('=')]) : (c ? [] : [dL.cloneNode(true), mo('=')]);
  const used = block(mi('g'), mo('='), ...same, num(u.grad_used, 6));
  used.dataset.field = 'grad-used';
  used.dataset.phase = 'update';
  const clipped = c && c.clipped;
  const usedNote = summed ? (clipped ? 'insp.gradSumClipped' : 'insp.gradSumAsIs') : (clipped ? 'insp.gradClipped' : 'insp.gradAsIs');
  parts.push(used, p('bpl-insp-note', t(usedNote)));

  // the optimizer's state, after this step, under its own names
  const names = Object.keys(u.state || {});
  if (names.length) {
    const list = document.createElement('ul');
    list.className = 'bpl-insp-statelist';
    list.dataset.field = 'state';
    for (const name of names) {
      const li = document.createElement('li');
      li.dataset.state = name;
      const symbol = (u.symbols || {})[name] || name;
      li.append(m('math', mi(symbol), mo('='), num(u.state[name], 6)), ` ${label(t, `insp.state.${name}`, name)}`);
      list.append(li);
    }
    parts.push(p('bpl-insp-note', t('insp.stateAfter')), list);
  }
  const settings = p('bpl-insp-state');
  settings.append(m('math', mi('η'), mo('='), num(u.lr, 6)));
  for (const [k, v] of Object.entries(u.hyper || {})) {
    if (v === 0 || v === false) continue; // an option not in use adds nothing to the rule
    const s = document.createElement('span');
    s.textContent = `${label(t, `adv.optimizer.${k}`, k)} = ${typeof v === 'boolean' ? v : fmt(v, 6)}`;
    settings.append(s);
  }
  parts.push(settings);

  const nums = block(num(u.prev, 6), mo('+'), m('mrow', mo('('), num(u.step, 6), mo(')')), mo('='), num(u.new, 6));
  nums.dataset.phase = 'update';
  nums.dataset.field = 'update';
  const lhs = block(target.cloneNode(true), mo('←'), target.cloneNode(true), mo('+'), m('mrow', mo('Δ'), target.cloneNode(true)));
  lhs.dataset.phase = 'update';
  parts.push(lhs, nums);
  return parts;
}
