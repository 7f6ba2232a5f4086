/**
 * MathML for the inspector: tokens, symbols with layer and unit indices, partial
 * derivatives, numbers, and the symbol of each chain-rule factor the engine names
 * (engine/chain.py lists the keys). Layout only: every number comes from the
 * server's `inspect` message.
 */

import { fmt } from '../format.js';

const MATHML = 'http://www.w3.org/1998/Math/MathML';

/** Create a MathML element with children (strings become text). */
export function m(tag, ...children) {
  const el = document.createElementNS(MATHML, tag);
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c);
  return el;
}

/** An identifier. */
export const mi = (s) => m('mi', s);
/** An operator. */
export const mo = (s) => m('mo', s);
/** A number token (as given). */
export const mn = (s) => m('mn', s);

/** A thin space (between "mean" and what it averages). */
export function gap() {
  const e = m('mspace');
  e.setAttribute('width', '0.25em');
  return e;
}

/** A block `<math>` of `children`. */
export function block(...children) {
  const e = m('math', ...children);
  e.setAttribute('display', 'block');
  return e;
}

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

/** A number as MathML (true minus sign, NaN/∞ spelled out; null as "…", not computed yet). */
export function num(v, digits = 4) {
  if (v === null || v === undefined) return mi('…');
  return mn(fmt(typeof v === 'string' ? Number(v) : v, digits));
}

/** 1/B as a fraction. */
export function oneOver(B) {
  return m('mfrac', mn('1'), typeof B === 'number' ? mn(String(B)) : mi(B));
}

/** Σ over the batch's samples b. */
export const sumB = () => m('munder', mo('∑'), mi('b'));

/** √(σ² + ε) */
export function rootVar(sub) {
  return m('msqrt', m('msup', sym('σ', null, sub), mn('2')), mo('+'), mi('ε'));
}

/**
 * The symbol of a factor, by the key the engine gives it. `ctx`: `l`, `i`, `j`
 * (1-based, as the page counts units), `L` the loss symbol ('ℓ' for one sample's
 * loss, 'L' for the batch's).
 */
export function factorSymbol(key, ctx) {
  const { l, i, j } = ctx;
  const L = mi(ctx.L || 'ℓ');
  const zn = (jj) => sym('z̃', l, [jj]);
  switch (key) {
    case 'dL_da': return partial(L, sym('a', l, [j]));
    case 'dL_dy': return partial(L, sym('y', null, [j]));
    case 'y_minus_t': return m('mrow', sym('y', null, [j]), mo('−'), sym('t', null, [j]));
    case 'da_dz': return partial(sym(ctx.output ? 'y' : 'a', ctx.output ? null : l, [j]), sym('z', l, [j]));
    case 'mask': return m('mfrac', sym('m', l, [j]), m('mrow', mn('1'), mo('−'), mi('p')));
    case 'da_dzn': return partial(sym('a', l, [j]), zn(j));
    case 'dzn_dz': return partial(zn(j), sym('z', l, [j]));
    case 'dL_dz': return partial(L, sym('z', l, [j]));
    case 'dz_dw': return partial(sym('z', l, [j]), sym('w', l, [i, j]));
    case 'dz_db': return partial(sym('z', l, [j]), sym('b', l, [j]));
    case 'dzn_dgamma': return partial(zn(j), sym('γ', l, [j]));
    case 'dzn_dbeta': return partial(zn(j), sym('β', l, [j]));
    default: return mi(key);
  }
}

/** What a factor equals, where a short formula says it (shown under the table's header). */
export function factorMeaning(key, ctx) {
  const { l, i, j } = ctx;
  switch (key) {
    case 'dL_dy': case 'y_minus_t': return m('mrow', sym('y', null, [j]), mo('−'), sym('t', null, [j]));
    case 'dL_dz': return ctx.output ? m('mrow', sym('y', null, [j]), mo('−'), sym('t', null, [j])) : null;
    case 'da_dz': return m('mrow', mi('f'), mo('′'), mo('('), sym('z', l, [j]), mo(')'));
    case 'da_dzn': return m('mrow', mi('f'), mo('′'), mo('('), sym('z̃', l, [j]), mo(')'));
    case 'dzn_dz': return m('mfrac', sym('γ', l, [j]), rootVar(null));
    case 'dz_dw': return sym('a', l - 1, [i]);
    case 'dz_db': case 'dzn_dbeta': return mn('1');
    case 'dzn_dgamma': return sym('û', l, [j]);
    default: return null;
  }
}
