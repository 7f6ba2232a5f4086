/**
 * What every gradient would cost by finite differences against one backward pass,
 * shown under the inspector's finite-difference check: the `inspect` message's
 * `cost` (engine/gradcost.py: P parameters, F multiply-adds a forward pass of
 * the batch, 2·P·F numerically against 2F for the backward pass). The page only
 * writes the engine's numbers out.
 */

import { h } from '../dom.js';

/** An integer count with thousands separators ("1,234,567"). */
export function count(v) {
  return Number.isFinite(Number(v)) ? Number(v).toLocaleString('en-US', { maximumFractionDigits: 1 }) : '—';
}

/**
 * The cost paragraphs for the inspector, or null without a cost.
 * @param {{params: number, batch: number, forward_total: number, backward_total: number,
 *   numeric_passes: number, numeric_total: number, ratio: number}|null} cost
 * @param {(key: string, params?: object) => string} t
 * @returns {HTMLElement|null}
 */
export function costBlock(cost, t) {
  if (!cost) return null;
  const p = count(cost.params);
  const line = (cls, field, text) => h('p', { class: cls, dataset: { field } }, text);
  return h('div', { class: 'bpl-insp-cost', dataset: { field: 'cost' } },
    h('strong', {}, t('cost.title')),
    line('cost-numeric', 'cost-numeric', t('cost.numeric', {
      p, passes: count(cost.numeric_passes), f: count(cost.forward_total), num: count(cost.numeric_total),
    })),
    line('cost-backprop', 'cost-backprop', t('cost.backprop', { p, f: count(cost.forward_total), back: count(cost.backward_total) })),
    line('cost-ratio', 'cost-ratio', t('cost.ratio', { ratio: count(cost.ratio) })),
    line('bpl-insp-note', 'cost-note', t('cost.note', { b: count(cost.batch) })));
}
