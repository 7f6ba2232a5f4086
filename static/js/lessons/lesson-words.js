/**
 * The words a lesson step needs beyond its own text: what the learner is to do
 * (from the step's `action`), which phase computes a value a check is still
 * waiting for (`missing`), and a revealed value written out. Pure functions
 * of their arguments and an i18n translator; no DOM.
 */

import { sig } from '../format.js';

/** Which phase of an iteration records an id (engine/records.py's table). */
const PHASE_OF = [
  [/^loss\.|^y$/, 'loss'],
  [/\.(delta|dW|db|gnorm|dfz|dgamma|dbeta|da)$/, 'backward'],
  [/^lr$|^clip\.|\.(prev|step)$|_norm$|^L\d+\.(W|b|gamma|beta)\.\w+$/, 'update'],
  [/^x$|^t$|^batch$|\.(z|zn|a|mask|mu|sigma|dropped|dead|saturated)$/, 'forward'],
];

/**
 * The phase that computes `id` (an id a check named as `missing`), or null.
 * @param {string} id e.g. "L1.dW", "loss.data", "L2.W.exp_avg"
 * @returns {'forward'|'loss'|'backward'|'update'|null}
 */
export function phaseOf(id) {
  for (const [re, phase] of PHASE_OF) if (re.test(id || '')) return phase;
  return null;
}

/** `id` and `index` as the learner reads them: L1.W[0, 0]. */
export function elementName(id, index) {
  return index && index.length ? `${id}[${index.join(', ')}]` : String(id);
}

/** The numbers the page's Numbers panel names (views/stats-view.js): a goal reads in its words. */
const NAMED = Object.freeze(['iteration', 'epoch', 'batch_loss', 'train_loss', 'test_loss', 'train_acc', 'test_acc']);

/**
 * A play's `until` as the learner reads it: the Numbers panel's names for the numbers
 * it compares, ≥ and ≤ ("iteration >= 200" → "Iteration ≥ 200"; "反復 ≥ 200").
 * @param {{t: (key: string, params?: object) => string}} i18n
 * @param {string} until the step's expression (docs/lessons.md, Expressions)
 */
export function untilWords(i18n, until) {
  return until.replace(/>=/g, '≥').replace(/<=/g, '≤')
    .replace(/\b[a-z_]+\b/g, (name) => (NAMED.includes(name) ? i18n.t(`stat.${name}`) : name));
}

/**
 * What the step's `action` asks, in the reader's language.
 * @param {{t: (key: string, params?: object) => string}} i18n
 * @param {{do: string, unit?: string, count?: number, speed?: number, until?: string,
 *   set?: object, id?: string, index?: number[], value?: number}} action
 * @returns {string}
 */
export function actionWords(i18n, action) {
  const a = action || { do: 'read' };
  const count = a.count || 1;
  switch (a.do) {
    case 'step': {
      const unit = a.unit === 'iteration' ? 'iteration' : 'phase';
      return i18n.t(count > 1 ? `lesson.do.${unit}.n` : `lesson.do.${unit}`, { n: count });
    }
    case 'play':
      return i18n.t(a.until ? 'lesson.do.playUntil' : 'lesson.do.play', { until: a.until ? untilWords(i18n, a.until) : '', speed: a.speed || '' });
    case 'set':
      return i18n.t('lesson.do.set', { what: Object.entries(a.set || {}).map(([k, v]) => `${k} = ${JSON.stringify(v)}`).join(', ') });
    case 'edit':
      return i18n.t('lesson.do.edit', { id: elementName(a.id, a.index), value: a.value });
    case 'inspect': {
      // a weight by the inspector's own name for it (its title): w[i,j] counted from 1
      const layer = /^L(\d+)\.W$/.exec(a.id || '');
      if (layer && a.index && a.index.length === 2) {
        return i18n.t('lesson.do.inspectWeight', { l: Number(layer[1]), i: a.index[0] + 1, j: a.index[1] + 1 });
      }
      return i18n.t('lesson.do.inspect', { id: elementName(a.id, a.index) });
    }
    case 'learn':
      return i18n.t('lesson.do.learn', { k: a.label });
    case 'csv':
      return i18n.t('lesson.do.csv');
    default:
      return i18n.t('lesson.do.read');
  }
}

/**
 * A revealed value: a number to 4 significant digits, nested lists in brackets,
 * null as "—" (not computed yet).
 * @param {number|Array|null} v
 * @returns {string}
 */
export function valueText(v) {
  if (v === null || v === undefined) return '—';
  if (Array.isArray(v)) {
    // a column of one-element rows (B, 1) reads as a plain list
    const flat = v.every((r) => Array.isArray(r) && r.length === 1) ? v.map((r) => r[0]) : v;
    // one notation for the whole list: a layer's 0.0123 beside another's 1.23e−5 read as
    // two kinds of number
    const exp = flat.some((x) => typeof x === 'number' && Number.isFinite(x) && x !== 0
      && (Math.abs(x) < 1e-3 || Math.abs(x) >= 1e5));
    const items = flat.slice(0, 12).map((x) => (typeof x === 'number' ? sig(x, 4, exp) : valueText(x)));
    return `[${items.join(', ')}${flat.length > 12 ? ', …' : ''}]`;
  }
  return typeof v === 'number' ? sig(v, 4) : String(v);
}
